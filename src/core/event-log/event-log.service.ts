import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { EventBus } from '../bus/event-bus';
import { APP_CONFIG, type AppConfig } from '../config';
import { Database, isSessionTimeout } from '../database/database.service';
import { nonOverlapping } from '../database/periodic';
import { Sql } from '../database/sql';
import { newId } from '../http/ids';
import { isoNow, toIso } from '../http/time';
import type { AppendResult, EventFilter, NewEvent, StoredEvent } from './event.types';

/**
 * Appends on Postgres are serialised by this transaction-scoped advisory lock: the seq is drawn
 * and committed while the lock is held, so seqs become visible strictly in order and a tailing
 * reader can never pass over one that commits late (ARCHITECTURE "Sequence gaps"). A waiter gives
 * up after DATABASE_LOCK_TIMEOUT (55P03) rather than hang behind a node that froze holding it;
 * the holder's transaction is ended by DATABASE_IDLE_IN_TRANSACTION_TIMEOUT.
 */
export const APPEND_LOCK_KEY = 7_220_002;
const RETENTION_CHECKPOINT = 'retention';
/** The durable path's consumer; retention never removes an event it has not processed. */
export const DISPATCHER_CONSUMER = 'dispatcher';
const PRUNE_EVERY_MS = 60 * 60 * 1000;
/** Seqs one retention transaction removes at most, so each DELETE stays well inside DATABASE_STATEMENT_TIMEOUT. */
const PRUNE_BATCH_SEQS = 10_000;
/** Most events one group commit carries (keeps each INSERT's parameter count bounded). */
const GROUP_COMMIT_MAX_EVENTS = 1000;

interface PendingAppend {
  inputs: NewEvent[];
  resolve(results: AppendResult[]): void;
  reject(err: unknown): void;
}

/** A stored event as the driver returns it: bigint seq may come back as a string, data as JSON text. */
type EventRow = Omit<StoredEvent, 'seq' | 'data'> & { seq: number | string; data: string };

function fromRow(row: EventRow): StoredEvent {
  return {
    seq: Number(row.seq),
    id: row.id,
    type: row.type,
    version: row.version,
    organisation_id: row.organisation_id,
    user_id: row.user_id,
    claim_id: row.claim_id,
    channel_id: row.channel_id,
    data: JSON.parse(row.data) as Record<string, unknown>,
    occurred_at: row.occurred_at,
    received_at: row.received_at,
  };
}

const COLUMNS =
  'seq, id, type, version, organisation_id, user_id, claim_id, channel_id, data, occurred_at, received_at';

/** `seq` in (after, upTo] and the filter's fields, as one WHERE clause. */
function rangeWhere(sql: Sql, after: number, filter: EventFilter, upTo?: number): string {
  const where = [`seq > ${sql.p(after)}`];
  if (upTo !== undefined) where.push(`seq <= ${sql.p(upTo)}`);
  if (filter.organisation_id !== undefined) where.push(`organisation_id = ${sql.p(filter.organisation_id)}`);
  if (filter.types?.length) where.push(`type IN (${sql.list(filter.types)})`);
  if (filter.user_id !== undefined) where.push(`user_id = ${sql.p(filter.user_id)}`);
  if (filter.claim_id !== undefined) where.push(`claim_id = ${sql.p(filter.claim_id)}`);
  if (filter.channel_id !== undefined) where.push(`channel_id = ${sql.p(filter.channel_id)}`);
  return where.join(' AND ');
}

/** Work that must commit together with the appended events (e.g. the notification row of seed 002). */
export type AlongsideAppend = (manager: EntityManager, results: AppendResult[]) => Promise<void>;

