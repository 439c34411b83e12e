import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import type { WebhookEndpoint, WebhookRequest } from './webhook.types';

export const USER_AGENT = 'Herald-Webhooks/1';

/** What every view and the delivery log show for the value of an extra header a subscription set: values are write-only. */
export const HEADER_VALUE_MASK = '********';

/**
 * Headers an endpoint's extra headers may not set: the signature and content headers (a receiver
 * must be able to trust them) and those the HTTP client owns.
 */
const RESERVED_HEADERS = new Set([
  'webhook-id',
  'webhook-timestamp',
  'webhook-signature',
  'content-type',
  'content-length',
  'user-agent',
  'host',
  'connection',
  'transfer-encoding',
  'keep-alive',
  'upgrade',
  'expect',
]);

/** A Standard Webhooks secret: `whsec_` + base64 of 24 random bytes. */
export function generateSecret(): string {
  return `whsec_${randomBytes(24).toString('base64')}`;
}

export function isReservedHeader(name: string): boolean {
  return RESERVED_HEADERS.has(name.toLowerCase());
}

/** What signing needs of an endpoint; callers without a rotation in progress pass no previous secret. */
export type SigningEndpoint = Pick<WebhookEndpoint, 'url' | 'secret' | 'headers'> &
  Partial<Pick<WebhookEndpoint, 'previous_secret' | 'previous_secret_until'>>;

/**
 * `webhook-signature`: `v1,<sig>` with the current secret and, while a rotation's overlap lasts,
 * ` v1,<sig>` with the previous one too. Standard Webhooks receivers accept a request when any of
 * the space-separated signatures verifies, so one holding either secret keeps verifying.
 */
export function signatureHeader(endpoint: SigningEndpoint, deliveryId: string, body: string, at: Date): string {
  const secrets = [endpoint.secret];
  const until = endpoint.previous_secret_until ? Date.parse(endpoint.previous_secret_until) : NaN;
  if (endpoint.previous_secret && until > at.getTime()) secrets.push(endpoint.previous_secret);
  return secrets.map((secret) => new Webhook(secret).sign(deliveryId, at, body)).join(' ');
}

/**
 * The request as it goes on the wire. `webhook-id` is the delivery id, the same on every retry
 * so receivers can drop duplicates; the timestamp is the moment of this attempt, because
 * receivers reject signatures older than a few minutes.
 */
export function signedRequest(endpoint: SigningEndpoint, deliveryId: string, body: string, at: Date): WebhookRequest {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(endpoint.headers ?? {})) {
    if (!isReservedHeader(name)) headers[name.toLowerCase()] = value;
  }
  headers['content-type'] = 'application/json';
  headers['user-agent'] = USER_AGENT;
  headers['webhook-id'] = deliveryId;
  headers['webhook-timestamp'] = String(Math.floor(at.getTime() / 1000));
  headers['webhook-signature'] = signatureHeader(endpoint, deliveryId, body, at);
  return { url: endpoint.url, method: 'POST', headers, body };
}
