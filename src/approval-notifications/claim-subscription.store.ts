import { Injectable } from '@nestjs/common';
import type { Tx } from '../core/database/database.service';
import { ClaimSubscriptionEntity } from './claim-subscription.entity';

export interface ClaimSubscriptionRecord {
  subscription_id: string;
  organisation_id: string;
  claim_id: string;
  user_id: string;
  webhook_url: string;
  org_wide: boolean;
  created_at: string;
}

/** Who gets a claim's events, as the durable router needs it. */
export interface ClaimSubscriber {
  subscription_id: string;
  organisation_id: string;
  claim_id: string;
  user_id: string;
  org_wide: boolean;
}

/**
 * Data access for claim webhook subscriptions. Every method runs inside the caller's
 * transaction (the subscription and its delivery endpoint change together) and is scoped by
 * organisation.
 */
@Injectable()
export class ClaimSubscriptionStore {
  /**
   * Active subscriptions to any of these claims in any of these organisations, for the durable
   * router (a dispatcher batch spans organisations). The result may pair an organisation with a
   * claim of another; the caller matches each event on both.
   */
  async activeForClaimsIn(m: Tx, organisationIds: string[], claimIds: string[]): Promise<ClaimSubscriber[]> {
    if (!organisationIds.length || !claimIds.length) return [];
    const rows = await m
      .createQueryBuilder(ClaimSubscriptionEntity, 's')
      .select('s.subscription_id', 'subscription_id')
      .addSelect('s.organisation_id', 'organisation_id')
      .addSelect('s.claim_id', 'claim_id')
      .addSelect('s.user_id', 'user_id')
      .addSelect('s.org_wide', 'org_wide')
      .where('s.organisation_id IN (:...orgs) AND s.claim_id IN (:...claims) AND s.active = :active', {
        orgs: organisationIds,
        claims: claimIds,
        active: true,
      })
      .getRawMany<Omit<ClaimSubscriber, 'org_wide'> & { org_wide: boolean | number }>();
    // Postgres returns a boolean, SQLite 0/1.
    return rows.map((row) => ({ ...row, org_wide: Boolean(row.org_wide) }));
  }

  async insertIn(m: Tx, s: ClaimSubscriptionRecord): Promise<void> {
    await m.insert(ClaimSubscriptionEntity, { ...s, active: true, deleted_at: null });
  }

  async findActiveIn(
    m: Tx,
    organisationId: string,
    subscriptionId: string,
  ): Promise<{ subscription_id: string; user_id: string } | undefined> {
    const row = await m
      .createQueryBuilder(ClaimSubscriptionEntity, 's')
      .select('s.subscription_id', 'subscription_id')
      .addSelect('s.user_id', 'user_id')
      .where('s.organisation_id = :org AND s.subscription_id = :id AND s.active = :active', {
        org: organisationId,
        id: subscriptionId,
        active: true,
      })
      .getRawOne<{ subscription_id: string; user_id: string }>();
    return row ?? undefined;
  }

  async deactivateIn(m: Tx, organisationId: string, subscriptionId: string, at: string): Promise<void> {
    await m.update(
      ClaimSubscriptionEntity,
      { organisation_id: organisationId, subscription_id: subscriptionId },
      { active: false, deleted_at: at },
    );
  }
}
