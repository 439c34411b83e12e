import { Injectable } from '@nestjs/common';
import { readsEvent } from '../core/auth/principal';
import { EventRouter, type DurableRouter } from '../core/bus/router-registry';
import type { Tx } from '../core/database/database.service';
import type { StoredEvent } from '../core/event-log/event.types';
import { WebhooksService } from '../core/webhooks/webhooks.service';
import { ClaimSubscriptionStore, type ClaimSubscriber } from './claim-subscription.store';

/**
 * Claim webhooks: each event of a claim is owed to that claim's active subscriptions whose
 * subscriber may read it (the read rule as recorded at subscribe time).
 */
@EventRouter('durable')
@Injectable()
export class ClaimWebhooksRouter implements DurableRouter {
  readonly name = 'claim-webhook-subscriptions';

  constructor(
    private readonly store: ClaimSubscriptionStore,
    private readonly webhooks: WebhooksService,
  ) {}

  async route(events: StoredEvent[], tx: Tx): Promise<void> {
    const withClaims = events.filter((e): e is typeof e & { claim_id: string } => Boolean(e.claim_id));
    if (!withClaims.length) return;
    const keys = new Set(withClaims.map((e) => `${e.organisation_id}\u0000${e.claim_id}`));
    const rows = await this.store.activeForClaimsIn(
      tx,
      [...new Set(withClaims.map((e) => e.organisation_id))],
      [...new Set(withClaims.map((e) => e.claim_id))],
    );
    const byClaim = new Map<string, ClaimSubscriber[]>();
    for (const row of rows) {
      const key = `${row.organisation_id}\u0000${row.claim_id}`;
      if (keys.has(key)) byClaim.set(key, [...(byClaim.get(key) ?? []), row]);
    }
    const requests = withClaims.flatMap((event) =>
      (byClaim.get(`${event.organisation_id}\u0000${event.claim_id}`) ?? [])
        .filter((row) => readsEvent({ orgWide: row.org_wide, user_id: row.user_id }, event))
        .map((row) => ({ endpoint_id: row.subscription_id, event })),
    );
    if (requests.length) await this.webhooks.enqueue(tx, requests);
  }
}
