import { parseClientFrame } from './ws-frames';

describe('parseClientFrame', () => {
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
    ['{"action":"explode"}', { error: 'unknown_action' }],
    [null, { error: 'bad_frame' }],
  ])('%s', (text, expected) => {
    expect(parseClientFrame(text)).toMatchObject(expected);
  });
});
