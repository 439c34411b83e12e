import { ForbiddenException, Injectable, NotFoundException, OnApplicationBootstrap } from '@nestjs/common';
import { readsEvent, seesWholeOrganisation, type Principal } from '../core/auth/principal';
import { RouterRegistry } from '../core/bus/router-registry';
import { Database } from '../core/database/database.service';
import { newId } from '../core/http/ids';
import { isoNow } from '../core/http/time';
import { WebhooksService } from '../core/webhooks/webhooks.service';
import { ClaimSubscriptionStore, type ClaimSubscriber, type ClaimSubscriptionRecord } from './claim-subscription.store';
import type { CreatedClaimSubscriptionDto, SubscribeToClaimDto, UnsubscribedClaimDto } from './dto/notification.dto';

export const CLAIM_WEBHOOK_KIND = 'claim';

export class ClaimSubscriptionNotFoundException extends NotFoundException {
  constructor(id: string) {
    super(`Subscription ${id} not found`);
  }
}

/**
 * subscribeToClaimEvents: the events of one claim are POSTed to a webhook, signed with the
 * subscription's secret, through the delivery engine. Matching runs on the durable path, so a
 * delivery owed is never lost between the log and the queue.
 *
 * A webhook is another way of reading events, so it follows the log's read rule: a subscriber
 * that sees the whole organisation (app, `claims:read:org`) gets every event of the claim; a
 * plain user only those about its own user. Which one it was is recorded at subscribe time.
 */
@Injectable()
export class ClaimSubscriptionsService implements OnApplicationBootstrap {
  constructor(
    private readonly db: Database,
    private readonly store: ClaimSubscriptionStore,
    private readonly webhooks: WebhooksService,
    private readonly routers: RouterRegistry,
  ) {}

  onApplicationBootstrap(): void {
    this.routers.registerDurable({
      name: 'claim-webhook-subscriptions',
      route: async (events, manager) => {
        const withClaims = events.filter((e): e is typeof e & { claim_id: string } => Boolean(e.claim_id));
        if (!withClaims.length) return;
        const keys = new Set(withClaims.map((e) => `${e.organisation_id}\u0000${e.claim_id}`));
        const rows = await this.store.activeForClaimsIn(
          manager,
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
        if (requests.length) await this.webhooks.enqueue(manager, requests);
      },
    });
  }

  async subscribe(caller: Principal, dto: SubscribeToClaimDto): Promise<CreatedClaimSubscriptionDto> {
    if (!seesWholeOrganisation(caller) && dto.user_id !== caller.user_id) {
      throw new ForbiddenException('A user credential may only subscribe for its own user');
    }
    await this.webhooks.assertDeliverableUrl(dto.webhook_url);
    const subscription: ClaimSubscriptionRecord = {
      subscription_id: newId('sub'),
      organisation_id: caller.organisation_id,
      claim_id: dto.claim_id,
      user_id: dto.user_id,
      webhook_url: dto.webhook_url,
      org_wide: seesWholeOrganisation(caller),
      created_at: isoNow(),
    };
    const secret = this.webhooks.generateSecret();
    await this.db.transaction(async (m) => {
      await this.store.insertIn(m, subscription);
      await this.webhooks.saveEndpoint(m, {
        id: subscription.subscription_id,
        kind: CLAIM_WEBHOOK_KIND,
        organisation_id: subscription.organisation_id,
        url: subscription.webhook_url,
        secret,
      });
    });
    return {
      subscription_id: subscription.subscription_id,
      claim_id: subscription.claim_id,
      user_id: subscription.user_id,
      active: true,
      created_at: subscription.created_at,
      signing_secret: secret,
    };
  }

  async unsubscribe(caller: Principal, subscriptionId: string): Promise<UnsubscribedClaimDto> {
    const found = await this.db.transaction(async (m) => {
      const row = await this.store.findActiveIn(m, caller.organisation_id, subscriptionId);
      if (!row || (!seesWholeOrganisation(caller) && row.user_id !== caller.user_id)) return false;
      await this.store.deactivateIn(m, caller.organisation_id, subscriptionId, isoNow());
      await this.webhooks.removeEndpoint(m, caller.organisation_id, subscriptionId);
      return true;
    });
    if (!found) throw new ClaimSubscriptionNotFoundException(subscriptionId);
    return { unsubscribed: true, subscription_id: subscriptionId };
  }
}