@Injectable()
export class EventLog implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('EventLog');
  private pruneTimer?: NodeJS.Timeout;
  private readonly waiting: PendingAppend[] = [];
  private flushing = false;

  constructor(
    private readonly db: Database,
    private readonly bus: EventBus,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  private sql(): Sql {
    return new Sql(this.db.isPostgres);
  }

  /**
   * Appends events in one transaction and returns them with their seqs, in input order. An
   * event whose producer id is already in the log (or earlier in the same batch) is not stored
   * again: its result is the original with `created: false`. After commit the new events go
   * out on the live bus.
   *
   * Appends without `alongside` work are group-committed: callers that arrive in the same turn
   * of the event loop, or while a commit is running, share the next transaction (one lock, one
   * INSERT, one COMMIT), and each gets its own results back once that transaction has committed.
   */
  append(inputs: NewEvent[], alongside?: AlongsideAppend): Promise<AppendResult[]> {
    if (!inputs.length) return Promise.resolve([]);
    if (alongside) return this.commit(inputs, alongside);
    return new Promise((resolve, reject) => {
      this.waiting.push({ inputs, resolve, reject });
      if (this.flushing) return;
      // Start the commit after the requests already read in this turn of the event loop have
      // queued too. SQLite commits without yielding to I/O, so without this pause every request
      // would get a transaction of its own.
      this.flushing = true;
      setImmediate(() => void this.flush());
    });
  }

  private async flush(): Promise<void> {
    this.flushing = true;
    try {
      while (this.waiting.length) {
        const group: PendingAppend[] = [];
        let size = 0;
        // A lone oversized request still goes through in its own transaction.
        while (
          this.waiting.length &&
          (group.length === 0 || size + this.waiting[0].inputs.length <= GROUP_COMMIT_MAX_EVENTS)
        ) {
          const next = this.waiting.shift()!;
          size += next.inputs.length;
          group.push(next);
        }
        try {
          const results = await this.commit(group.flatMap((g) => g.inputs));
          let offset = 0;
          for (const g of group) {
            g.resolve(results.slice(offset, offset + g.inputs.length));
            offset += g.inputs.length;
          }
        } catch (err) {
          for (const g of group) g.reject(err);
          // The append lock (or the database) did not answer within the session limit. Appends that
          // queued meanwhile have waited for that attempt already; trying again for each would make
          // them wait a second full timeout, so they fail with the same error now (the HTTP layer
          // answers it as "database unavailable", and the producer retries).
          if (isSessionTimeout(err)) for (const g of this.waiting.splice(0)) g.reject(err);
        }
      }
    } finally {
      this.flushing = false;
    }
  }

  private async commit(inputs: NewEvent[], alongside?: AlongsideAppend): Promise<AppendResult[]> {
    const results = await this.db.transaction(async (m) => {
      if (this.db.isPostgres) await m.query('SELECT pg_advisory_xact_lock($1)', [APPEND_LOCK_KEY]);
      const results = await this.insert(m, inputs);
      if (alongside) await alongside(m, results);
      return results;
    });
    const created = results.filter((r) => r.created).map((r) => r.event);
    if (created.length) this.bus.publishEvents(created);
    return results;
  }

  private async insert(m: EntityManager, inputs: NewEvent[]): Promise<AppendResult[]> {
    const existing = await this.findExisting(m, inputs);
    const receivedAt = isoNow();
    const fresh: { key: string; event: Omit<StoredEvent, 'seq'> }[] = [];
    const planned = new Map<string, Omit<StoredEvent, 'seq'>>();
    const order: { key: string; created: boolean }[] = [];

    for (const input of inputs) {
      const id = input.id ?? newId('evt');
      const key = `${input.organisation_id}\u0000${id}`;
      if (existing.has(key) || planned.has(key)) {
        order.push({ key, created: false });
        continue;
      }
      const event = {
        id,
        type: input.type,
        version: input.version,
        organisation_id: input.organisation_id,
        user_id: input.user_id ?? null,
        claim_id: input.claim_id ?? null,
        channel_id: input.channel_id ?? null,
        data: input.data,
        occurred_at: input.occurred_at ? toIso(Date.parse(input.occurred_at)) : receivedAt,
        received_at: receivedAt,
      };
      planned.set(key, event);
      fresh.push({ key, event });
      order.push({ key, created: true });
    }

    const stored = new Map<string, StoredEvent>(existing);
    if (fresh.length) {
      // Seqs are numbered here, under the append lock (Postgres) or the single writer (SQLite),
      // from the last one ever assigned; not by a database sequence, which a rolled-back append
      // (or a Postgres crash) advances for good and so leaves a hole in the "gap-free" log.
      const first = (await this.lastSeqIn(m)) + 1;
      const sql = this.sql();
      const values = fresh
        .map(
          ({ event: e }, i) =>
            `(${sql.list([first + i, e.id, e.type, e.version, e.organisation_id, e.user_id, e.claim_id, e.channel_id, JSON.stringify(e.data), e.occurred_at, e.received_at])})`,
        )
        .join(', ');
      await sql.run(
        m,
        `INSERT INTO events (seq, id, type, version, organisation_id, user_id, claim_id, channel_id, data, occurred_at, received_at)
         VALUES ${values}`,
      );
      fresh.forEach(({ key, event }, i) => stored.set(key, { seq: first + i, ...event }));
    }
    const seen = new Set<string>();
    return order.map(({ key, created }) => {
      const first = created && !seen.has(key);
      seen.add(key);
      return { event: stored.get(key)!, created: first };
    });
  }

  private async findExisting(m: EntityManager, inputs: NewEvent[]): Promise<Map<string, StoredEvent>> {
    const withIds = inputs.filter((i) => i.id);
    const found = new Map<string, StoredEvent>();
    if (!withIds.length) return found;
    const byOrg = new Map<string, string[]>();
    for (const i of withIds) byOrg.set(i.organisation_id, [...(byOrg.get(i.organisation_id) ?? []), i.id!]);
    for (const [org, ids] of byOrg) {
      const sql = this.sql();
      const rows = await sql.run<EventRow>(
        m,
        `SELECT ${COLUMNS} FROM events WHERE organisation_id = ${sql.p(org)} AND id IN (${sql.list(ids)})`,
      );
      for (const row of rows) found.set(`${row.organisation_id}\u0000${row.id}`, fromRow(row));
    }
    return found;
  }

  /** Events after `after` in seq order, at most `limit`, narrowed by `filter`. */
  readAfter(after: number, filter: EventFilter, limit: number, upTo?: number): Promise<StoredEvent[]> {
    return this.db.read((m) => this.readAfterIn(m, after, filter, limit, upTo));
  }

  async readAfterIn(
    m: EntityManager,
    after: number,
    filter: EventFilter,
    limit: number,
    upTo?: number,
  ): Promise<StoredEvent[]> {
    const sql = this.sql();
    const rows = await sql.run<EventRow>(
      m,
      `SELECT ${COLUMNS} FROM events WHERE ${rangeWhere(sql, after, filter, upTo)} ORDER BY seq LIMIT ${sql.p(limit)}`,
    );
    return rows.map(fromRow);
  }

  /**
   * Streams matching events after `after` (up to `upTo`, inclusive) in batches: one query per
   * batch, never the whole range in memory.
   */
  async *stream(after: number, filter: EventFilter, batchSize: number, upTo?: number): AsyncGenerator<StoredEvent[]> {
    let cursor = after;
    for (;;) {
      const batch = await this.readAfter(cursor, filter, batchSize, upTo);
      if (batch.length) yield batch;
      if (batch.length < batchSize) return;
      cursor = batch[batch.length - 1].seq;
    }
  }

  /** Counts matching events after `after` (up to `upTo`), and the seq range they span. */
  async countAfter(
    after: number,
    filter: EventFilter,
    upTo?: number,
  ): Promise<{ count: number; first?: number; last?: number }> {
    return this.db.read(async (m) => {
      const sql = this.sql();
      const [row] = await sql.run<{ n: number | string; first: number | string | null; last: number | string | null }>(
        m,
        `SELECT COUNT(*) AS n, MIN(seq) AS first, MAX(seq) AS last FROM events WHERE ${rangeWhere(sql, after, filter, upTo)}`,
      );
      const count = Number(row.n);
      return count ? { count, first: Number(row.first), last: Number(row.last) } : { count: 0 };
    });
  }

  /** The last seq assigned (0 before the first event); retention emptying the log does not lower it. */
  head(): Promise<number> {
    return this.db.read((m) => this.lastSeqIn(m));
  }

  /**
   * The highest seq in the log, or, when retention has removed every event, the last one it
   * removed: seqs never restart. One statement, so a prune committing meanwhile is seen whole or
   * not at all; MAX(seq) is one probe of the primary key.
   */
  private async lastSeqIn(m: EntityManager): Promise<number> {
    const sql = this.sql();
    const greatest = this.db.isPostgres ? 'GREATEST' : 'MAX';
    const [row] = await sql.run<{ last: number | string }>(
      m,
      `SELECT ${greatest}(COALESCE((SELECT MAX(seq) FROM events), 0),
         COALESCE((SELECT last_seq FROM consumer_checkpoints WHERE name = ${sql.p(RETENTION_CHECKPOINT)}), 0)) AS last`,
    );
    return Number(row.last);
  }

  // ---------------------------------------------------------------------------------------
  // Consumer checkpoints

  async checkpoint(name: string): Promise<number> {
    return this.db.read((m) => this.checkpointIn(m, name));
  }

  private async checkpointIn(m: EntityManager, name: string, forUpdate = false): Promise<number> {
    const sql = this.sql();
    const rows = await sql.run<{ last_seq: number | string }>(
      m,
      `SELECT last_seq FROM consumer_checkpoints WHERE name = ${sql.p(name)}${forUpdate && this.db.isPostgres ? ' FOR UPDATE' : ''}`,
    );
    return rows.length ? Number(rows[0].last_seq) : 0;
  }

  private async saveCheckpoint(m: EntityManager, name: string, seq: number): Promise<void> {
    const sql = this.sql();
    await sql.run(
      m,
      `INSERT INTO consumer_checkpoints (name, last_seq, updated_at) VALUES (${sql.p(name)}, ${sql.p(seq)}, ${sql.p(isoNow())})
       ON CONFLICT (name) DO UPDATE SET last_seq = excluded.last_seq, updated_at = excluded.updated_at`,
    );
  }

  /**
   * Reads the next batch after the consumer's checkpoint, hands it to `handle`, and moves the
   * checkpoint past it — all in one transaction, so whatever `handle` writes and the new
   * checkpoint commit together or not at all. Returns how many events were processed.
   */
  async processBatch(
    consumer: string,
    limit: number,
    handle: (events: StoredEvent[], manager: EntityManager) => Promise<void>,
  ): Promise<number> {
    return this.db.transaction(async (m) => {
      if (this.db.isPostgres) {
        const sql = this.sql();
        await sql.run(
          m,
          `INSERT INTO consumer_checkpoints (name, last_seq, updated_at) VALUES (${sql.p(consumer)}, 0, ${sql.p(isoNow())}) ON CONFLICT (name) DO NOTHING`,
        );
      }
      const after = await this.checkpointIn(m, consumer, true);
      const events = await this.readAfterIn(m, after, {}, limit);
      if (!events.length) return 0;
      await handle(events, m);
      await this.saveCheckpoint(m, consumer, events[events.length - 1].seq);
      return events.length;
    });
  }

  // ---------------------------------------------------------------------------------------
  // Retention

  /** The highest seq retention has removed; a replay from before it is incomplete. */
  prunedThrough(): Promise<number> {
    return this.checkpoint(RETENTION_CHECKPOINT);
  }

  /**
   * Removes events received before `now - EVENT_RETENTION`, but never past the dispatcher's
   * checkpoint: webhook deliveries are derived from the log, so an event the dispatcher has not
   * processed yet must stay until it has, however old. Returns how many went.
   *
   * Works in transactions of at most PRUNE_BATCH_SEQS seqs each, so a large backlog (a day of
   * events after downtime) never needs one statement longer than DATABASE_STATEMENT_TIMEOUT.
   */
  async prune(now = Date.now()): Promise<number> {
    const cutoff = toIso(now - this.config.events.retentionMs);
    let pruned = 0;
    for (;;) {
      const n = await this.pruneBatch(cutoff);
      if (n === undefined) return pruned;
      pruned += n;
    }
  }

  /** One retention step; undefined when nothing is left to prune. */
  private pruneBatch(cutoff: string): Promise<number | undefined> {
    return this.db.transaction(async (m) => {
      const sql = this.sql();
      const [row] = await sql.run<{ upto: number | string | null }>(
        m,
        `SELECT MAX(seq) AS upto FROM events WHERE received_at < ${sql.p(cutoff)}`,
      );
      if (row?.upto === null || row?.upto === undefined) return undefined;
      // The checkpoint only moves forward, so reading it without a lock can only prune less.
      const eligible = Math.min(Number(row.upto), await this.checkpointIn(m, DISPATCHER_CONSUMER));
      const prunedThrough = await this.checkpointIn(m, RETENTION_CHECKPOINT, true);
      if (eligible <= prunedThrough) return undefined;
      const upTo = Math.min(eligible, prunedThrough + PRUNE_BATCH_SEQS);
      const del = this.sql();
      const [{ n }] = await del.run<{ n: number | string }>(
        m,
        `SELECT COUNT(*) AS n FROM events WHERE seq <= ${del.p(upTo)}`,
      );
      const remove = this.sql();
      await remove.run(m, `DELETE FROM events WHERE seq <= ${remove.p(upTo)}`);
      await this.saveCheckpoint(m, RETENTION_CHECKPOINT, upTo);
      return Number(n);
    });
  }

  onApplicationBootstrap(): void {
    // Never two prunes at once (a slow one is still running at the next tick): one pool connection at most.
    const run = nonOverlapping(() =>
      this.prune().then(
        (n) => void (n && this.logger.log({ pruned: n }, 'pruned events past retention')),
        (err) => this.logger.warn({ err }, 'event retention pruning failed'),
      ),
    );
    void run();
    this.pruneTimer = setInterval(() => void run(), PRUNE_EVERY_MS);
    this.pruneTimer.unref();
  }

  onApplicationShutdown(): void {
    if (this.pruneTimer) clearInterval(this.pruneTimer);
  }
}
