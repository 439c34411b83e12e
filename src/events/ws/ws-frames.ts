import type { EventEnvelope } from '../../core/event-log/envelope';

/** Frames Herald sends on a raw WebSocket (JSON text). */
export type ServerFrame =
  | { type: 'welcome'; client_id: string; user_id: string | null; event_types: string[] }
  | { type: 'event'; event: EventEnvelope }
  | { type: 'subscriptions'; event_types: string[] }
  | { type: 'pong' }
  | { type: 'error'; code: string; message: string };

/** Frames a client may send. */
export type ClientFrame = { action: 'subscribe' | 'unsubscribe'; event_types: string[] } | { action: 'ping' };

export type FrameError = { error: 'bad_json' | 'bad_frame' | 'unknown_action'; message: string };

/** Parses one client text frame; never throws. `null` is a binary frame. */
export function parseClientFrame(text: string | null): ClientFrame | FrameError {
  if (text === null) return { error: 'bad_frame', message: 'Send JSON text frames, not binary' };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { error: 'bad_json', message: 'Frame is not valid JSON' };
  }
  if (!value || typeof value !== 'object' || Array.isArray(value))
    return { error: 'bad_frame', message: 'Frame must be a JSON object with an "action"' };
  const { action, event_types } = value as { action?: unknown; event_types?: unknown };
  if (action === 'ping') return { action };
  if (action === 'subscribe' || action === 'unsubscribe') {
    if (!Array.isArray(event_types) || !event_types.every((t) => typeof t === 'string')) {
      return { error: 'bad_frame', message: `"${action}" needs "event_types": a list of event type names` };
    }
    return { action, event_types: event_types as string[] };
  }
  return {
    error: 'unknown_action',
    message: `Unknown action ${JSON.stringify(action ?? null)}; use subscribe, unsubscribe or ping`,
  };
}
