import { CLAIM_EVENT_TYPES } from '../core/event-log/event-catalog';
import type { StoredEvent } from '../core/event-log/event.types';
import type { EventFilter } from '../core/event-log/event.types';

/** What decides whether an event reaches a channel. */
export interface ChannelMatch {
  subscription_type: 'organisation_claims' | 'user_claims';
  organisation_id: string;
  user_id: string | null;
  /** Empty means every claim event type. */
  event_types: string[];
}

export function channelTypes(channel: ChannelMatch): string[] {
  return channel.event_types.length ? channel.event_types : CLAIM_EVENT_TYPES;
}

/** Pure and cheap: runs for every live event against every attached channel on a node. */
export function channelMatches(channel: ChannelMatch, event: StoredEvent): boolean {
  if (event.organisation_id !== channel.organisation_id) return false;
  if (!channelTypes(channel).includes(event.type)) return false;
  if (channel.subscription_type === 'user_claims') return event.user_id === channel.user_id;
  return true;
}

/** The same rule as a log filter, for replay and counting missed events. */
export function channelFilter(channel: ChannelMatch): EventFilter {
  return {
    organisation_id: channel.organisation_id,
    types: channelTypes(channel),
    ...(channel.subscription_type === 'user_claims' ? { user_id: channel.user_id ?? '' } : {}),
  };
}
