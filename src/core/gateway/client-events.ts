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
  /** First message on a channel namespace, before any replayed event (the realtime channels contract). */
  welcome: { channel_id: string; resume_after: number; from_seq: number | null; complete: boolean };
  [eventType: string]: EventEnvelope | Record<string, unknown>;
}

export type ClientEventName = keyof ClientEventMap & string;
