import { Inject, Injectable } from '@nestjs/common';
import type { EntityManager, SelectQueryBuilder } from 'typeorm';
import { APP_CONFIG, type AppConfig } from '../config';
import { schemaLockKey } from '../database/lock-keys';
import { Database, LOCK_NOT_AVAILABLE, sqlState, valuesList } from '../database/database.service';
import type { DueRow, OwingEndpoint } from './claim-plan';
import { nextLogTimes } from './history-page';
import { WebhookAttemptEntity } from './webhook-attempt.entity';
import { WebhookDeliveryEntity } from './webhook-delivery.entity';
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
  /** Where the current retry schedule began (see WebhookDeliveryEntity.retry_base). */
  retry_base: number;
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

const LOG_COLUMNS = [
  'id',
  'endpoint_id',
  'workspace_id',
  'event_id',
  'event_seq',
  'rule_index',
  'match_hash',
  'match_index',
  'status',
  'attempts',
  'response_status',
  'error',
  'created_at',
  'delivered_at',
  'duration_ms',
  'next_attempt_at',
] as const;

/** The columns a new delivery is inserted with, in `insert`'s value order; the rest stay NULL until it is worked off. */
const INSERT_COLUMNS = [
  'id',
  'endpoint_id',
  'organisation_id',
  'workspace_id',
  'event_id',
  'event_seq',
  'rule_index',
  'match_hash',
  'match_index',
  'body',
  'status',
  'next_attempt_at',
  'error',
  'created_at',
  'updated_at',
  'attempts',
] as const;

const nullableNumber = (value: unknown): number | null =>
  value === null || value === undefined ? null : Number(value);

function logEntry(row: Row): DeliveryLogEntry {
  return {
    id: row.id as string,
    endpoint_id: row.endpoint_id as string,
    workspace_id: (row.workspace_id as string | null) ?? null,
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
    next_attempt_at: (row.next_attempt_at as string | null) ?? null,
  };
}

/** Selects the given columns of `alias`, each under its own name, for `getRawMany`. */
function selectColumns<T extends object>(
  qb: SelectQueryBuilder<T>,
  alias: string,
  columns: readonly string[],
): SelectQueryBuilder<T> {
  columns.forEach((c, i) => (i ? qb.addSelect(`${alias}.${c}`, c) : qb.select(`${alias}.${c}`, c)));
  return qb;
}

/**
 * Raw SQL with named parameters (`:now`, `:...ids`), bound the way the query builder binds them
 * on the engine at hand (`$n` on Postgres, `?` on SQLite), so parameter order never matters.
 */
function rawQuery<T = Row>(m: EntityManager, text: string, parameters: Record<string, unknown>): Promise<T[]> {
  const [sql, bound] = m.connection.driver.escapeQueryWithParameters(text, parameters);
  return m.query(sql, bound);
}

/** Claim webhooks' deliveries (no workspace), and workspace subscriptions' only in `workspaces`. */
function inWorkspaces<T extends object>(q: SelectQueryBuilder<T>, workspaces: string[]): void {
  if (!workspaces.length) q.andWhere('d.workspace_id IS NULL');
  else q.andWhere('(d.workspace_id IS NULL OR d.workspace_id IN (:...workspaces))', { workspaces });
}

/** Keeps multi-row inserts well inside both engines' limits on bound parameters. */
const INSERT_CHUNK = 500;
/** Rows of one completion UPDATE (10 values each) and one attempts INSERT (9 each), well inside parameter limits. */
const COMPLETE_CHUNK = 200;
// The worker's result groups (RECORD_GROUP_MAX) are no larger, so `recordDelivered` is one statement.
const ATTEMPT_CHUNK = 200;
/** SQLite allows at most 500 terms in one compound SELECT. */
const UNION_CHUNK = 200;

/**
 * The claim's question "which endpoints owe work?" (`owingEndpointsAcrossTenants`), exported so
 * that its plan can be checked. Raw SQL: a recursive CTE (an index skip scan) the query builder
 * cannot build. The endpoints owing anything are found by skipping through
 * ix_webhook_deliveries_endpoint_due one endpoint at a time, leases are counted by a range scan
 * of ix_webhook_deliveries_leased, and each endpoint's oldest row and organisation are one probe
 * of ix_webhook_deliveries_endpoint_due each, so the cost follows how many endpoints owe work,
 * not how long their backlog is.
 *
 * Every lookup says its order (`ORDER BY … LIMIT 1` rather than `MIN`, `ORDER BY lease_until`
 * on the leases) so that only the index above serves it without a sort. Without that, statistics
 * taken while nothing was pending (the usual state) made every index on `status` look equally
 * cheap, and the planner scanned the whole backlog once per endpoint through the wrong one: with
 * 15,000 rows pending to 600 endpoints a claim read 67,000 buffers instead of 8,800, the two
 * nodes' serialised claims fell to about 100 deliveries a second, and a burst over capacity grew
 * its own backlog instead of draining it.
 */
