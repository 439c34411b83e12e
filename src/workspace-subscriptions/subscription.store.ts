import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { Database } from '../core/database/database.service';
import { Sql } from '../core/database/sql';
import { isoNow } from '../core/http/time';
import { parseResource, parseTrigger, type Resource, type Rule } from './subscription-rules';
import type { SubscriptionOwner } from './subscription-owner';

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

const COLUMNS =
  'id, organisation_id, workspace_id, template, rules, resources, actions, meta, state, issue, rate_limit, created_at, updated_at, owner_kind, owner_user_id, owner_key_id, owner_org_wide, owner_can_read';

/**
 * The owner's API key (if one saved it) still authenticates: not revoked, not expired at `now`
 * (a placeholder, taken where this text stands). Checked in SQL wherever subscriptions are loaded
 * to deliver, so a revocation stops the durable path at its next batch with no message to lose;
 * the live cache also drops them when the revocation is heard, and checks expiry per event.
 */
function ownerKeyLive(now: string): string {
  return `(s.owner_key_id IS NULL OR EXISTS (SELECT 1 FROM api_keys k WHERE k.id = s.owner_key_id AND k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > ${now})))`;
}

function fromRow(row: Record<string, unknown>): SubscriptionRecord {
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
    owner: {
      kind: (row.owner_kind as SubscriptionOwner['kind']) ?? null,
      user_id: (row.owner_user_id as string | null) ?? null,
      key_id: (row.owner_key_id as string | null) ?? null,
      // Postgres returns a boolean, SQLite 0/1.
      org_wide: Boolean(row.owner_org_wide),
      can_read: Boolean(row.owner_can_read),
    },
  };
}

const selectColumns = (alias: string) =>
  COLUMNS.split(', ')
    .map((c) => `${alias}.${c}`)
    .join(', ');

/** Data access for workspace subscriptions and their (trigger, resource) index. */
@Injectable()
export class SubscriptionStore {
  constructor(private readonly db: Database) {}

  private sql(): Sql {
    return new Sql(this.db.isPostgres);
  }

  async save(m: EntityManager, s: SubscriptionRecord, isNew: boolean): Promise<void> {
    const values = [
      s.id,
      s.organisation_id,
      s.workspace_id,
      s.template ? JSON.stringify(s.template) : null,
      JSON.stringify(s.rules),
      JSON.stringify(s.resources),
      JSON.stringify(s.actions),
      JSON.stringify(s.meta),
      s.state,
      s.issue,
      s.rate_limit,
      s.created_at,
      s.updated_at,
      s.owner.kind,
      s.owner.user_id,
      s.owner.key_id,
      s.owner.org_wide,
      s.owner.can_read,
    ];
    if (!isNew) await this.deleteIn(m, s.id);
    const sql = this.sql();
    await sql.run(m, `INSERT INTO workspace_subscriptions (${COLUMNS}) VALUES (${sql.list(values)})`);
    const resources = s.resources.map(parseResource).filter((r): r is Resource => Boolean(r));
    const types = [...new Set(s.rules.map((r) => parseTrigger(r.trigger).type))];
    for (const type of types) {
      for (const r of resources) {
        const ins = this.sql();
        await ins.run(
          m,
          `INSERT INTO workspace_subscription_triggers (subscription_id, organisation_id, trigger_type, resource_kind, resource_id) VALUES (${ins.list([s.id, s.organisation_id, type, r.kind, r.id])})`,
        );
      }
    }
  }

  async deleteIn(m: EntityManager, id: string): Promise<void> {
    const a = this.sql();
    await a.run(m, `DELETE FROM workspace_subscription_triggers WHERE subscription_id = ${a.p(id)}`);
    const b = this.sql();
    await b.run(m, `DELETE FROM workspace_subscriptions WHERE id = ${b.p(id)}`);
  }

  async find(
    organisationId: string,
    workspaceId: string,
    id: string,
    m?: EntityManager,
  ): Promise<SubscriptionRecord | undefined> {
    const run = async (manager: EntityManager) => {
      const sql = this.sql();
      const rows = await sql.run(
        manager,
        `SELECT ${COLUMNS} FROM workspace_subscriptions WHERE organisation_id = ${sql.p(organisationId)} AND workspace_id = ${sql.p(workspaceId)} AND id = ${sql.p(id)}`,
      );
      return rows.length ? fromRow(rows[0]) : undefined;
    };
    return m ? run(m) : this.db.read(run);
  }

  async list(organisationId: string, workspaceId: string): Promise<SubscriptionRecord[]> {
    return this.db.read(async (m) => {
      const sql = this.sql();
      const rows = await sql.run(
        m,
        `SELECT ${COLUMNS} FROM workspace_subscriptions WHERE organisation_id = ${sql.p(organisationId)} AND workspace_id = ${sql.p(workspaceId)} ORDER BY created_at, id LIMIT 1000`,
      );
      return rows.map(fromRow);
    });
  }

