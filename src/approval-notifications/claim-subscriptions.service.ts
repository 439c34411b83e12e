import { ForbiddenException, Injectable, NotFoundException } from '@nestjs/common';
import { listableUser, seesWholeOrganisation, type Principal } from '../core/auth/principal';
import { Database } from '../core/database/database.service';
import { newId } from '../core/http/ids';
import { pageOf, pageOffset, type Page } from '../core/http/pagination';
import { isoNow } from '../core/http/time';
import { WebhookEndpointNotFoundException } from '../core/webhooks/webhooks.exceptions';
import { DeliveryOperations } from '../core/webhooks/delivery-operations.service';
import { SECRET_UNREADABLE_ISSUE } from '../core/webhooks/endpoint-health';
import type {
  RecoverDeliveriesDto,
  RecoveredDeliveriesDto,
  RotatedSecretDto,
} from '../core/webhooks/subscription-operations.dto';
import { WebhooksService } from '../core/webhooks/webhooks.service';
import {
  ClaimSubscriptionStore,
  type ClaimSubscriptionRecord,
  type ClaimSubscriptionRow,
} from './claim-subscription.store';
import type {
  ClaimSubscriptionDetailDto,
  CreatedClaimSubscriptionDto,
  ListClaimSubscriptionsQueryDto,
  SubscribeToClaimDto,
  UnsubscribedClaimDto,
} from './dto/notification.dto';

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
export class ClaimSubscriptionsService {
  constructor(
    private readonly db: Database,
    private readonly store: ClaimSubscriptionStore,
    private readonly webhooks: WebhooksService,
    private readonly deliveries: DeliveryOperations,
  ) {}

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
        owner_user_id: subscription.user_id,
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

  /**
   * A new signing secret, shown once; the old one keeps signing beside it for the rotation overlap
   * (WebhooksService.rotateSecret). Who may rotate follows the unsubscribe rule, and a subscription
   * the caller may not unsubscribe is a 404 here too.
   */
  async rotateSecret(caller: Principal, subscriptionId: string): Promise<RotatedSecretDto> {
    const row = await this.db.read((m) => this.store.findActiveRowIn(m, caller.organisation_id, subscriptionId));
    if (!row || (!seesWholeOrganisation(caller) && row.user_id !== caller.user_id))
      throw new ClaimSubscriptionNotFoundException(subscriptionId);
    try {
      return await this.webhooks.rotateSecret(caller.organisation_id, subscriptionId);
    } catch (err) {
      // Unsubscribed meanwhile: the same answer as for any subscription that is gone.
      if (err instanceof WebhookEndpointNotFoundException) throw new ClaimSubscriptionNotFoundException(subscriptionId);
      throw err;
    }
  }

  /**
   * Reading follows the unsubscribe rule: the organisation's subscriptions for an org-wide reader,
   * only those for its own user otherwise. Unsubscribed ones are gone from both routes, as they are
   * for DELETE, so a subscription's id answers the same on every route.
   */
  async list(caller: Principal, query: ListClaimSubscriptionsQueryDto): Promise<Page<ClaimSubscriptionDetailDto>> {
    const user = listableUser(caller, query.user_id);
    if (user === null) return pageOf([], query, 0);
    const { rows, total } = await this.db.read((m) =>
      this.store.pageActiveIn(
        m,
        caller.organisation_id,
        { user_id: user, claim_id: query.claim_id },
        pageOffset(query),
        query.limit,
      ),
    );
    return pageOf(await Promise.all(rows.map((row) => this.withDelivery(caller.organisation_id, row))), query, total);
  }

  /** Requeues the subscription's failed deliveries since a time; who may follows the unsubscribe rule. */
  async recover(caller: Principal, subscriptionId: string, dto: RecoverDeliveriesDto): Promise<RecoveredDeliveriesDto> {
    const row = await this.db.read((m) => this.store.findActiveRowIn(m, caller.organisation_id, subscriptionId));
    if (!row || (!seesWholeOrganisation(caller) && row.user_id !== caller.user_id))
      throw new ClaimSubscriptionNotFoundException(subscriptionId);
    const result = await this.deliveries.recover(caller.organisation_id, subscriptionId, dto);
    return { subscription_id: subscriptionId, ...result };
  }

  async get(caller: Principal, subscriptionId: string): Promise<ClaimSubscriptionDetailDto> {
    const row = await this.db.read((m) => this.store.findActiveRowIn(m, caller.organisation_id, subscriptionId));
    if (!row || (!seesWholeOrganisation(caller) && row.user_id !== caller.user_id))
      throw new ClaimSubscriptionNotFoundException(subscriptionId);
    return this.withDelivery(caller.organisation_id, row);
  }

  /** The endpoint says whether deliveries are going out; its secret is never shown again. */
  private async withDelivery(organisationId: string, row: ClaimSubscriptionRow): Promise<ClaimSubscriptionDetailDto> {
    const endpoint = await this.webhooks.getEndpoint(organisationId, row.subscription_id);
    return {
      subscription_id: row.subscription_id,
      claim_id: row.claim_id,
      user_id: row.user_id,
      webhook_url: row.webhook_url,
      active: true,
      // An active subscription always has its endpoint (both are written in one transaction).
      state: endpoint?.secret_unreadable && endpoint.state === 'on' ? 'blocked' : (endpoint?.state ?? 'off'),
      issue:
        endpoint?.secret_unreadable && endpoint.state === 'on' ? SECRET_UNREADABLE_ISSUE : (endpoint?.issue ?? null),
      created_at: row.created_at,
    };
  }
}