export const OWING_ENDPOINTS_SQL = `WITH RECURSIVE owing(endpoint_id) AS (
    SELECT (SELECT d.endpoint_id FROM webhook_deliveries d WHERE d.status = 'pending' ORDER BY d.endpoint_id LIMIT 1)
    UNION ALL
    SELECT (SELECT d.endpoint_id FROM webhook_deliveries d
            WHERE d.status = 'pending' AND d.endpoint_id > owing.endpoint_id ORDER BY d.endpoint_id LIMIT 1)
    FROM owing WHERE owing.endpoint_id IS NOT NULL
  ),
  in_flight AS MATERIALIZED (
    SELECT endpoint_id FROM webhook_deliveries WHERE status = 'pending' AND lease_until > :inFlightAfter ORDER BY lease_until
  ),
  leased AS (SELECT endpoint_id, COUNT(*) AS n FROM in_flight GROUP BY endpoint_id),
  summary AS MATERIALIZED (
    SELECT o.endpoint_id, COALESCE(l.n, 0) AS leased,
      (SELECT u.next_attempt_at FROM webhook_deliveries u
       WHERE u.status = 'pending' AND u.endpoint_id = o.endpoint_id AND u.next_attempt_at IS NOT NULL
         AND (u.lease_until IS NULL OR u.lease_until <= :now)
       ORDER BY u.next_attempt_at LIMIT 1) AS oldest
    FROM owing o LEFT JOIN leased l ON l.endpoint_id = o.endpoint_id
    WHERE o.endpoint_id IS NOT NULL
  )
  SELECT s.endpoint_id, s.leased, s.oldest,
    (SELECT x.organisation_id FROM webhook_deliveries x
     WHERE x.status = 'pending' AND x.endpoint_id = s.endpoint_id ORDER BY x.next_attempt_at LIMIT 1) AS organisation_id
  FROM summary s WHERE s.oldest <= :now OR s.leased > 0`;

/** Another node's claim held the claim lock longer than this one would wait. */
export class ClaimLockBusy extends Error {
  constructor(waitMs: number) {
    super(`the claim lock was held by another claim for more than ${waitMs} ms`);
    this.name = 'ClaimLockBusy';
  }
}

/** A pending row no worker holds a live lease on (`:now`). */
const NOT_LEASED = "status = 'pending' AND (lease_until IS NULL OR lease_until <= :now)";

/**
 * Data access for the delivery outbox/log and its attempts. Log reads are scoped to an
 * organisation; the worker's claim, its writes to the rows it leased, retention and the queue
 * gauges work across tenants and say so.
 */
@Injectable()
export class DeliveryStore {
  private readonly logTimeLock: number;

  constructor(
    private readonly db: Database,
    @Inject(APP_CONFIG) config: AppConfig,
  ) {
    this.logTimeLock = schemaLockKey('delivery-log-time', config.database.schema);
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
    // Raw SQL: an advisory lock is a function call, not a table query.
    if (this.db.isPostgres) await m.query('SELECT pg_advisory_xact_lock($1)', [this.logTimeLock]);
    // MAX reads the ix_webhook_deliveries_created index; under the lock it sees every committed entry.
    const newest = await m
      .createQueryBuilder(WebhookDeliveryEntity, 'd')
      .select('MAX(d.created_at)', 'newest')
      .getRawOne<{ newest: string | null }>();
    const clock = rows.reduce((latest, r) => (r.created_at > latest ? r.created_at : latest), rows[0].created_at);
    const times = nextLogTimes(clock, newest?.newest ?? null, rows.length);
    for (let i = 0; i < rows.length; i += INSERT_CHUNK) {
      const { text, params } = valuesList(
        rows
          .slice(i, i + INSERT_CHUNK)
          .map((r, j) => [
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
            0,
          ]),
      );
      // Raw SQL: the dispatcher's hot path, which the query builder made 3-8x slower on SQLite (per-value parameter bookkeeping).
      await this.db.query(m, `INSERT INTO webhook_deliveries (${INSERT_COLUMNS.join(', ')}) VALUES ${text}`, params);
    }
    return times;
  }

