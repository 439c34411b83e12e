import type { IncomingHttpHeaders } from 'node:http';

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
    const value = query instanceof URLSearchParams ? query.get('access_token') : query['access_token'];
    if (typeof value === 'string' && value.trim()) return value.trim();
  }
  return undefined;
}

/** A compact JWS (`header.payload.signature`) rather than a Herald API key. */
export function looksLikeJwt(token: string): boolean {
  return /^eyJ[\w-]*\.[\w-]+\.[\w-]+$/.test(token);
}
