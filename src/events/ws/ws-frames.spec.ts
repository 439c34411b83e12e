import { parseClientAction } from '../../core/gateway/client-frames';
import { parseSubscriptionFrame, SUBSCRIBER_ACTIONS } from './ws-frames';

/** A text frame as seed 001 reads it: the raw WebSocket server's parse, then the subscription check. */
function parse(text: string | null) {
  const frame = parseClientAction(text, SUBSCRIBER_ACTIONS);
  return 'error' in frame || frame.action === 'ping' ? frame : parseSubscriptionFrame(frame);
}

describe('seed 001 client frames', () => {
  it.each([
    ['{"action":"ping"}', { action: 'ping' }],
    [
      '{"action":"subscribe","event_types":["claim_approved"]}',
      { action: 'subscribe', event_types: ['claim_approved'] },
    ],
    ['{"action":"unsubscribe","event_types":[]}', { action: 'unsubscribe', event_types: [] }],
    ['not json', { error: 'bad_json' }],
    ['[1,2]', { error: 'bad_frame' }],
    ['{"action":"subscribe","event_types":"claim_approved"}', { error: 'bad_frame' }],
    ['{"action":"subscribe","event_types":[1]}', { error: 'bad_frame' }],
    [
      '{"action":"explode"}',
      { error: 'unknown_action', message: 'Unknown action "explode"; use subscribe, unsubscribe or ping' },
    ],
    [null, { error: 'bad_frame' }],
  ])('%s', (text, expected) => {
    expect(parse(text)).toMatchObject(expected);
  });
});