  // ---------------------------------------------------------------------------------------
  // The worker: claims and the rows it leased, across tenants

  /**
   * Serialises claims across the cluster until this transaction ends, so the leases one claim
   * counts per endpoint cannot change under it (another node's claim waits its turn: a few ms,
   * and goes on the moment that claim commits). Never waits longer than `waitMs`: a node frozen
   * mid-claim must not stall every other node's worker, so after that it throws ClaimLockBusy,
   * the transaction is aborted (it can only roll back) and the worker tries again at its next
   * wake-up. The wait limit is this transaction's `lock_timeout` from here on (a statement
   * timeout shorter than the wait ends it first, as an ordinary error). SQLite has one process
   * and serialises transactions already.
   */
  async lockClaims(m: EntityManager, key: number, waitMs: number): Promise<void> {
    if (!this.db.isPostgres) return;
    try {
      // Raw SQL: an advisory lock is a function call, not a table query. One round trip: CASE
      // evaluates its condition first, so the transaction's lock_timeout is set before the wait.
      await m.query(
        `SELECT CASE WHEN set_config('lock_timeout', $2, true) IS NOT NULL THEN pg_advisory_xact_lock($1) END`,
        [key, `${Math.max(1, Math.round(waitMs))}ms`],
      );
    } catch (err) {
      if (sqlState(err) === LOCK_NOT_AVAILABLE) throw new ClaimLockBusy(waitMs);
      throw err;
    }
  }

  /**
   * Cluster-wide, for the worker: whether any row is due at `now` and under no live lease, that
   * is, whether a claim could find anything. One short index range scan (it steps over the rows
   * in flight), outside any transaction and lock: a wake-up for work another node has already
   * leased costs this one statement instead of a claim. The ORDER BY keeps it on
   * ix_webhook_deliveries_due even when stale statistics make a sequential scan look cheap.
   */
  async anyClaimableAcrossTenants(now: string): Promise<boolean> {
    const rows = await this.db.read((m) =>
      rawQuery(
        m,
        `SELECT 1 AS due FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at <= :now AND (lease_until IS NULL OR lease_until <= :now) ORDER BY next_attempt_at LIMIT 1`,
        { now },
      ),
    );
    return rows.length > 0;
  }

  /**
   * Cluster-wide, for the worker's claim: every endpoint with a due row not under a lease or
   * with requests in flight: its organisation, how many requests it has in flight on any node
   * (rows whose lease runs past `inFlightAfter`, see the worker) and when its oldest row not
   * under a lease is due (`OWING_ENDPOINTS_SQL`).
   */
  async owingEndpointsAcrossTenants(m: EntityManager, now: string, inFlightAfter: string): Promise<OwingEndpoint[]> {
    const rows = await rawQuery(m, OWING_ENDPOINTS_SQL, { now, inFlightAfter });
    return rows.map((r) => ({
      endpoint_id: r.endpoint_id as string,
      organisation_id: r.organisation_id as string,
      leased: Number(r.leased),
      oldest: (r.oldest as string | null) ?? null,
    }));
  }

