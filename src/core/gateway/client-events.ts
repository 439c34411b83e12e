import type { EventEnvelope } from '../event-log/envelope';

/**
 * What Herald emits to Socket.IO clients, by event name. Events are emitted under their own
 * type (`claim_approved`, `channel.follow`, …) with the envelope as payload; the other names
 * are fixed.
 */
export interface ClientEventMap {
  notification: Record<string, unknown>;
  /** Sent before a server-side disconnect so the client knows why. */
  closing: { reason: string; code?: string };
  [eventType: string]: EventEnvelope | Record<string, unknown>;
}

export type ClientEventName = keyof ClientEventMap & string;
