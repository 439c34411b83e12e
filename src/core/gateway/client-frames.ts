/** The largest frame a raw WebSocket client may send; bigger ones get an error frame. */
export const MAX_CLIENT_FRAME_BYTES = 64 * 1024;
/** Past this a frame is not read at all: the connection is closed with 1009. */
export const HARD_FRAME_LIMIT_BYTES = 1024 * 1024;

/** Every raw WebSocket path accepts this; the server answers it with a pong. */
export const PING = 'ping';

/** A client frame that parsed: its action (one the path accepts) and the whole JSON object. */
export interface ClientAction {
  action: string;
  body: Record<string, unknown>;
}

export type FrameErrorCode = 'bad_json' | 'bad_frame' | 'unknown_action' | 'frame_too_large';

export interface FrameError {
  error: FrameErrorCode;
  message: string;
}

/**
 * Parses one raw WebSocket client frame, `{"action": …, …}` as JSON text, accepting `ping` and
 * the path's own `actions`; never throws. `null` is a binary frame.
 */
export function parseClientAction(text: string | null, actions: readonly string[]): ClientAction | FrameError {
  if (text === null) return { error: 'bad_frame', message: 'Send JSON text frames, not binary' };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { error: 'bad_json', message: 'Frame is not valid JSON' };
  }
  if (!value || typeof value !== 'object' || Array.isArray(value))
    return { error: 'bad_frame', message: 'Frame must be a JSON object with an "action"' };
  const body = value as Record<string, unknown>;
  const accepted = [...actions, PING];
  if (typeof body.action === 'string' && accepted.includes(body.action)) return { action: body.action, body };
  return {
    error: 'unknown_action',
    message: `Unknown action ${JSON.stringify(body.action ?? null)}; use ${listed(accepted)}`,
  };
}

/** `a`, `a or b`, `a, b or c`. */
function listed(words: string[]): string {
  return words.length > 1 ? `${words.slice(0, -1).join(', ')} or ${words[words.length - 1]}` : words[0];
}