  /**
   * Cluster-wide, for the worker's claim: each given endpoint's oldest due rows not under a
   * lease, up to its limit: index range scans, never a whole backlog.
   */
  async dueRowsAcrossTenants(
    m: EntityManager,
    endpoints: { endpoint_id: string; limit: number }[],
    now: string,
  ): Promise<DueRow[]> {
    const wanted = endpoints.filter((e) => e.limit > 0);
    if (!wanted.length) return [];
    const due = (endpoint: string) =>
      `d.status = 'pending' AND d.endpoint_id = ${endpoint} AND d.next_attempt_at <= :now AND (d.lease_until IS NULL OR d.lease_until <= :now)`;
    const columns = 'd.id, d.endpoint_id, d.organisation_id, d.attempts, d.next_attempt_at';
    const rows: Row[] = [];
    if (this.db.isPostgres) {
      // Raw SQL: a LATERAL join over unnested arrays (one limited index scan per endpoint) the query builder cannot build.
      rows.push(
        ...(await rawQuery(
          m,
          `SELECT c.* FROM unnest(:ids::varchar[], :limits::int[]) AS q(endpoint_id, n)
           CROSS JOIN LATERAL (SELECT ${columns} FROM webhook_deliveries d WHERE ${due('q.endpoint_id')} ORDER BY d.next_attempt_at LIMIT q.n) c`,
          { ids: wanted.map((e) => e.endpoint_id), limits: wanted.map((e) => e.limit), now },
        )),
      );
    } else {
      // Raw SQL: SQLite has no LATERAL and the query builder no UNION; one limited SELECT per endpoint, in one statement.
      for (let i = 0; i < wanted.length; i += UNION_CHUNK) {
        const chunk = wanted.slice(i, i + UNION_CHUNK);
        const parameters: Record<string, unknown> = { now };
        const arms = chunk.map((e, j) => {
          parameters[`endpoint${j}`] = e.endpoint_id;
          parameters[`limit${j}`] = e.limit;
          return `SELECT * FROM (SELECT ${columns} FROM webhook_deliveries d WHERE ${due(`:endpoint${j}`)} ORDER BY d.next_attempt_at LIMIT :limit${j})`;
        });
        rows.push(...(await rawQuery(m, arms.join(' UNION ALL '), parameters)));
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
    // Raw SQL: runs on every claim; one statement leases and reads back (RETURNING), and fixed
    // statement text keeps SQLite's prepared statements cached (the builder measurably slowed the
    // webhook bench). Postgres skips rows another worker holds (FOR UPDATE SKIP LOCKED); SQLite
    // serialises transactions anyway.
    const list = ids.map((_, i) => `$${i + 3}`).join(', ');
    const still = `id IN (${list}) AND status = 'pending' AND (lease_until IS NULL OR lease_until <= $2)`;
    const rows = await this.db.query<Row>(
      m,
      `UPDATE webhook_deliveries SET lease_until = $1 WHERE ${
        this.db.isPostgres ? `id IN (SELECT id FROM webhook_deliveries WHERE ${still} FOR UPDATE SKIP LOCKED)` : still
      } RETURNING id, endpoint_id, attempts, retry_base, body, lease_until`,
      [leaseUntil, now, ...ids],
    );
    const byId = new Map(
      rows.map((r) => [
        r.id as string,
        {
          id: r.id as string,
          endpoint_id: r.endpoint_id as string,
          attempts: Number(r.attempts),
          retry_base: Number(r.retry_base),
          body: r.body as string,
          lease_until: r.lease_until as string,
        },
      ]),
    );
    return ids.flatMap((id) => byId.get(id) ?? []);
  }

  /**
   * Records attempts' results, each unless its lease was lost meanwhile (the endpoint was blocked
   * or removed, or the lease ran out and another node took the row), in one statement for the
   * whole batch. Returns the ids recorded. The lease is checked by the UPDATE itself: on Postgres
   * a row another transaction is writing is re-checked once that one ends.
   */
  async complete(
    m: EntityManager,
    done: { id: string; lease: string; completion: Completion }[],
  ): Promise<Set<string>> {
    const recorded = new Set<string>();
    for (let i = 0; i < done.length; i += COMPLETE_CHUNK) {
      const { text, params } = valuesList(
        done
          .slice(i, i + COMPLETE_CHUNK)
          .map(({ id, lease, completion: c }) => [
            id,
            lease,
            c.status,
            c.attempts,
            c.response_status,
            c.error,
            c.duration_ms,
            c.delivered_at,
            c.next_attempt_at,
            c.at,
          ]),
      );
      // Raw SQL: once per batch of finished attempts, an UPDATE joined to a VALUES list, which the
      // query builder cannot build. VALUES columns are column1… on both engines; Postgres reads
      // them as text, so integers are cast.
      const rows = await this.db.query<{ id: string }>(
        m,
        `UPDATE webhook_deliveries SET status = v.column3, attempts = CAST(v.column4 AS INTEGER),
           response_status = CAST(v.column5 AS INTEGER), error = v.column6, duration_ms = CAST(v.column7 AS INTEGER),
           delivered_at = v.column8, next_attempt_at = v.column9, lease_until = NULL, updated_at = v.column10,
           body = CASE WHEN v.column3 = 'pending' THEN webhook_deliveries.body ELSE NULL END
         FROM (VALUES ${text}) AS v
         WHERE webhook_deliveries.id = v.column1 AND webhook_deliveries.status = 'pending'
           AND webhook_deliveries.lease_until = v.column2
         RETURNING webhook_deliveries.id`,
        params,
      );
      for (const row of rows) recorded.add(row.id);
    }
    return recorded;
  }

  /**
   * Postgres only: what `complete`, `addAttempts` and `EndpointStore.recordSuccesses` write for a
   * group of delivered attempts, in one statement, so without a transaction around it (one
   * round trip instead of five). Each result is recorded only if its lease still holds, and only
   * recorded ones get their attempt logged and end their endpoint's failure streak. Returns the
   * ids recorded.
   */
  async recordDelivered(
    m: EntityManager,
    delivered: {
      id: string;
      lease: string;
      completion: Pick<Completion, 'attempts' | 'response_status' | 'duration_ms' | 'at'>;
      request_headers: Record<string, string>;
      response_body: string | null;
      endpoint: { organisation_id: string; id: string };
    }[],
  ): Promise<Set<string>> {
    const recorded = new Set<string>();
    for (let i = 0; i < delivered.length; i += COMPLETE_CHUNK) {
      const { text, params } = valuesList(
        delivered
          .slice(i, i + COMPLETE_CHUNK)
          .map(({ id, lease, completion: c, request_headers, response_body, endpoint }) => [
            id,
            lease,
            c.attempts,
            c.response_status,
            c.duration_ms,
            c.at,
            JSON.stringify(request_headers),
            response_body,
            endpoint.organisation_id,
            endpoint.id,
          ]),
      );
      // Raw SQL: data-modifying CTEs, which the query builder cannot build (and SQLite cannot run).
      // Every part sees the same snapshot; the attempts and streaks follow the rows `done` returns.
      const rows = await this.db.query<{ id: string }>(
        m,
        `WITH v (id, lease, attempts, response_status, duration_ms, at, request_headers, response_body, organisation_id, endpoint_id)
           AS (VALUES ${text}),
         done AS (
           UPDATE webhook_deliveries SET status = 'delivered', attempts = CAST(v.attempts AS INTEGER),
             response_status = CAST(v.response_status AS INTEGER), error = NULL,
             duration_ms = CAST(v.duration_ms AS INTEGER), delivered_at = v.at, next_attempt_at = NULL,
             lease_until = NULL, updated_at = v.at, body = NULL
           FROM v
           WHERE webhook_deliveries.id = v.id AND webhook_deliveries.status = 'pending'
             AND webhook_deliveries.lease_until = v.lease
           RETURNING webhook_deliveries.id),
         logged AS (
           INSERT INTO webhook_attempts (delivery_id, attempt, outcome, response_status, error, duration_ms, attempted_at,
             request_headers, response_body)
           SELECT v.id, CAST(v.attempts AS INTEGER), 'delivered', CAST(v.response_status AS INTEGER), NULL,
             CAST(v.duration_ms AS INTEGER), v.at, v.request_headers, v.response_body
           FROM v JOIN done ON done.id = v.id),
         streaks AS (
           UPDATE webhook_endpoints SET failing_since = NULL, failed_attempts = 0, failed_deliveries = 0, last_error = NULL
           FROM (SELECT DISTINCT v.organisation_id, v.endpoint_id FROM v JOIN done ON done.id = v.id) k
           WHERE webhook_endpoints.organisation_id = k.organisation_id AND webhook_endpoints.id = k.endpoint_id
             AND (webhook_endpoints.failing_since IS NOT NULL OR webhook_endpoints.failed_deliveries <> 0))
         SELECT id FROM done`,
        params,
      );
      for (const row of rows) recorded.add(row.id);
    }
    return recorded;
  }

  /** Adds attempts to the log, in one statement per INSERT_CHUNK. */
  async addAttempts(m: EntityManager, attempts: { delivery_id: string; attempt: DeliveryAttempt }[]): Promise<void> {
    for (let i = 0; i < attempts.length; i += ATTEMPT_CHUNK) {
      const { text, params } = valuesList(
        attempts
          .slice(i, i + ATTEMPT_CHUNK)
          .map(({ delivery_id, attempt: a }) => [
            delivery_id,
            a.attempt,
            a.outcome,
            a.response_status,
            a.error,
            a.duration_ms,
            a.attempted_at,
            a.request_headers && JSON.stringify(a.request_headers),
            a.response_body,
          ]),
      );
      // Raw SQL: once per batch of finished attempts, as for `complete`.
      await this.db.query(
        m,
        `INSERT INTO webhook_attempts (delivery_id, attempt, outcome, response_status, error, duration_ms, attempted_at,
           request_headers, response_body)
         VALUES ${text}`,
        params,
      );
    }
  }

  /** Releases leased rows unsent and makes them due again at `until` (attempts unchanged). */
  async postpone(m: EntityManager, ids: string[], until: string): Promise<void> {
    if (!ids.length) return;
    await m
      .createQueryBuilder()
      .update(WebhookDeliveryEntity)
      .set({ lease_until: null, next_attempt_at: until })
      .where("id IN (:...ids) AND status = 'pending'", { ids })
      .execute();
  }

  /** Makes one endpoint's owed rows that are not under a lease due at `now`. */
  async dueAgain(m: EntityManager, organisationId: string, endpointId: string, now: string): Promise<void> {
    await m
      .createQueryBuilder()
      .update(WebhookDeliveryEntity)
      .set({ next_attempt_at: now })
      .where(
        `organisation_id = :organisationId AND endpoint_id = :endpointId AND ${NOT_LEASED} AND next_attempt_at > :now`,
        {
          organisationId,
          endpointId,
          now,
        },
      )
      .execute();
  }

  /** Lets another worker take a row at once (this one is shutting down before it got an answer). */
  async releaseLease(id: string, lease: string): Promise<void> {
    await this.db.transaction(async (m) => {
      await m
        .createQueryBuilder()
        .update(WebhookDeliveryEntity)
        .set({ lease_until: null })
        .where("id = :id AND lease_until = :lease AND status = 'pending'", { id, lease })
        .execute();
    });
  }

  /**
   * Ends pending rows with a final status: the given ones (rows the worker leased), or those of
   * one endpoint of an organisation not in flight now.
   */
  async settle(
    m: EntityManager,
    where: { ids: string[] } | { organisation_id: string; endpoint_id: string; now: string },
    status: DeliveryStatus,
    error: string | null,
    at: string,
  ): Promise<void> {
    if ('ids' in where && !where.ids.length) return;
    const update = m
      .createQueryBuilder()
      .update(WebhookDeliveryEntity)
      .set({ status, error, body: null, next_attempt_at: null, lease_until: null, updated_at: at });
    if ('ids' in where) update.where("id IN (:...ids) AND status = 'pending'", { ids: where.ids });
    else
      update.where(`organisation_id = :organisationId AND endpoint_id = :endpointId AND ${NOT_LEASED}`, {
        organisationId: where.organisation_id,
        endpointId: where.endpoint_id,
        now: where.now,
      });
    await update.execute();
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
      const page = selectColumns(m.createQueryBuilder(WebhookDeliveryEntity, 'd'), 'd', LOG_COLUMNS).where(
        'd.organisation_id = :organisationId',
        { organisationId: q.organisation_id },
      );
      if (q.workspace_id !== undefined) page.andWhere('d.workspace_id = :workspaceId', { workspaceId: q.workspace_id });
      if (q.endpoint_id !== undefined) page.andWhere('d.endpoint_id = :endpointId', { endpointId: q.endpoint_id });
      if (q.owner_user_id !== undefined)
        page.andWhere(
          'd.endpoint_id IN (SELECT e.id FROM webhook_endpoints e WHERE e.organisation_id = :organisationId AND e.owner_user_id = :ownerUserId)',
          { ownerUserId: q.owner_user_id },
        );
      if (q.workspace_ids !== undefined) inWorkspaces(page, q.workspace_ids);
      if (q.event_id !== undefined) page.andWhere('d.event_id = :eventId', { eventId: q.event_id });
      if (q.status !== undefined) page.andWhere('d.status = :status', { status: q.status });
      if (q.since !== undefined) page.andWhere('d.created_at >= :since', { since: q.since });
      if (q.until !== undefined) page.andWhere('d.created_at < :until', { until: q.until });
      if (q.datetime !== undefined)
        page.andWhere(`d.created_at ${newestFirst ? '<' : '>'} :datetime`, { datetime: q.datetime });
      const rows = await page
        .orderBy('d.created_at', newestFirst ? 'DESC' : 'ASC')
        .limit(q.limit)
        .getRawMany<Row>();
      return rows.map(logEntry);
    });
  }

