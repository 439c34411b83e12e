import { Injectable } from '@nestjs/common';
import { Brackets, IsNull, type SelectQueryBuilder } from 'typeorm';
import { ApiKeyEntity } from '../core/auth/api-key.entity';
import { Database, type Tx } from '../core/database/database.service';
import { isoNow } from '../core/http/time';
import { parseResource, parseTrigger, type Resource, type Rule } from './subscription-rules';
import type { SubscriptionOwner } from './subscription-owner';
import { WorkspaceSubscriptionTriggerEntity } from './workspace-subscription-trigger.entity';
import { WorkspaceSubscriptionEntity } from './workspace-subscription.entity';

export type SubscriptionState = 'on' | 'off' | 'blocked';

export interface Action {
  type: 'webhook' | 'socket';
  url?: string;
  headers?: Record<string, string>;
  room?: string;
}

export interface SubscriptionRecord {
  id: string;
  organisation_id: string;
  workspace_id: string;
  template: { id: string; inputs: Record<string, unknown>; topics: string[] } | null;
  rules: Rule[];
  resources: string[];
  actions: Action[];
  meta: { title: string | null };
  state: SubscriptionState;
  issue: string | null;
  rate_limit: number | null;
  created_at: string;
  updated_at: string;
  /** Who saved it last; what it may deliver follows from this (subscription-owner.ts). */
  owner: SubscriptionOwner;
}

const COLUMNS = [
  'id',
  'organisation_id',
  'workspace_id',
  'template',
  'rules',
  'resources',
  'actions',
  'meta',
  'state',
  'issue',
  'rate_limit',
  'created_at',
  'updated_at',
  'owner_kind',
  'owner_user_id',
  'owner_key_id',
  'owner_org_wide',
  'owner_can_read',
] as const satisfies readonly (keyof WorkspaceSubscriptionEntity)[];

/** Trigger index rows per INSERT: 5 parameters each, far below either engine's limit. */
const TRIGGER_ROWS_PER_INSERT = 1000;

/** Every column under its own name, read raw (no entity hydration) and mapped by `fromRow`. */
function selectSubscriptions(m: Tx): SelectQueryBuilder<WorkspaceSubscriptionEntity> {
  const qb = m.createQueryBuilder(WorkspaceSubscriptionEntity, 's').select('s.id', 'id');
  for (const column of COLUMNS.slice(1)) qb.addSelect(`s.${column}`, column);
  return qb;
}

/**
 * Keeps only subscriptions whose owner's API key (if one saved it) still authenticates: not
 * revoked, not expired now. Applied wherever subscriptions are loaded to deliver, so a
 * revocation stops the durable path at its next batch with no message to lose; the live cache
 * also drops them when the revocation is heard, and checks expiry per event.
 */
function whereOwnerKeyLive(qb: SelectQueryBuilder<WorkspaceSubscriptionEntity>): void {
  // api_keys is read here, not through ApiKeysService: the key must be judged in the same query that loads the subscriptions.
  const liveKey = qb
    .subQuery()
    .select('1')
    .from(ApiKeyEntity, 'k')
    .where('k.id = s.owner_key_id')
    .andWhere('k.revoked_at IS NULL')
    .andWhere('(k.expires_at IS NULL OR k.expires_at > :now)', { now: isoNow() });
  qb.andWhere(`(s.owner_key_id IS NULL OR EXISTS ${liveKey.getQuery()})`);
}

function fromRow(row: Record<string, unknown>): SubscriptionRecord {
  const owner: SubscriptionOwner = {
    kind: (row.owner_kind as SubscriptionOwner['kind']) ?? null,
    user_id: (row.owner_user_id as string | null) ?? null,
    key_id: (row.owner_key_id as string | null) ?? null,
    // Postgres returns a boolean, SQLite 0/1.
    org_wide: Boolean(row.owner_org_wide),
    can_read: Boolean(row.owner_can_read),
  };
  if (owner.key_id && 'owner_key_expires_at' in row)
    owner.key_expires_at = (row.owner_key_expires_at as string | null) ?? null;
  return {
    id: row.id as string,
    organisation_id: row.organisation_id as string,
    workspace_id: row.workspace_id as string,
    template: row.template ? JSON.parse(row.template as string) : null,
    rules: JSON.parse(row.rules as string),
    resources: JSON.parse(row.resources as string),
    actions: JSON.parse(row.actions as string),
    meta: JSON.parse(row.meta as string),
    state: row.state as SubscriptionState,
    issue: (row.issue as string | null) ?? null,
    rate_limit: row.rate_limit === null || row.rate_limit === undefined ? null : Number(row.rate_limit),
    created_at: row.created_at as string,
    updated_at: row.updated_at as string,
    owner,
  };
}

