import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { Counter } from 'prom-client';
import { EventBus } from '../bus/event-bus';
import { APP_CONFIG, type AppConfig } from '../config';
import { Database, isSessionTimeout, type Tx } from '../database/database.service';
import { nonOverlapping } from '../database/periodic';
import { MetricsService } from '../health/metrics.service';
import { newId } from '../http/ids';
import { isoNow, toIso } from '../http/time';
import { EventStore, RETENTION_CHECKPOINT } from './event.store';
import type { AppendResult, EventFilter, NewEvent, StoredEvent } from './event.types';

export { APPEND_LOCK_KEY } from './event.store';
/** The durable path's consumer; retention never removes an event it has not processed. */
export const DISPATCHER_CONSUMER = 'dispatcher';
const PRUNE_EVERY_MS = 60 * 60 * 1000;
/** Seqs one retention transaction removes at most, so each DELETE stays well inside DATABASE_STATEMENT_TIMEOUT. */
const PRUNE_BATCH_SEQS = 10_000;
/** Most events one group commit carries (keeps each INSERT's parameter count bounded). */
const GROUP_COMMIT_MAX_EVENTS = 1000;
/**
 * Most event data, as JSON, one group commit carries: many large requests arriving together
 * are split over several commits rather than sent as one huge statement (a request's own body is
 * bounded by the HTTP body limit).
 */
const GROUP_COMMIT_MAX_BYTES = 8 * 1024 * 1024;

interface PendingAppend {
  inputs: NewEvent[];
  /** The size of the inputs' data as JSON, for GROUP_COMMIT_MAX_BYTES. */
  bytes: number;
  resolve(results: AppendResult[]): void;
  reject(err: unknown): void;
}

/** Work that must commit together with the appended events (e.g. the notification row of seed 002). */
export type AlongsideAppend = (manager: Tx, results: AppendResult[]) => Promise<void>;