  /** A delivery's attempts, oldest first: the newest `limit` of them when given. */
  async attempts(organisationId: string, deliveryId: string, limit?: number): Promise<DeliveryAttempt[]> {
    return this.db.read(async (m) => {
      const q = m
        .createQueryBuilder(WebhookAttemptEntity, 'a')
        .innerJoin(WebhookDeliveryEntity, 'd', 'd.id = a.delivery_id')
        .select('a.attempt', 'attempt')
        .addSelect('a.outcome', 'outcome')
        .addSelect('a.response_status', 'response_status')
        .addSelect('a.error', 'error')
        .addSelect('a.duration_ms', 'duration_ms')
        .addSelect('a.attempted_at', 'attempted_at')
        .addSelect('a.request_headers', 'request_headers')
        .addSelect('a.response_body', 'response_body')
        .where('d.organisation_id = :organisationId', { organisationId })
        .andWhere('a.delivery_id = :deliveryId', { deliveryId })
        .orderBy('a.attempt', 'DESC');
      if (limit !== undefined) q.limit(limit);
      const rows = (await q.getRawMany<Row>()).reverse();
      return rows.map((r) => ({
        attempt: Number(r.attempt),
        outcome: r.outcome as AttemptOutcome,
        response_status: nullableNumber(r.response_status),
        error: (r.error as string | null) ?? null,
        duration_ms: Number(r.duration_ms),
        attempted_at: r.attempted_at as string,
        request_headers: r.request_headers ? (JSON.parse(r.request_headers as string) as Record<string, string>) : null,
        response_body: (r.response_body as string | null) ?? null,
      }));
    });
  }