function toEntity(s: SubscriptionRecord): WorkspaceSubscriptionEntity {
  return {
    id: s.id,
    organisation_id: s.organisation_id,
    workspace_id: s.workspace_id,
    template: s.template ? JSON.stringify(s.template) : null,
    rules: JSON.stringify(s.rules),
    resources: JSON.stringify(s.resources),
    actions: JSON.stringify(s.actions),
    meta: JSON.stringify(s.meta),
    state: s.state,
    issue: s.issue,
    rate_limit: s.rate_limit,
    created_at: s.created_at,
    updated_at: s.updated_at,
    owner_kind: s.owner.kind,
    owner_user_id: s.owner.user_id,
    owner_key_id: s.owner.key_id,
    owner_org_wide: s.owner.org_wide,
    owner_can_read: s.owner.can_read,
  };
}

/** Data access for workspace subscriptions and their (trigger, resource) index. */
@Injectable()
export class SubscriptionStore {
  constructor(private readonly db: Database) {}

  /** Writes a subscription and its trigger index; a replace (`!isNew`) first removes the old rows. */
  async save(m: Tx, s: SubscriptionRecord, isNew: boolean): Promise<void> {
    if (!isNew) await this.deleteIn(m, s.organisation_id, s.workspace_id, s.id);
    // updateEntity(false): nothing to read back, which would cost a RETURNING (or, on SQLite, a SELECT) per insert.
    await m
      .createQueryBuilder()
      .insert()
      .into(WorkspaceSubscriptionEntity)
      .values(toEntity(s))
      .updateEntity(false)
      .execute();
    const resources = s.resources.map(parseResource).filter((r): r is Resource => Boolean(r));
    const types = [...new Set(s.rules.map((r) => parseTrigger(r.trigger).type))];
    const rows: WorkspaceSubscriptionTriggerEntity[] = types.flatMap((type) =>
      resources.map((r) => ({
        subscription_id: s.id,
        organisation_id: s.organisation_id,
        trigger_type: type,
        resource_kind: r.kind,
        resource_id: r.id,
      })),
    );
    for (let i = 0; i < rows.length; i += TRIGGER_ROWS_PER_INSERT) {
      await m
        .createQueryBuilder()
        .insert()
        .into(WorkspaceSubscriptionTriggerEntity)
        .values(rows.slice(i, i + TRIGGER_ROWS_PER_INSERT))
        .updateEntity(false)
        .execute();
    }
  }

  async deleteIn(m: Tx, organisationId: string, workspaceId: string, id: string): Promise<void> {
    // The index has no workspace column; the subscription's id and organisation scope it.
    await m.delete(WorkspaceSubscriptionTriggerEntity, { subscription_id: id, organisation_id: organisationId });
    await m.delete(WorkspaceSubscriptionEntity, { id, organisation_id: organisationId, workspace_id: workspaceId });
  }

  async find(organisationId: string, workspaceId: string, id: string, m?: Tx): Promise<SubscriptionRecord | undefined> {
    const run = async (manager: Tx) => {
      const row = await selectSubscriptions(manager)
        .where('s.organisation_id = :organisationId', { organisationId })
        .andWhere('s.workspace_id = :workspaceId', { workspaceId })
        .andWhere('s.id = :id', { id })
        .getRawOne<Record<string, unknown>>();
      return row ? fromRow(row) : undefined;
    };
    return m ? run(m) : this.db.read(run);
  }

