import type { EventEnvelope } from '../event-log/envelope';

/**
 * Everything Herald sends to clients, in one place (docs/api-contracts.md "Wire formats").
 *
 * An event goes out under its own type (`claim_approved`, `channel.follow`, …) with the envelope
 * as payload: `RealtimeService.emitEventToRooms` and `ClientConnection.sendEvent` send those. The
 * other Socket.IO event names are fixed and listed in `ClientEventMap`; nothing else is emitted.
 */

/** A workspace subscription test's copy of an event: not in the log, so no `sequence`, and marked `test`. */
export type TestEvent = Omit<EventEnvelope, 'sequence'> & { test: true };

/** An event as a client receives it. */
export type ClientEvent = EventEnvelope | TestEvent;

/** What an attaching channel client is told before any replayed event (the realtime channels contract). */
export interface ChannelWelcome {
  channel_id: string;
  /** The seq the replay starts after. */
  resume_after: number;
  /** The first seq the replay carries; null when there is nothing to replay. */
  from_seq: number | null;
  /** false: retention already pruned part of the range after `resume_after`. */
  complete: boolean;
}

/** The welcome of a raw WebSocket client of seed 001. */
export interface SubscriberWelcome {
  client_id: string;
  user_id: string | null;
  event_types: string[];
}

/**
 * The `code` of a `closing` notice: the socket's API key was revoked (do not reconnect with it),
 * or the node is shutting down (reconnect; any node will do).
 */
export type ClosingCode = 'credential_revoked' | 'server_shutdown';

/** The fixed Socket.IO event names Herald emits, with their payloads. */
export interface ClientEventMap {
  /** An approval notification, to its recipient's sockets. */
  notification: Record<string, unknown>;
  /** Sent before a server-side disconnect so the client knows why. */
  closing: { reason: string; code?: ClosingCode };
  /** First message on a channel namespace, before any replayed event. */
  welcome: ChannelWelcome;
}

export type ClientEventName = keyof ClientEventMap;

/**
 * What a connection is told besides events and its closing: its welcome, and on a raw
 * WebSocket the replies to client frames (Socket.IO clients send no frames of their own).
 */
export type Notice =
  | ({ type: 'welcome' } & (ChannelWelcome | SubscriberWelcome))
  | { type: 'subscriptions'; event_types: string[] }
  | { type: 'pong' }
  | { type: 'error'; code: string; message: string };

/** Frames Herald sends on a raw WebSocket (JSON text). */
export type RawServerFrame = Notice | { type: 'event'; event: EventEnvelope } | { type: 'closed'; reason: string };