  /**
   * One entry of an organisation's log, narrowed like `list`: only of endpoints `scope.owner_user_id`
   * owns, and of workspace subscriptions only in `scope.workspace_ids`, when given.
   */
  async findEntry(
    organisationId: string,
    id: string,
    scope: { owner_user_id?: string; workspace_ids?: string[] } = {},
  ): Promise<DeliveryLogEntry | undefined> {
    const ownerUserId = scope.owner_user_id;
    return this.db.read(async (m) => {
      const q = selectColumns(m.createQueryBuilder(WebhookDeliveryEntity, 'd'), 'd', LOG_COLUMNS)
        .where('d.organisation_id = :organisationId', { organisationId })
        .andWhere('d.id = :id', { id });
      if (scope.workspace_ids !== undefined) inWorkspaces(q, scope.workspace_ids);
      if (ownerUserId !== undefined)
        q.andWhere(
          'd.endpoint_id IN (SELECT e.id FROM webhook_endpoints e WHERE e.organisation_id = :organisationId AND e.owner_user_id = :ownerUserId)',
          { ownerUserId },
        );
      const row = await q.getRawOne<Row>();
      return row && logEntry(row);
    });
  }

  // ---------------------------------------------------------------------------------------
  // Resend and recover: final deliveries owed again

  /**
   * One endpoint's final deliveries in `statuses` with log times in [since, until), oldest first,
   * after the log time `after` (keyset paging over ix_webhook_deliveries_endpoint_created).
   */
  async finalRowsOf(
    m: EntityManager,
    organisationId: string,
    endpointId: string,
    statuses: DeliveryStatus[],
    range: { since: string; until?: string; after?: string },
    limit: number,
  ): Promise<{ id: string; event_id: string; event_seq: number; created_at: string }[]> {
    const q = m
      .createQueryBuilder(WebhookDeliveryEntity, 'd')
      .select('d.id', 'id')
      .addSelect('d.event_id', 'event_id')
      .addSelect('d.event_seq', 'event_seq')
      .addSelect('d.created_at', 'created_at')
      .where('d.endpoint_id = :endpointId AND d.organisation_id = :organisationId', { endpointId, organisationId })
      .andWhere('d.status IN (:...statuses)', { statuses })
      .andWhere('d.created_at >= :since', { since: range.since });
    if (range.until !== undefined) q.andWhere('d.created_at < :until', { until: range.until });
    if (range.after !== undefined) q.andWhere('d.created_at > :after', { after: range.after });
    const rows = await q.orderBy('d.created_at', 'ASC').limit(limit).getRawMany<Row>();
    return rows.map((r) => ({
      id: r.id as string,
      event_id: r.event_id as string,
      event_seq: Number(r.event_seq),
      created_at: r.created_at as string,
    }));
  }

