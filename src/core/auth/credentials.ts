import type { IncomingHttpHeaders } from 'node:http';

/**
 * The query parameter that may carry a credential (docs/api-contracts.md "Credentials"): browsers
 * cannot set headers on a WebSocket. Names are compared after decoding, as URLSearchParams and
 * Socket.IO hand them over, so `access%5Ftoken` is this parameter too.
 */
export const CREDENTIAL_QUERY_PARAM = 'access_token';

/**
 * Whether a query parameter, by its decoded name, carries a credential Herald accepts. The
 * extractor below takes credentials only from such parameters, and the log redactor hides
 * every one of them (and a few more that look like secrets), so the two cannot drift apart.
 */
export function isCredentialQueryParam(decodedName: string): boolean {
  return decodedName === CREDENTIAL_QUERY_PARAM;
}

/**
 * Pulls the credential out of a request: `Authorization: Bearer`, `X-Api-Key`, or — only for
 * WebSocket upgrades and socket handshakes, where browsers cannot set headers — `access_token`.
 */
export function extractCredential(
  headers: IncomingHttpHeaders,
  query?: URLSearchParams | Record<string, unknown>,
  allowQueryToken = false,
): string | undefined {
  const authorization = headers.authorization;
  if (typeof authorization === 'string') {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    if (match) return match[1];
  }
  const apiKey = headers['x-api-key'];
  if (typeof apiKey === 'string' && apiKey.trim()) return apiKey.trim();
  if (allowQueryToken && query) {
    const entries = query instanceof URLSearchParams ? query.entries() : Object.entries(query);
    for (const [name, value] of entries) {
      if (!isCredentialQueryParam(name)) continue;
      return typeof value === 'string' && value.trim() ? value.trim() : undefined;
    }
  }
  return undefined;
}

/** A compact JWS (`header.payload.signature`) rather than a Herald API key. */
export function looksLikeJwt(token: string): boolean {
  return /^eyJ[\w-]*\.[\w-]+\.[\w-]+$/.test(token);
}
