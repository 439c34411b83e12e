import type { StoredEvent } from '../event-log/event.types';

/** `on` sends; `off` matches nothing; `blocked` logs matches as `blocked` and sends nothing (the workspace subscriptions contract). */
export type EndpointState = 'on' | 'off' | 'blocked';

/**
 * `pending` is owed (first attempt or a retry is scheduled); the rest are final. `cancelled`
 * marks deliveries that were still owed when their endpoint was removed or turned off.
 */
export type DeliveryStatus = 'pending' | 'delivered' | 'failed' | 'rate_limited' | 'blocked' | 'cancelled';

/**
 * Where a subscription's webhooks go. The id is the owning subscription's id (`sub_…`,
 * `wsub_…`); `kind` names the module that owns it. Holds the signing secret: never sent over
 * the wire as is.
 */
export interface WebhookEndpoint {
  id: string;
  kind: string;
  organisation_id: string;
  workspace_id: string | null;
  url: string;
  secret: string;
  /**
   * The secret the last rotation replaced: requests are signed with it too while
   * `previous_secret_until` is in the future (WEBHOOK_SECRET_ROTATION_OVERLAP).
   */
  previous_secret: string | null;
  previous_secret_until: string | null;
  /**
   * No key of HERALD_ENCRYPTION_KEY opens the stored secret (`secret` is then empty). Nothing is
   * signed with it: deliveries stay owed and wait until the key is restored or the secret rotated.
   */
  secret_unreadable?: boolean;
  /** Extra request headers; they never replace the ones Herald sets. */
  headers: Record<string, string>;
  rate_limit_per_minute: number | null;
  /** The user the subscription belongs to; null for an app's (see SaveEndpoint). */
  owner_user_id: string | null;
  state: EndpointState;
  issue: string | null;
  created_at: string;
  updated_at: string;
}

export interface SaveEndpoint {
  id: string;
  kind: string;
  organisation_id: string;
  workspace_id?: string | null;
  url: string;
  /**
   * The signing secret of a new endpoint. An existing endpoint keeps its own: only
   * `WebhooksService.rotateSecret` changes it, so a save racing a rotation cannot undo it.
   */
  secret: string;
  headers?: Record<string, string> | null;
  /**
   * The user the subscription belongs to (null for an app's): a user credential reads, resends
   * and recovers the deliveries of its own subscriptions only. Written on every save.
   */
  owner_user_id?: string | null;
  rate_limit_per_minute?: number | null;
  /** Omitted on an update: the endpoint keeps its state. New endpoints start `on`. */
  state?: EndpointState;
  issue?: string | null;
}

/** What a durable router asks for: this event, to this endpoint, and why (for the log). */
export interface DeliveryRequest {
  endpoint_id: string;
  event: StoredEvent;
  rule_index?: number | null;
  match_hash?: string | null;
  match_index?: number | null;
}

export interface EnqueuedDelivery {
  id: string;
  endpoint_id: string;
  status: DeliveryStatus;
}

/** One line of the delivery log (docs/api-contracts.md "Ids, times, paging"); `endpoint_id` is the subscription id. */
export interface DeliveryLogEntry {
  id: string;
  endpoint_id: string;
  /** The workspace of a workspace subscription's delivery; null for a claim webhook's. */
  workspace_id: string | null;
  event_id: string;
  event_seq: number;
  rule_index: number | null;
  match_hash: string | null;
  match_index: number | null;
  status: DeliveryStatus;
  attempts: number;
  response_status: number | null;
  error: string | null;
  /** The entry's log time: RFC 3339 UTC with microseconds, unique in the log (see history-page.ts). */
  created_at: string;
  delivered_at: string | null;
  duration_ms: number | null;
  /** When the next attempt is due, while the delivery is owed (`pending`); null once final. */
  next_attempt_at: string | null;
}

export type AttemptOutcome = 'delivered' | 'retrying' | 'failed';

/** One try of a delivery. */
export interface DeliveryAttempt {
  attempt: number;
  outcome: AttemptOutcome;
  response_status: number | null;
  error: string | null;
  duration_ms: number;
  attempted_at: string;
  /** The request headers as sent (signature included); values of the subscription's extra headers are masked. */
  request_headers: Record<string, string> | null;
  /** The first 4 KiB of the response body, when a response came. */
  response_body: string | null;
}

export type HistoryDirection = 'before' | 'after';

/** Tenant scoping is required: an unscoped read of the log does not compile. */
export interface ListDeliveriesQuery {
  organisation_id: string;
  workspace_id?: string;
  endpoint_id?: string;
  /** Only deliveries of endpoints this user owns (a user credential reading the delivery log API). */
  owner_user_id?: string;
  /** Deliveries of workspace subscriptions only in these workspaces (claim webhooks have none). */
  workspace_ids?: string[];
  event_id?: string;
  status?: DeliveryStatus;
  /** Log times (`created_at`) at or after `since` and before `until`, in the log's own form. */
  since?: string;
  until?: string;
  limit: number;
  /** `before` (default): newest first, older than `datetime`; `after`: oldest first, newer than it. */
  direction?: HistoryDirection;
  /** Cursor: an entry's `created_at`, or any RFC 3339 date-time. Pages hold exactly `limit` entries but the last. */
  datetime?: string;
}

/** A webhook request exactly as it goes on the wire. */
export interface WebhookRequest {
  url: string;
  method: 'POST';
  headers: Record<string, string>;
  body: string;
}

/** What came back from one request; `status` is absent when no response arrived. */
export interface SendResult {
  status?: number;
  /** The raw `Retry-After` header, when the receiver sent one. */
  retry_after?: string;
  /** The first RESPONSE_BODY_KEPT bytes of the response body, decoded as UTF-8. */
  response_body?: string;
  error?: string;
  /** Retrying cannot help: the SSRF guard refused the target, or the request itself is invalid. */
  permanent?: boolean;
  duration_ms: number;
}

export interface SendOnceResult {
  status?: number;
  error?: string;
  duration_ms: number;
  request: WebhookRequest;
}
