import type { StoredEvent } from '../../core/event-log/event.types';
import { isSocketSessionId, parseSessionRoom, roomForEvent, sessionRoom } from './session-rooms';

const follow: StoredEvent = {
  seq: 1,
  id: 'e',
  type: 'channel.follow',
  version: '1',
  organisation_id: 'org_1',
  user_id: 'usr_1',
  claim_id: null,
  channel_id: '9b7f3c2a-2f41',
  data: {},
  occurred_at: '',
  received_at: '',
};

describe('session rooms', () => {
  it('round-trips a subscription through its room name', () => {
    const sub = { type: 'channel.follow', version: '1', condition: { channelId: 'a:b&c=d' } };
    expect(parseSessionRoom(sessionRoom('org_1', sub))).toEqual(sub);
  });

  it('is independent of condition key order and separates organisations', () => {
    expect(sessionRoom('o', { type: 't', version: '1', condition: { a: '1', b: '2' } })).toBe(
      sessionRoom('o', { type: 't', version: '1', condition: { b: '2', a: '1' } }),
    );
    expect(sessionRoom('o1', { type: 't', version: '1', condition: {} })).not.toBe(
      sessionRoom('o2', { type: 't', version: '1', condition: {} }),
    );
  });

  it('routes an event to the room of its condition values', () => {
    expect(roomForEvent(follow, ['channelId'])).toBe(
      sessionRoom('org_1', { type: 'channel.follow', version: '1', condition: { channelId: '9b7f3c2a-2f41' } }),
    );
    expect(roomForEvent({ ...follow, channel_id: null }, ['channelId'])).toBeUndefined();
    expect(roomForEvent({ ...follow, data: { region: 'eu' } }, ['region'])).toContain('region=eu');
  });

  it('tells a Socket.IO socket id from a room name', () => {
    expect(isSocketSessionId('mO2rT1xq9bYk3LzA_7-c')).toBe(true);
    for (const id of [
      'org:org_1',
      sessionRoom('o', { type: 't', version: '1', condition: {} }),
      'mO2rT1xq9bYk3LzA_7-',
      'mO2rT1xq9bYk3LzA_7-cd',
      'mO2rT1xq9bYk3LzA_7+c',
      '',
      42,
    ]) {
      expect(isSocketSessionId(id)).toBe(false);
    }
  });

  it('ignores rooms that are not subscriptions', () => {
    expect(parseSessionRoom('org:org_1')).toBeUndefined();
  });
});