@Injectable()
export class EventLog implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('EventLog');
  private pruneTimer?: NodeJS.Timeout;
  private readonly waiting: PendingAppend[] = [];
  private flushing = false;
  private readonly appended: Counter;

  constructor(
    private readonly db: Database,
    private readonly store: EventStore,
    private readonly bus: EventBus,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    metrics: MetricsService,
  ) {
    this.appended = new Counter({
      name: 'herald_events_appended_total',
      help: 'Events this node appended to the log (a repeated producer id, answered with the original, is not counted)',
      registers: [metrics.registry],
    });
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
      const bytes = inputs.reduce((n, input) => n + JSON.stringify(input.data).length, 0);
      this.waiting.push({ inputs, bytes, resolve, reject });
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
        let bytes = 0;
        // A lone oversized request still goes through in its own transaction.
        while (
          this.waiting.length &&
          (group.length === 0 ||
            (size + this.waiting[0].inputs.length <= GROUP_COMMIT_MAX_EVENTS &&
              bytes + this.waiting[0].bytes <= GROUP_COMMIT_MAX_BYTES))
        ) {
          const next = this.waiting.shift()!;
          size += next.inputs.length;
          bytes += next.bytes;
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
    const results =
      this.db.isPostgres && !alongside
        ? await this.appendInOneStatement(planAppend(inputs))
        : await this.db.transaction(async (m) => {
            await this.store.lockAppends(m);
            // Planned under the lock, so receive times follow seqs.
            const results = await this.insert(m, planAppend(inputs, isoNow()));
            if (alongside) await alongside(m, results);
            return results;
          });
    const created = results.filter((r) => r.created).map((r) => r.event);
    if (created.length) {
      this.appended.inc(created.length);
      this.bus.publishEvents(created);
    }
    return results;
  }

  /** Inside the caller's transaction, holding the append lock: the events whose producer ids are new, numbered on. */
  private async insert(m: Tx, plan: AppendPlan): Promise<AppendResult[]> {
    const stored = await this.findExisting(m, plan);
    const fresh = [...plan.fresh].filter(([key]) => !stored.has(key));
    const numbered = await this.store.insertNumbered(
      m,
      fresh.map(([, f]) => f.event),
    );
    fresh.forEach(([key], i) => stored.set(key, numbered[i]));
    return resultsOf(plan, stored, new Set(fresh.map(([key]) => key)));
  }

  /**
   * Postgres, with nothing to commit alongside: the whole append is one statement in a
   * transaction of its own (EventStore.appendInOneStatement), so the append lock is never held
   * across a round trip; it answers with the originals of repeated producer ids too.
   */
  private async appendInOneStatement(plan: AppendPlan): Promise<AppendResult[]> {
    const fresh = [...plan.fresh];
    const appended = await this.db.read((m) =>
      this.store.appendInOneStatement(
        m,
        fresh.map(([, f]) => f),
      ),
    );
    const stored = new Map<string, StoredEvent>();
    const inserted = new Set<string>();
    fresh.forEach(([key], i) => {
      stored.set(key, appended[i].event);
      if (appended[i].created) inserted.add(key);
    });
    return resultsOf(plan, stored, inserted);
  }

  /** The planned events whose producer ids the log already has, by key. */
  private async findExisting(m: Tx, plan: Pick<AppendPlan, 'fresh'>): Promise<Map<string, StoredEvent>> {
    const found = new Map<string, StoredEvent>();
    const byOrg = new Map<string, string[]>();
    for (const { event, dedupe } of plan.fresh.values()) {
      if (!dedupe) continue;
      const ids = byOrg.get(event.organisation_id);
      if (ids) ids.push(event.id);
      else byOrg.set(event.organisation_id, [event.id]);
    }
    for (const [org, ids] of byOrg) {
      for (const event of await this.store.findByIds(m, org, ids)) found.set(eventKey(event), event);
    }
    return found;
  }

  /** One organisation's events with these ids, those still in the log (retention removes old ones). */
  findIn(m: Tx, organisationId: string, ids: string[]): Promise<StoredEvent[]> {
    return ids.length ? this.store.findByIds(m, organisationId, [...new Set(ids)]) : Promise.resolve([]);
  }

  /** One organisation's events after `after` (up to `upTo`) in seq order, at most `limit`, narrowed by `filter`. */
  readAfter(after: number, filter: EventFilter, limit: number, upTo?: number): Promise<StoredEvent[]> {
    return this.db.read((m) => this.readAfterIn(m, after, filter, limit, upTo));
  }

  readAfterIn(m: Tx, after: number, filter: EventFilter, limit: number, upTo?: number): Promise<StoredEvent[]> {
    return this.store.readAfter(m, after, filter, limit, upTo);
  }

  /**
   * Every organisation's events after `after` (up to `upTo`) in seq order, at most `limit`.
   * Cluster-wide on purpose: for the node's live fan-out, which reaches each tenant's own
   * sockets, and the dispatcher. Never for a tenant's read.
   */
  readAcrossTenants(after: number, limit: number, upTo?: number): Promise<StoredEvent[]> {
    return this.db.read((m) => this.store.readAcrossTenants(m, after, limit, upTo));
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
    return this.db.read((m) => this.store.countAfter(m, after, filter, upTo));
  }

  /** The last seq assigned (0 before the first event); retention emptying the log does not lower it. */
  head(): Promise<number> {
    return this.db.read((m) => this.store.lastSeq(m));
  }

  // ---------------------------------------------------------------------------------------
  // Consumer checkpoints

  async checkpoint(name: string): Promise<number> {
    return this.db.read((m) => this.store.checkpoint(m, name));
  }

  /** When the oldest event the consumer has not processed yet was received; null when it has processed them all. */
  oldestUnprocessed(consumer: string): Promise<string | null> {
    return this.db.read(async (m) =>
      this.store.firstReceivedAfterAcrossTenants(m, await this.store.checkpoint(m, consumer)),
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
    handle: (events: StoredEvent[], manager: Tx) => Promise<void>,
  ): Promise<number> {
    return this.db.transaction(async (m) => {
      const after = await this.store.lockCheckpoint(m, consumer);
      // A consumer of the whole log (the dispatcher) sees every organisation's events.
      const events = await this.store.readAcrossTenants(m, after, limit);
      if (!events.length) return 0;
      await handle(events, m);
      await this.store.saveCheckpoint(m, consumer, events[events.length - 1].seq);
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
      // Retention is cluster-wide: one cutoff for every organisation's events.
      const old = await this.store.lastSeqReceivedBeforeAcrossTenants(m, cutoff);
      if (old === undefined) return undefined;
      // The checkpoint only moves forward, so reading it without a lock can only prune less.
      const eligible = Math.min(old, await this.store.checkpoint(m, DISPATCHER_CONSUMER));
      const prunedThrough = await this.store.lockCheckpoint(m, RETENTION_CHECKPOINT);
      if (eligible <= prunedThrough) return undefined;
      const upTo = Math.min(eligible, prunedThrough + PRUNE_BATCH_SEQS);
      const removed = await this.store.deleteThroughAcrossTenants(m, upTo);
      await this.store.saveCheckpoint(m, RETENTION_CHECKPOINT, upTo);
      return removed;
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

/** An organisation's event, by producer id. */
function eventKey(e: { organisation_id: string; id: string }): string {
  return `${e.organisation_id}\u0000${e.id}`;
}

/** What an append will store: each input's key, in order, and the first event of each key. */
interface AppendPlan {
  order: string[];
  /**
   * `dedupe`: the producer chose the id, so the log may have it already (a generated one is new).
   * `occurred_at`: the producer's, or null (the event's then defaults to its receive time).
   */
  fresh: Map<string, { event: Omit<StoredEvent, 'seq'>; dedupe: boolean; occurred_at: string | null }>;
}

/** Plans an append received at `receivedAt` (left empty when the database stamps it). */
function planAppend(inputs: NewEvent[], receivedAt = ''): AppendPlan {
  const plan: AppendPlan = { order: [], fresh: new Map() };
  for (const input of inputs) {
    const id = input.id ?? newId('evt');
    const key = eventKey({ organisation_id: input.organisation_id, id });
    plan.order.push(key);
    if (plan.fresh.has(key)) continue;
    const occurredAt = input.occurred_at ? toIso(Date.parse(input.occurred_at)) : null;
    plan.fresh.set(key, {
      dedupe: input.id !== undefined,
      occurred_at: occurredAt,
      event: {
        id,
        type: input.type,
        version: input.version,
        organisation_id: input.organisation_id,
        user_id: input.user_id ?? null,
        claim_id: input.claim_id ?? null,
        channel_id: input.channel_id ?? null,
        data: input.data,
        occurred_at: occurredAt ?? receivedAt,
        received_at: receivedAt,
      },
    });
  }
  return plan;
}

/** Each input's stored event, `created` for the first input of each key this append inserted. */
function resultsOf(plan: AppendPlan, stored: Map<string, StoredEvent>, inserted: Set<string>): AppendResult[] {
  const seen = new Set<string>();
  return plan.order.map((key) => {
    const created = inserted.has(key) && !seen.has(key);
    seen.add(key);
    return { event: stored.get(key)!, created };
  });
}