  /**
   * Makes final deliveries owed again, each with its body and due time: `pending`, unleased, a new
   * retry schedule from the attempts made so far. A row that is no longer final (another resend
   * won the race) is left alone. Returns the ids requeued.
   */
  async requeue(
    m: EntityManager,
    organisationId: string,
    rows: { id: string; body: string; next_attempt_at: string }[],
    at: string,
  ): Promise<string[]> {
    const done: string[] = [];
    for (const r of rows) {
      const result = await m
        .createQueryBuilder()
        .update(WebhookDeliveryEntity)
        .set({
          status: 'pending',
          body: r.body,
          next_attempt_at: r.next_attempt_at,
          lease_until: null,
          retry_base: () => 'attempts',
          delivered_at: null,
          updated_at: at,
        })
        .where("id = :id AND organisation_id = :organisationId AND status <> 'pending'", {
          id: r.id,
          organisationId,
        })
        .execute();
      if (result.affected) done.push(r.id);
    }
    return done;
  }

  /** How many of one endpoint's deliveries ended `failed` and `blocked` (within retention), for the turn-on answer. */
  async undeliveredOf(organisationId: string, endpointId: string): Promise<{ failed: number; blocked: number }> {
    return this.db.read(async (m) => {
      const rows = await m
        .createQueryBuilder(WebhookDeliveryEntity, 'd')
        .select('d.status', 'status')
        .addSelect('COUNT(*)', 'n')
        .where('d.endpoint_id = :endpointId AND d.organisation_id = :organisationId', { endpointId, organisationId })
        .andWhere("d.status IN ('failed', 'blocked')")
        .groupBy('d.status')
        .getRawMany<{ status: string; n: number | string }>();
      const count = (status: string) => Number(rows.find((r) => r.status === status)?.n ?? 0);
      return { failed: count('failed'), blocked: count('blocked') };
    });
  }

