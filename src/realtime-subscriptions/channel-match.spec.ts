import type { StoredEvent } from '../core/event-log/event.types';
import { channelFilter, channelMatches, type ChannelMatch } from './channel-match';

const event = (over: Partial<StoredEvent>): StoredEvent => ({
  seq: 1,
  id: 'e',
  type: 'claim_approved',
  version: '1',
  organisation_id: 'org_1',
  user_id: 'usr_1',
  claim_id: 'clm_1',
  channel_id: null,
  data: {},
  occurred_at: '',
  received_at: '',
  ...over,
});

const org: ChannelMatch = {
  subscription_type: 'organisation_claims',
  organisation_id: 'org_1',
  user_id: 'usr_coord',
  event_types: [],
};
const user: ChannelMatch = {
  subscription_type: 'user_claims',
  organisation_id: 'org_1',
  user_id: 'usr_1',
  event_types: ['status_changed', 'comment_added'],
};

describe('channel matching', () => {
  it('an organisation channel takes every claim event of its organisation', () => {
    expect(channelMatches(org, event({}))).toBe(true);
    expect(channelMatches(org, event({ user_id: 'usr_2', type: 'comment_added' }))).toBe(true);
    expect(channelMatches(org, event({ organisation_id: 'org_2' }))).toBe(false);
    expect(channelMatches(org, event({ type: 'channel.follow' }))).toBe(false);
  });

  it('a user channel takes only its user’s events of its types', () => {
    expect(channelMatches(user, event({ type: 'status_changed' }))).toBe(true);
    expect(channelMatches(user, event({ type: 'claim_approved' }))).toBe(false);
    expect(channelMatches(user, event({ type: 'comment_added', user_id: 'usr_2' }))).toBe(false);
  });

  it('turns into the equivalent log filter', () => {
    expect(channelFilter(user)).toEqual({
      organisation_id: 'org_1',
      types: ['status_changed', 'comment_added'],
      user_id: 'usr_1',
    });
    expect(channelFilter(org)).toEqual({
      organisation_id: 'org_1',
      types: ['claim_submitted', 'claim_approved', 'claim_rejected', 'status_changed', 'comment_added'],
    });
  });
});