  async list(organisationId: string, workspaceId: string): Promise<SubscriptionRecord[]> {
    return this.db.read(async (m) => {
      const rows = await selectSubscriptions(m)
        .where('s.organisation_id = :organisationId', { organisationId })
        .andWhere('s.workspace_id = :workspaceId', { workspaceId })
        .orderBy('s.created_at')
        .addOrderBy('s.id')
        .limit(1000)
        .getRawMany<Record<string, unknown>>();
      return rows.map(fromRow);
    });
  }

  /**
   * Everything with a socket action whose owner may still read, for the live router's cache
   * (or just `id`, when a change is heard), with the owner key's expiry for the per-event check.
   * Across tenants on purpose: every node routes every organisation's events.
   */
  async withSocketActionsAcrossTenants(id?: string): Promise<SubscriptionRecord[]> {
    return this.db.read(async (m) => {
      const qb = selectSubscriptions(m)
        // In the same read as the liveness check, so the cached expiry belongs to the key that passed it.
        .addSelect(
          (key) => key.select('e.expires_at').from(ApiKeyEntity, 'e').where('e.id = s.owner_key_id'),
          'owner_key_expires_at',
        )
        .where('s.actions LIKE :socket', { socket: '%"socket"%' })
        .andWhere('s.owner_can_read = :canRead', { canRead: true });
      whereOwnerKeyLive(qb);
      if (id) qb.andWhere('s.id = :id', { id });
      return (await qb.getRawMany<Record<string, unknown>>()).map(fromRow);
    });
  }

  /**
   * Subscriptions saved before owners were recorded (migration 1763900800000): they deliver
   * nothing until saved again. Across tenants on purpose: counted once at start-up for a warning.
   */
  async countWithoutOwnerAcrossTenants(): Promise<number> {
    return this.db.read((m) => m.count(WorkspaceSubscriptionEntity, { where: { owner_kind: IsNull() } }));
  }

  /**
   * The dispatcher's read: subscriptions that may match a batch of events, across the batch's
   * organisations (each candidate is then matched only against its own organisation's events).
   * A rule on one of the batch's types, in one of its organisations, on a resource naming one of
   * its subjects (or `*`), found through the (trigger, resource) index in one query, leaving out
   * those that are off or whose owner cannot read (no `events:read`, unknown, or its key revoked
   * or expired). Each event is then checked against them in memory.
   */
  async dispatchCandidatesAcrossTenants(
    m: Tx,
    organisationIds: string[],
    types: string[],
    subjects: Resource[],
  ): Promise<SubscriptionRecord[]> {
    if (!organisationIds.length || !types.length || !subjects.length) return [];
    const idsByKind = new Map<string, Set<string>>();
    for (const s of subjects) idsByKind.set(s.kind, (idsByKind.get(s.kind) ?? new Set()).add(s.id));
    const qb = selectSubscriptions(m)
      .where("s.state <> 'off'")
      .andWhere('s.owner_can_read = :canRead', { canRead: true });
    whereOwnerKeyLive(qb);
    const index = qb
      .subQuery()
      .select('t.subscription_id')
      .from(WorkspaceSubscriptionTriggerEntity, 't')
      .where('t.organisation_id IN (:...organisationIds)', { organisationIds })
      .andWhere('t.trigger_type IN (:...types)', { types })
      .andWhere(
        new Brackets((either) => {
          [...idsByKind].forEach(([kind, ids], i) =>
            either.orWhere(`(t.resource_kind = :kind${i} AND t.resource_id IN (:...ids${i}))`, {
              [`kind${i}`]: kind,
              [`ids${i}`]: [...ids, '*'],
            }),
          );
        }),
      );
    qb.andWhere(`s.id IN ${index.getQuery()}`);
    return (await qb.getRawMany<Record<string, unknown>>()).map(fromRow);
  }

  async setState(
    m: Tx,
    organisationId: string,
    workspaceId: string,
    id: string,
    state: SubscriptionState,
    issue: string | null,
    at: string,
  ): Promise<void> {
    await m.update(
      WorkspaceSubscriptionEntity,
      { id, organisation_id: organisationId, workspace_id: workspaceId },
      { state, issue, updated_at: at },
    );
  }
}
