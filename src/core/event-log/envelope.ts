import type { StoredEvent } from './event.types';

/**
 * The wire form of an event everywhere it leaves Herald (socket messages, webhook bodies):
 * CloudEvents 1.0 JSON attribute names plus extension attributes (docs/api-contracts.md "Wire formats").
 */
export interface EventEnvelope {
  specversion: '1.0';
  id: string;
  type: string;
  source: string;
  subject?: string;
  time: string;
  datacontenttype: 'application/json';
  data: Record<string, unknown>;
  /** The global seq, as a string (CloudEvents extension values are strings). */
  sequence: string;
  typeversion: string;
  organisationid: string;
  userid?: string;
  claimid?: string;
  channelid?: string;
}

export function subjectOf(event: Pick<StoredEvent, 'claim_id' | 'channel_id' | 'user_id'>): string | undefined {
  if (event.claim_id) return `claims/${event.claim_id}`;
  if (event.channel_id) return `channels/${event.channel_id}`;
  if (event.user_id) return `users/${event.user_id}`;
  return undefined;
}

export function toEnvelope(event: StoredEvent): EventEnvelope {
  return {
    specversion: '1.0',
    id: event.id,
    type: event.type,
    source: `/organisations/${event.organisation_id}`,
    ...(subjectOf(event) ? { subject: subjectOf(event) } : {}),
    time: event.occurred_at,
    datacontenttype: 'application/json',
    data: event.data,
    sequence: String(event.seq),
    typeversion: event.version,
    organisationid: event.organisation_id,
    ...(event.user_id ? { userid: event.user_id } : {}),
    ...(event.claim_id ? { claimid: event.claim_id } : {}),
    ...(event.channel_id ? { channelid: event.channel_id } : {}),
  };
}