  /** Everything with a socket action whose owner may still read, for the live router's cache. */
  async withSocketActions(id?: string): Promise<SubscriptionRecord[]> {
    return this.db.read(async (m) => {
      const sql = this.sql();
      const rows = await sql.run(
        m,
        `SELECT ${selectColumns('s')} FROM workspace_subscriptions s
         WHERE s.actions LIKE ${sql.p('%"socket"%')} AND s.owner_can_read = ${sql.p(true)} AND ${ownerKeyLive(sql.p(isoNow()))}${id ? ` AND s.id = ${sql.p(id)}` : ''}`,
      );
      const records = rows.map(fromRow);
      const keyIds = [...new Set(records.flatMap((r) => (r.owner.key_id ? [r.owner.key_id] : [])))];
      if (keyIds.length) {
        const keys = this.sql();
        const expiries = await keys.run<{ id: string; expires_at: string | null }>(
          m,
          `SELECT id, expires_at FROM api_keys WHERE id IN (${keys.list(keyIds)})`,
        );
        const byKey = new Map(expiries.map((k) => [k.id, k.expires_at]));
        for (const r of records) if (r.owner.key_id) r.owner.key_expires_at = byKey.get(r.owner.key_id) ?? null;
      }
      return records;
    });
  }

  /** Of these API key ids, the ones that no longer authenticate (revoked, or gone). */
  async deadKeys(keyIds: string[]): Promise<Set<string>> {
    const ids = [...new Set(keyIds)];
    if (!ids.length) return new Set();
    const live = await this.db.read(async (m) => {
      const sql = this.sql();
      const list = sql.list(ids);
      return sql.run<{ id: string }>(
        m,
        `SELECT id FROM api_keys WHERE id IN (${list}) AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ${sql.p(isoNow())})`,
      );
    });
    const alive = new Set(live.map((r) => r.id));
    return new Set(ids.filter((id) => !alive.has(id)));
  }

  /** Subscriptions saved before owners were recorded (migration 1763900800000): they deliver nothing until saved again. */
  async countWithoutOwner(): Promise<number> {
    return this.db.read(async (m) => {
      const rows = await this.sql().run<{ n: number | string }>(
        m,
        'SELECT COUNT(*) AS n FROM workspace_subscriptions WHERE owner_kind IS NULL',
      );
      return Number(rows[0]?.n ?? 0);
    });
  }

  /**
   * Subscriptions that may match a batch of events: a rule on one of the batch's types, in one
   * of its organisations, on a resource naming one of its subjects (or `*`), found through the
   * (trigger, resource) index in one query, leaving out those whose owner cannot read (no
   * `events:read`, unknown, or its key revoked). Each event is then checked against them in memory.
   */
  async candidates(
    m: EntityManager,
    organisationIds: string[],
    types: string[],
    subjects: Resource[],
  ): Promise<SubscriptionRecord[]> {
    if (!organisationIds.length || !types.length) return [];
    const idsByKind = new Map<string, Set<string>>();
    for (const s of subjects) idsByKind.set(s.kind, (idsByKind.get(s.kind) ?? new Set()).add(s.id));
    const sql = this.sql();
    // Placeholders are taken in text order (SQLite's `?` is positional).
    const canRead = sql.p(true);
    const keyLive = ownerKeyLive(sql.p(isoNow()));
    const orgs = sql.list(organisationIds);
    const triggers = sql.list(types);
    const resources = [...idsByKind]
      .map(([kind, ids]) => `(t.resource_kind = ${sql.p(kind)} AND t.resource_id IN (${sql.list([...ids, '*'])}))`)
      .join(' OR ');
    const rows = await sql.run(
      m,
      `SELECT ${selectColumns('s')} FROM workspace_subscriptions s
       WHERE s.state <> 'off' AND s.owner_can_read = ${canRead} AND ${keyLive} AND s.id IN (
         SELECT t.subscription_id FROM workspace_subscription_triggers t
         WHERE t.organisation_id IN (${orgs}) AND t.trigger_type IN (${triggers}) AND (${resources}))`,
    );
    return rows.map(fromRow);
  }

  async setState(
    m: EntityManager,
    id: string,
    state: SubscriptionState,
    issue: string | null,
    at: string,
  ): Promise<void> {
    const sql = this.sql();
    await sql.run(
      m,
      `UPDATE workspace_subscriptions SET state = ${sql.p(state)}, issue = ${sql.p(issue)}, updated_at = ${sql.p(at)} WHERE id = ${sql.p(id)}`,
    );
  }
}
