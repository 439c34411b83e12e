import type { NewDelivery } from '../../src/core/webhooks/delivery.store';

/**
 * A pending delivery row for `DeliveryStore.insert`, as the dispatcher would make one for a
 * webhook (no workspace, no rule match, no error); the caller names what the case depends on.
 */
export function pendingDelivery(
  row: Pick<NewDelivery, 'id' | 'endpoint_id' | 'organisation_id' | 'event_id' | 'event_seq' | 'body' | 'created_at'>,
): NewDelivery {
  return {
    workspace_id: null,
    rule_index: null,
    match_hash: null,
    match_index: null,
    status: 'pending',
    error: null,
    ...row,
  };
}
