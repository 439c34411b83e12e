import type { ClientAction, FrameError } from '../../core/gateway/client-frames';

/** What a seed 001 client may send besides ping (which the raw WebSocket server answers). */
export const SUBSCRIBER_ACTIONS = ['subscribe', 'unsubscribe'] as const;

export interface SubscriptionFrame {
  action: (typeof SUBSCRIBER_ACTIONS)[number];
  event_types: string[];
}

/** Checks a `subscribe` / `unsubscribe` frame's `event_types`; never throws. */
export function parseSubscriptionFrame({ action, body }: ClientAction): SubscriptionFrame | FrameError {
  const { event_types } = body;
  if (action !== 'subscribe' && action !== 'unsubscribe')
    return { error: 'unknown_action', message: `Unknown action ${JSON.stringify(action)}` };
  if (!Array.isArray(event_types) || !event_types.every((t) => typeof t === 'string'))
    return { error: 'bad_frame', message: `"${action}" needs "event_types": a list of event type names` };
  return { action, event_types: event_types as string[] };
}
