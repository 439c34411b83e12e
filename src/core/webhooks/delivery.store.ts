import { Inject, Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { APP_CONFIG, type AppConfig } from '../config';
import { schemaLockKey } from '../database/lock-keys';
import { Database } from '../database/database.service';
import { Sql } from '../database/sql';
import type { DueRow, OwingEndpoint } from './claim-plan';
import { nextLogTimes } from './history-page';
import type {
  AttemptOutcome,
  DeliveryAttempt,
  DeliveryLogEntry,
  DeliveryStatus,
  ListDeliveriesQuery,
} from './webhook.types';

type Row = Record<string, unknown>;

/** A row as the dispatcher's transaction writes it. */
export interface NewDelivery {
  id: string;
  endpoint_id: string;
  organisation_id: string;
  workspace_id: string | null;
  event_id: string;
  event_seq: number;
  rule_index: number | null;
  match_hash: string | null;
  match_index: number | null;
  body: string | null;
  status: DeliveryStatus;
  error: string | null;
  /** When the delivery was made (wall clock); the entry's log time is assigned from it by `insert`. */
  created_at: string;
}

/** A pending row a worker holds a lease on. */
export interface LeasedDelivery {
  id: string;
  endpoint_id: string;
  attempts: number;
  body: string;
  lease_until: string;
}

/** How an attempt leaves its delivery. */
export interface Completion {
  status: DeliveryStatus;
  attempts: number;
  response_status: number | null;
  error: string | null;
  duration_ms: number;
  delivered_at: string | null;
  next_attempt_at: string | null;
  at: string;
}

const LOG_COLUMNS =
  'id, endpoint_id, event_id, event_seq, rule_index, match_hash, match_index, status, attempts, response_status, error, created_at, delivered_at, duration_ms';

const nullableNumber = (value: unknown): number | null =>
  value === null || value === undefined ? null : Number(value);

function logEntry(row: Row): DeliveryLogEntry {
  return {
    id: row.id as string,
    endpoint_id: row.endpoint_id as string,
    event_id: row.event_id as string,
    event_seq: Number(row.event_seq),
    rule_index: nullableNumber(row.rule_index),
    match_hash: (row.match_hash as string | null) ?? null,
    match_index: nullableNumber(row.match_index),
    status: row.status as DeliveryStatus,
    attempts: Number(row.attempts),
    response_status: nullableNumber(row.response_status),
    error: (row.error as string | null) ?? null,
    created_at: row.created_at as string,
    delivered_at: (row.delivered_at as string | null) ?? null,
    duration_ms: nullableNumber(row.duration_ms),
  };
}

/** Keeps multi-row inserts well inside both engines' limits on bound parameters. */
const INSERT_CHUNK = 500;
/** SQLite allows at most 500 terms in one compound SELECT. */
const UNION_CHUNK = 200;

/** How often a claim asks again for the claim lock while another node holds it. */
const CLAIM_LOCK_RETRY_MS = 5;

/** Data access for the delivery outbox/log and its attempts. */
@Injectable()
export class DeliveryStore {
  private readonly logTimeLock: number;

  constructor(
    private readonly db: Database,
    @Inject(APP_CONFIG) config: AppConfig,
  ) {
    this.logTimeLock = schemaLockKey('delivery-log-time', config.database.schema);
  }

  private sql(): Sql {
    return new Sql(this.db.isPostgres);
  }

  /**
   * Writes new deliveries and gives each its log time (`created_at`, see history-page.ts):
   * consecutive microseconds from the rows' wall-clock time, or from just past the newest entry
   * of the log when that is later, so no two entries share a time and times follow the order
   * entries were committed in, across the cluster. On Postgres one advisory lock, held until the
   * transaction ends, serialises writers of the log (in practice the active dispatcher alone, so
   * nobody waits); SQLite serialises transactions already. The unique index on
   * (organisation_id, created_at) backs this up. Returns the times given, in row order.
   */
  async insert(m: EntityManager, rows: NewDelivery[]): Promise<string[]> {
    if (!rows.length) return [];
    if (this.db.isPostgres) await m.query('SELECT pg_advisory_xact_lock($1)', [this.logTimeLock]);
    // MAX reads the ix_webhook_deliveries_created index; under the lock it sees every committed entry.
    const [{ newest }] = (await m.query('SELECT MAX(created_at) AS newest FROM webhook_deliveries')) as {
      newest: string | null;
    }[];
    const clock = rows.reduce((latest, r) => (r.created_at > latest ? r.created_at : latest), rows[0].created_at);
    const times = nextLogTimes(clock, newest, rows.length);
    for (let i = 0; i < rows.length; i += INSERT_CHUNK) {
      const sql = this.sql();
      const values = rows
        .slice(i, i + INSERT_CHUNK)
        .map(
          (r, j) =>
            `(${sql.list([
              r.id,
              r.endpoint_id,
              r.organisation_id,
              r.workspace_id,
              r.event_id,
              r.event_seq,
              r.rule_index,
              r.match_hash,
              r.match_index,
              r.body,
              r.status,
              r.status === 'pending' ? r.created_at : null,
              r.error,
              times[i + j],
              r.created_at,
            ])}, 0)`,
        )
        .join(', ');
      await sql.run(
        m,
        `INSERT INTO webhook_deliveries (id, endpoint_id, organisation_id, workspace_id, event_id, event_seq, rule_index, match_hash, match_index,
           body, status, next_attempt_at, error, created_at, updated_at, attempts)
         VALUES ${values}`,
      );
    }
    return times;
  }

  /**
   * Serialises claims across the cluster until this transaction ends, so the leases one claim
   * counts per endpoint cannot change under it (another node's claim waits its turn: a few ms).
   * Never waits longer than `waitMs`: a node frozen mid-claim must not stall every other node's
   * worker, so after that this claim is skipped (false) and the worker tries again at its next
   * poll. SQLite has one process and serialises transactions already.
   */
  async lockClaims(m: EntityManager, key: number, waitMs: number): Promise<boolean> {
    if (!this.db.isPostgres) return true;
    const deadline = Date.now() + waitMs;
    for (;;) {
      const [row] = (await m.query('SELECT pg_try_advisory_xact_lock($1) AS locked', [key])) as { locked: boolean }[];
      if (row.locked) return true;
      if (Date.now() >= deadline) return false;
      await new Promise((resolve) => setTimeout(resolve, CLAIM_LOCK_RETRY_MS));
    }
  }

  /**
   * Every endpoint with a due row not under a lease or with requests in flight: its organisation,
   * how many requests it has in flight on any node (rows whose lease runs past `inFlightAfter`,
   * see the worker) and when its oldest row not under a lease is due. The
   * endpoints owing anything are found by skipping through ix_webhook_deliveries_endpoint_due one
   * endpoint at a time, a few index probes each, so the cost follows how many endpoints owe work,
   * not how long one endpoint's backlog is. Leases are counted on ix_webhook_deliveries_leased.
   */
  async owingEndpoints(m: EntityManager, now: string, inFlightAfter: string): Promise<OwingEndpoint[]> {
    const sql = this.sql();
    const rows = await sql.run(
      m,
      `WITH RECURSIVE owing(endpoint_id) AS (
         SELECT MIN(endpoint_id) FROM webhook_deliveries WHERE status = 'pending'
         UNION ALL
         SELECT (SELECT MIN(d.endpoint_id) FROM webhook_deliveries d WHERE d.status = 'pending' AND d.endpoint_id > owing.endpoint_id)
         FROM owing WHERE owing.endpoint_id IS NOT NULL
       ),
       leased AS (
         SELECT endpoint_id, COUNT(*) AS n FROM webhook_deliveries WHERE status = 'pending' AND lease_until > ${sql.p(inFlightAfter)} GROUP BY endpoint_id
       ),
       summary AS MATERIALIZED (
         SELECT o.endpoint_id, COALESCE(l.n, 0) AS leased,
           (SELECT MIN(u.next_attempt_at) FROM webhook_deliveries u
            WHERE u.status = 'pending' AND u.endpoint_id = o.endpoint_id AND (u.lease_until IS NULL OR u.lease_until <= ${sql.p(now)})) AS oldest
         FROM owing o LEFT JOIN leased l ON l.endpoint_id = o.endpoint_id
         WHERE o.endpoint_id IS NOT NULL
       )
       SELECT s.endpoint_id, s.leased, s.oldest,
         (SELECT x.organisation_id FROM webhook_deliveries x WHERE x.status = 'pending' AND x.endpoint_id = s.endpoint_id LIMIT 1) AS organisation_id
       FROM summary s WHERE s.oldest <= ${sql.p(now)} OR s.leased > 0`,
    );
    return rows.map((r) => ({
      endpoint_id: r.endpoint_id as string,
      organisation_id: r.organisation_id as string,
      leased: Number(r.leased),
      oldest: (r.oldest as string | null) ?? null,
    }));
  }

  /** Each given endpoint's oldest due rows not under a lease, up to its limit: index range scans, never a whole backlog. */
  async dueRows(m: EntityManager, endpoints: { endpoint_id: string; limit: number }[], now: string): Promise<DueRow[]> {
    const wanted = endpoints.filter((e) => e.limit > 0);
    if (!wanted.length) return [];
    const due = (sql: Sql, endpoint: string) =>
      `d.status = 'pending' AND d.endpoint_id = ${endpoint} AND d.next_attempt_at <= ${sql.p(now)} AND (d.lease_until IS NULL OR d.lease_until <= ${sql.p(now)})`;
    const columns = 'd.id, d.endpoint_id, d.organisation_id, d.attempts, d.next_attempt_at';
    const rows: Row[] = [];
    if (this.db.isPostgres) {
      const sql = this.sql();
      const ids = sql.p(wanted.map((e) => e.endpoint_id));
      const limits = sql.p(wanted.map((e) => e.limit));
      rows.push(
        ...(await sql.run(
          m,
          `SELECT c.* FROM unnest(${ids}::varchar[], ${limits}::int[]) AS q(endpoint_id, n)
           CROSS JOIN LATERAL (SELECT ${columns} FROM webhook_deliveries d WHERE ${due(sql, 'q.endpoint_id')} ORDER BY d.next_attempt_at LIMIT q.n) c`,
        )),
      );
    } else {
      // SQLite has no LATERAL; one limited SELECT per endpoint, joined (in-process, so no round trips).
      for (let i = 0; i < wanted.length; i += UNION_CHUNK) {
        const sql = this.sql();
        const arms = wanted
          .slice(i, i + UNION_CHUNK)
          .map(
            (e) =>
              `SELECT * FROM (SELECT ${columns} FROM webhook_deliveries d WHERE ${due(sql, sql.p(e.endpoint_id))} ORDER BY d.next_attempt_at LIMIT ${sql.p(e.limit)})`,
          );
        rows.push(...(await sql.run(m, arms.join(' UNION ALL '))));
      }
    }
    return rows.map((r) => ({
      id: r.id as string,
      endpoint_id: r.endpoint_id as string,
      organisation_id: r.organisation_id as string,
      attempts: Number(r.attempts),
      next_attempt_at: r.next_attempt_at as string,
    }));
  }

  /**
   * Leases the given rows that are still pending and unleased (a row settled or leased since it
   * was read is left out; on Postgres a row another transaction is writing is skipped, not waited
   * for). Returns the leased rows in the order given.
   */
  async lease(m: EntityManager, ids: string[], now: string, leaseUntil: string): Promise<LeasedDelivery[]> {
    if (!ids.length) return [];
    // Placeholders are made in the order they appear (SQLite binds `?` by position).
    const update = this.sql();
    const set = `SET lease_until = ${update.p(leaseUntil)}`;
    const still = `id IN (${update.list(ids)}) AND status = 'pending' AND (lease_until IS NULL OR lease_until <= ${update.p(now)})`;
    await update.run(
      m,
      this.db.isPostgres
        ? `UPDATE webhook_deliveries ${set} WHERE id IN (SELECT id FROM webhook_deliveries WHERE ${still} FOR UPDATE SKIP LOCKED)`
        : `UPDATE webhook_deliveries ${set} WHERE ${still}`,
    );
    const read = this.sql();
    const rows = await read.run(
      m,
      `SELECT id, endpoint_id, attempts, body, lease_until FROM webhook_deliveries
       WHERE id IN (${read.list(ids)}) AND status = 'pending' AND lease_until = ${read.p(leaseUntil)}`,
    );
    const byId = new Map(
      rows.map((r) => [
        r.id as string,
        {
          id: r.id as string,
          endpoint_id: r.endpoint_id as string,
          attempts: Number(r.attempts),
          body: r.body as string,
          lease_until: r.lease_until as string,
        },
      ]),
    );
    return ids.flatMap((id) => byId.get(id) ?? []);
  }

  /**
   * Records an attempt's result, unless the lease was lost meanwhile (the endpoint was blocked or
   * removed, or the lease ran out and another node took the row). Returns whether it was recorded.
   */
  async complete(m: EntityManager, id: string, lease: string, c: Completion): Promise<boolean> {
    const check = this.sql();
    const [held] = await check.run<{ lease_until: string | null }>(
      m,
      `SELECT lease_until FROM webhook_deliveries WHERE id = ${check.p(id)} AND status = 'pending'${this.db.isPostgres ? ' FOR UPDATE' : ''}`,
    );
    if (held?.lease_until !== lease) return false;
    const final = c.status !== 'pending';
    const sql = this.sql();
    await sql.run(
      m,
      `UPDATE webhook_deliveries SET status = ${sql.p(c.status)}, attempts = ${sql.p(c.attempts)}, response_status = ${sql.p(c.response_status)},
         error = ${sql.p(c.error)}, duration_ms = ${sql.p(c.duration_ms)}, delivered_at = ${sql.p(c.delivered_at)},
         next_attempt_at = ${sql.p(c.next_attempt_at)}, lease_until = NULL, updated_at = ${sql.p(c.at)}${final ? ', body = NULL' : ''}
       WHERE id = ${sql.p(id)}`,
    );
    return true;
  }

  async addAttempt(m: EntityManager, deliveryId: string, a: DeliveryAttempt): Promise<void> {
    const sql = this.sql();
    await sql.run(
      m,
      `INSERT INTO webhook_attempts (delivery_id, attempt, outcome, response_status, error, duration_ms, attempted_at)
       VALUES (${sql.list([deliveryId, a.attempt, a.outcome, a.response_status, a.error, a.duration_ms, a.attempted_at])})`,
    );
  }

  /** Lets another worker take a row at once (this one is shutting down before it got an answer). */
  async releaseLease(id: string, lease: string): Promise<void> {
    await this.db.transaction(async (m) => {
      const sql = this.sql();
      await sql.run(
        m,
        `UPDATE webhook_deliveries SET lease_until = NULL WHERE id = ${sql.p(id)} AND lease_until = ${sql.p(lease)} AND status = 'pending'`,
      );
    });
  }

  /** Ends the given pending rows (or an endpoint's rows not in flight now) with a final status. */
  async settle(
    m: EntityManager,
    where: { ids: string[] } | { endpoint_id: string; now: string },
    status: DeliveryStatus,
    error: string | null,
    at: string,
  ): Promise<void> {
    if ('ids' in where && !where.ids.length) return;
    // Placeholders are numbered in the order they are made (SQLite binds `?` by position): SET first, then WHERE.
    const sql = this.sql();
    const set = `status = ${sql.p(status)}, error = ${sql.p(error)}, body = NULL, next_attempt_at = NULL, lease_until = NULL, updated_at = ${sql.p(at)}`;
    const scope =
      'ids' in where
        ? `id IN (${sql.list(where.ids)})`
        : `endpoint_id = ${sql.p(where.endpoint_id)} AND (lease_until IS NULL OR lease_until <= ${sql.p(where.now)})`;
    await sql.run(m, `UPDATE webhook_deliveries SET ${set} WHERE ${scope} AND status = 'pending'`);
  }

  // ---------------------------------------------------------------------------------------
  // History

  /**
   * One page of the log: at most `limit` entries strictly before (newest first) or after (oldest
   * first) `datetime`, which must already be in the log's form (see `historyCursor`). Log times
   * are unique, so the next page starts right after the last entry of this one.
   */
  async list(q: ListDeliveriesQuery & { direction: 'before' | 'after' }): Promise<DeliveryLogEntry[]> {
    const newestFirst = q.direction === 'before';
    return this.db.read(async (m) => {
      const page = this.filtered(q);
      if (q.datetime !== undefined) page.where.push(`created_at ${newestFirst ? '<' : '>'} ${page.sql.p(q.datetime)}`);
      const rows = await page.sql.run(
        m,
        `SELECT ${LOG_COLUMNS} FROM webhook_deliveries WHERE ${page.where.join(' AND ')} ORDER BY created_at ${newestFirst ? 'DESC' : 'ASC'} LIMIT ${page.sql.p(q.limit)}`,
      );
      return rows.map(logEntry);
    });
  }

  private filtered(q: ListDeliveriesQuery): { sql: Sql; where: string[] } {
    const sql = this.sql();
    const where = [`organisation_id = ${sql.p(q.organisation_id)}`];
    if (q.workspace_id !== undefined) where.push(`workspace_id = ${sql.p(q.workspace_id)}`);
    if (q.endpoint_id !== undefined) where.push(`endpoint_id = ${sql.p(q.endpoint_id)}`);
    if (q.status !== undefined) where.push(`status = ${sql.p(q.status)}`);
    return { sql, where };
  }

  async attempts(organisationId: string, deliveryId: string): Promise<DeliveryAttempt[]> {
    return this.db.read(async (m) => {
      const sql = this.sql();
      const rows = await sql.run(
        m,
        `SELECT a.attempt, a.outcome, a.response_status, a.error, a.duration_ms, a.attempted_at
         FROM webhook_attempts a JOIN webhook_deliveries d ON d.id = a.delivery_id
         WHERE d.organisation_id = ${sql.p(organisationId)} AND a.delivery_id = ${sql.p(deliveryId)} ORDER BY a.attempt`,
      );
      return rows.map((r) => ({
        attempt: Number(r.attempt),
        outcome: r.outcome as AttemptOutcome,
        response_status: nullableNumber(r.response_status),
        error: (r.error as string | null) ?? null,
        duration_ms: Number(r.duration_ms),
        attempted_at: r.attempted_at as string,
      }));
    });
  }

  // ---------------------------------------------------------------------------------------
  // Housekeeping and metrics

  /** Removes final rows (and their attempts) created before `cutoff`; returns how many rows went. */
  async prune(cutoff: string): Promise<number> {
    return this.db.transaction(async (m) => {
      const count = this.sql();
      const [{ n }] = await count.run<{ n: number | string }>(
        m,
        `SELECT COUNT(*) AS n FROM webhook_deliveries WHERE created_at < ${count.p(cutoff)} AND status <> 'pending'`,
      );
      if (!Number(n)) return 0;
      const attempts = this.sql();
      await attempts.run(
        m,
        `DELETE FROM webhook_attempts WHERE delivery_id IN (SELECT id FROM webhook_deliveries WHERE created_at < ${attempts.p(cutoff)} AND status <> 'pending')`,
      );
      const deliveries = this.sql();
      await deliveries.run(
        m,
        `DELETE FROM webhook_deliveries WHERE created_at < ${deliveries.p(cutoff)} AND status <> 'pending'`,
      );
      return Number(n);
    });
  }

  async queue(): Promise<{ depth: number; oldest: string | null }> {
    return this.db.read(async (m) => {
      const [row] = await m.query(
        `SELECT COUNT(*) AS n, MIN(created_at) AS oldest FROM webhook_deliveries WHERE status = 'pending'`,
      );
      return { depth: Number(row?.n ?? 0), oldest: (row?.oldest as string | null) ?? null };
    });
  }
}