  // ---------------------------------------------------------------------------------------
  // Housekeeping and metrics, across tenants

  /** Retention, cluster-wide: removes final rows (and their attempts) created before `cutoff`; returns how many rows went. */
  async pruneAcrossTenants(cutoff: string): Promise<number> {
    const final = "created_at < :cutoff AND status <> 'pending'";
    return this.db.transaction(async (m) => {
      const count = await m
        .createQueryBuilder(WebhookDeliveryEntity, 'd')
        .select('COUNT(*)', 'n')
        .where(final, { cutoff })
        .getRawOne<{ n: number | string }>();
      const n = Number(count?.n ?? 0);
      if (!n) return 0;
      const finalIds = m.createQueryBuilder(WebhookDeliveryEntity, 'f').select('f.id').where(final);
      await m
        .createQueryBuilder()
        .delete()
        .from(WebhookAttemptEntity)
        .where(`delivery_id IN (${finalIds.getQuery()})`, { cutoff })
        .execute();
      await m.createQueryBuilder().delete().from(WebhookDeliveryEntity).where(final, { cutoff }).execute();
      return n;
    });
  }

  /** The queue gauges, cluster-wide: rows still owed and the oldest one's log time. */
  async queueAcrossTenants(): Promise<{ depth: number; oldest: string | null }> {
    return this.db.read(async (m) => {
      const row = await m
        .createQueryBuilder(WebhookDeliveryEntity, 'd')
        .select('COUNT(*)', 'n')
        .addSelect('MIN(d.created_at)', 'oldest')
        .where("d.status = 'pending'")
        .getRawOne<{ n: number | string; oldest: string | null }>();
      return { depth: Number(row?.n ?? 0), oldest: row?.oldest ?? null };
    });
  }

  /**
   * Cluster-wide, for the per-state age gauges: the log time of the oldest owed delivery still
   * waiting for its first attempt, and of the oldest waiting for a retry. Reads only owed rows
   * (the `status` prefix of ix_webhook_deliveries_due), like the queue depth does.
   */
  async oldestOwedAcrossTenants(): Promise<{ first_attempt: string | null; retrying: string | null }> {
    return this.db.read(async (m) => {
      const row = await m
        .createQueryBuilder(WebhookDeliveryEntity, 'd')
        .select('MIN(CASE WHEN d.attempts = 0 THEN d.created_at END)', 'first_attempt')
        .addSelect('MIN(CASE WHEN d.attempts > 0 THEN d.created_at END)', 'retrying')
        .where("d.status = 'pending'")
        .getRawOne<{ first_attempt: string | null; retrying: string | null }>();
      return { first_attempt: row?.first_attempt ?? null, retrying: row?.retrying ?? null };
    });
  }
}
