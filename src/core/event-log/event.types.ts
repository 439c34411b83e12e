/** An event as a producer hands it to the log. */
export interface NewEvent {
  /** Producer-supplied id: publishing the same id again is a no-op that returns the original. */
  id?: string;
  type: string;
  version: string;
  organisation_id: string;
  user_id?: string | null;
  claim_id?: string | null;
  channel_id?: string | null;
  data: Record<string, unknown>;
  occurred_at?: string;
}

/** An event as the log holds it: with its global, gap-free position `seq`. */
export interface StoredEvent {
  seq: number;
  id: string;
  type: string;
  version: string;
  organisation_id: string;
  user_id: string | null;
  claim_id: string | null;
  channel_id: string | null;
  data: Record<string, unknown>;
  occurred_at: string;
  received_at: string;
}

export interface AppendResult {
  event: StoredEvent;
  /** false when the producer's id was already in the log and the original came back. */
  created: boolean;
}

/**
 * Narrowing for a tenant's log reads. The organisation is required, so a read that forgets it
 * does not compile; a deliberately cluster-wide read is EventLog.readAcrossTenants.
 */
export interface EventFilter {
  organisation_id: string;
  types?: string[];
  user_id?: string;
  claim_id?: string;
  channel_id?: string;
}
