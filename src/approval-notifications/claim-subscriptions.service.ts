import { ForbiddenException, Injectable, NotFoundException, OnApplicationBootstrap } from '@nestjs/common';
import { seesWholeOrganisation, type Principal } from '../core/auth/principal';
import { RouterRegistry } from '../core/bus/router-registry';
import { Database } from '../core/database/database.service';
import { Sql } from '../core/database/sql';
import { newId } from '../core/http/ids';
import { isoNow } from '../core/http/time';
import { WebhooksService } from '../core/webhooks/webhooks.service';
import type { ClaimSubscriptionDto, CreatedClaimSubscriptionDto, SubscribeToClaimDto, UnsubscribedClaimDto } from './dto/notification.dto';

export const CLAIM_WEBHOOK_KIND = 'claim';

export class ClaimSubscriptionNotFoundException extends NotFoundException {
  constructor(id: string) {
    super(`Subscription ${id} not found`);
  }
}

/**
 * subscribeToClaimEvents: every event of one claim is POSTed to a webhook, signed with the
 * subscription's secret, through the delivery engine. Matching runs on the durable path, so a
 * delivery owed is never lost between the log and the queue.
 */
@Injectable()
export class ClaimSubscriptionsService implements OnApplicationBootstrap {
  constructor(
    private readonly db: Database,
    private readonly webhooks: WebhooksService,
    private readonly routers: RouterRegistry,
  ) {}

  private sql(): Sql {
    return new Sql(this.db.isPostgres);
  }

  onApplicationBootstrap(): void {
    this.routers.registerDurable({
      name: 'claim-webhook-subscriptions',
      route: async (events, manager) => {
        const withClaims = events.filter((e) => e.claim_id);
        if (!withClaims.length) return;
        const sql = this.sql();
        const keys = [...new Set(withClaims.map((e) => `${e.organisation_id}\u0000${e.claim_id}`))];
        const rows = await sql.run<{ subscription_id: string; organisation_id: string; claim_id: string }>(
          manager,
          `SELECT subscription_id, organisation_id, claim_id FROM claim_subscriptions
           WHERE active = ${sql.p(true)} AND claim_id IN (${sql.list([...new Set(withClaims.map((e) => e.claim_id))])})`,
        );
        const byClaim = new Map<string, string[]>();
        for (const row of rows) {
          const key = `${row.organisation_id}\u0000${row.claim_id}`;
          if (keys.includes(key)) byClaim.set(key, [...(byClaim.get(key) ?? []), row.subscription_id]);
        }
        const requests = withClaims.flatMap((event) =>
          (byClaim.get(`${event.organisation_id}\u0000${event.claim_id}`) ?? []).map((endpoint_id) => ({ endpoint_id, event })),
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
    const subscription = {
      subscription_id: newId('sub'),
      organisation_id: caller.organisation_id,
      claim_id: dto.claim_id,
      user_id: dto.user_id,
      webhook_url: dto.webhook_url,
      active: true,
      created_at: isoNow(),
    };
    const secret = this.webhooks.generateSecret();
    await this.db.transaction(async (m) => {
      const sql = this.sql();
      await sql.run(
        m,
        `INSERT INTO claim_subscriptions (subscription_id, organisation_id, claim_id, user_id, webhook_url, active, created_at)
         VALUES (${sql.list([subscription.subscription_id, subscription.organisation_id, subscription.claim_id, subscription.user_id, subscription.webhook_url, true, subscription.created_at])})`,
      );
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
      const sql = this.sql();
      const rows = await sql.run<ClaimSubscriptionDto & { organisation_id: string }>(
        m,
        `SELECT subscription_id, user_id FROM claim_subscriptions
         WHERE organisation_id = ${sql.p(caller.organisation_id)} AND subscription_id = ${sql.p(subscriptionId)} AND active = ${sql.p(true)}`,
      );
      const row = rows[0];
      if (!row || (!seesWholeOrganisation(caller) && row.user_id !== caller.user_id)) return false;
      const update = this.sql();
      await update.run(m, `UPDATE claim_subscriptions SET active = ${update.p(false)}, deleted_at = ${update.p(isoNow())} WHERE subscription_id = ${update.p(subscriptionId)}`);
      await this.webhooks.removeEndpoint(m, subscriptionId);
      return true;
    });
    if (!found) throw new ClaimSubscriptionNotFoundException(subscriptionId);
    return { unsubscribed: true, subscription_id: subscriptionId };
  }
}
