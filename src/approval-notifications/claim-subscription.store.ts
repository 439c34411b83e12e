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

/** A subscription as the read routes show it (the endpoint adds its state). */
export interface ClaimSubscriptionRow {
  subscription_id: string;
  claim_id: string;
  user_id: string;
  webhook_url: string;
  created_at: string;
}

export interface ClaimSubscriptionFilter {
  user_id?: string;
  claim_id?: string;
}

const ROW_COLUMNS = ['subscription_id', 'claim_id', 'user_id', 'webhook_url', 'created_at'] as const;

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

  /** One active subscription of the organisation, as the read routes show it. */
  async findActiveRowIn(
    m: Tx,
    organisationId: string,
    subscriptionId: string,
  ): Promise<ClaimSubscriptionRow | undefined> {
    const qb = m.createQueryBuilder(ClaimSubscriptionEntity, 's').select([]);
    for (const c of ROW_COLUMNS) qb.addSelect(`s.${c}`, c);
    const row = await qb
      .where('s.organisation_id = :org AND s.subscription_id = :id AND s.active = :active', {
        org: organisationId,
        id: subscriptionId,
        active: true,
      })
      .getRawOne<ClaimSubscriptionRow>();
    return row ?? undefined;
  }

  /** A page of the organisation's active subscriptions, newest first, with the total that match. */
  async pageActiveIn(
    m: Tx,
    organisationId: string,
    filter: ClaimSubscriptionFilter,
    offset: number,
    limit: number,
  ): Promise<{ rows: ClaimSubscriptionRow[]; total: number }> {
    const matching = () => {
      const qb = m
        .createQueryBuilder(ClaimSubscriptionEntity, 's')
        .where('s.organisation_id = :org AND s.active = :active', { org: organisationId, active: true });
      if (filter.user_id !== undefined) qb.andWhere('s.user_id = :user', { user: filter.user_id });
      if (filter.claim_id !== undefined) qb.andWhere('s.claim_id = :claim', { claim: filter.claim_id });
      return qb;
    };
    const qb = matching().select([]);
    for (const c of ROW_COLUMNS) qb.addSelect(`s.${c}`, c);
    const rows = await qb
      .orderBy('s.created_at', 'DESC')
      .addOrderBy('s.subscription_id', 'DESC')
      .limit(limit)
      .offset(offset)
      .getRawMany<ClaimSubscriptionRow>();
    const counted = await matching().select('COUNT(*)', 'total').getRawOne<{ total: number | string }>();
    return { rows, total: Number(counted?.total ?? 0) };
  }
}
