import type { StoredEvent } from '../../core/event-log/event.types';

/**
 * A session subscription is a Socket.IO room named by (organisation, type, version, condition),
 * so the subscriptions of a session are exactly its rooms of this form, wherever it lives, and
 * vanish with it.
 */
const PREFIX = 'sub:';

/**
 * A Socket.IO session id (`socket.id`, engine.io's base64id): 20 characters of the URL-safe
 * base64 alphabet. The id is also the name of the socket's own room, so anything else a client
 * sends as a `sessionId` (`org:…`, `sub:…`) would name some other room of the cluster.
 */
const SOCKET_SESSION_ID = /^[A-Za-z0-9_-]{20}$/;

export function isSocketSessionId(value: unknown): value is string {
  return typeof value === 'string' && SOCKET_SESSION_ID.test(value);
}

export interface SessionSubscription {
  type: string;
  version: string;
  condition: Record<string, string>;
}

function encodeCondition(condition: Record<string, string>): string {
  return Object.keys(condition)
    .sort()
    .map((k) => `${encodeURIComponent(k)}=${encodeURIComponent(condition[k])}`)
    .join('&');
}

export function sessionRoom(organisationId: string, sub: SessionSubscription): string {
  return `${PREFIX}${encodeURIComponent(organisationId)}:${encodeURIComponent(sub.type)}:${sub.version}:${encodeCondition(sub.condition)}`;
}

export function parseSessionRoom(room: string): SessionSubscription | undefined {
  if (!room.startsWith(PREFIX)) return undefined;
  const [, , type, version, condition = ''] = room.split(':');
  if (!type || !version) return undefined;
  const pairs = condition ? condition.split('&').map((p) => p.split('=').map(decodeURIComponent)) : [];
  return { type: decodeURIComponent(type), version, condition: Object.fromEntries(pairs) };
}

/** Where condition fields live on an event: the subject columns first, then `data`. */
const CONDITION_COLUMNS: Record<string, keyof StoredEvent> = {
  channelId: 'channel_id',
  userId: 'user_id',
  claimId: 'claim_id',
};

/** The one room an event reaches for its type, given the condition fields the catalog names. */
export function roomForEvent(event: StoredEvent, conditionFields: string[]): string | undefined {
  const condition: Record<string, string> = {};
  for (const field of conditionFields) {
    const column = CONDITION_COLUMNS[field];
    const value = column ? event[column] : event.data[field];
    if (typeof value !== 'string' && typeof value !== 'number') return undefined;
    condition[field] = String(value);
  }
  return sessionRoom(event.organisation_id, { type: event.type, version: event.version, condition });
}
