import { Injectable } from '@nestjs/common';
import type { SelectQueryBuilder } from 'typeorm';
import { Database, valuesList, type Tx } from '../database/database.service';
import { isoNow } from '../http/time';
import { ConsumerCheckpointEntity } from './consumer-checkpoint.entity';
import { EventEntity } from './event.entity';
import type { EventFilter, StoredEvent } from './event.types';

/**
 * Appends on Postgres are serialised by this transaction-scoped advisory lock: the seq is drawn
 * and committed while the lock is held, so seqs become visible strictly in order and a tailing
 * reader can never pass over one that commits late (docs/architecture.md "Rules that keep it correct"). A waiter gives
 * up after DATABASE_LOCK_TIMEOUT (55P03) rather than hang behind a node that froze holding it;
 * the holder's transaction is ended by DATABASE_IDLE_IN_TRANSACTION_TIMEOUT.
 */
export const APPEND_LOCK_KEY = 7_220_002;
/** The checkpoint under which retention records the highest seq it has removed. */
export const RETENTION_CHECKPOINT = 'retention';

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

const COLUMNS = [
  'seq',
  'id',
  'type',
  'version',
  'organisation_id',
  'user_id',
  'claim_id',
  'channel_id',
  'data',
  'occurred_at',
  'received_at',
] as const;

/** Every column of `events` (alias `e`) under its own name, for `getRawMany` and `fromRow`. */
function selectEvents(m: Tx): SelectQueryBuilder<EventEntity> {
  const qb = m.createQueryBuilder(EventEntity, 'e').select([]);
  for (const column of COLUMNS) qb.addSelect(`e.${column}`, column);
  return qb;
}

/** Narrows `qb` (alias `e`) to `seq` in (after, upTo]. */
function inRange<T extends SelectQueryBuilder<EventEntity>>(qb: T, after: number, upTo?: number): T {
  qb.andWhere('e.seq > :after', { after });
  if (upTo !== undefined) qb.andWhere('e.seq <= :upTo', { upTo });
  return qb;
}

/** Narrows `qb` (alias `e`) to the filter's organisation and fields. */
function matching<T extends SelectQueryBuilder<EventEntity>>(qb: T, filter: EventFilter): T {
  qb.andWhere('e.organisation_id = :org', { org: filter.organisation_id });
  if (filter.types?.length) qb.andWhere('e.type IN (:...types)', { types: filter.types });
  if (filter.user_id !== undefined) qb.andWhere('e.user_id = :user', { user: filter.user_id });
  if (filter.claim_id !== undefined) qb.andWhere('e.claim_id = :claim', { claim: filter.claim_id });
  if (filter.channel_id !== undefined) qb.andWhere('e.channel_id = :channel', { channel: filter.channel_id });
  return qb;
}

/**
 * Data access for the event log (`events`) and its consumers' checkpoints
 * (`consumer_checkpoints`). Every method runs in the caller's transaction (or read), so EventLog
 * decides what commits together; tenant reads take an EventFilter, whose organisation is required.
 */
@Injectable()
export class EventStore {
  constructor(private readonly db: Database) {}

  // ---------------------------------------------------------------------------------------
  // Appending

  /** Takes the append lock (APPEND_LOCK_KEY) until the transaction ends. */
  async lockAppends(m: Tx): Promise<void> {
    // Raw SQL: advisory locks have no query-builder form. SQLite's single writer serialises appends already.
    if (this.db.isPostgres) await m.query('SELECT pg_advisory_xact_lock($1)', [APPEND_LOCK_KEY]);
  }

  /** One organisation's events with these producer ids (those that exist). */
  async findByIds(m: Tx, organisationId: string, ids: string[]): Promise<StoredEvent[]> {
    const rows = await selectEvents(m)
      .where('e.organisation_id = :org', { org: organisationId })
      .andWhere('e.id IN (:...ids)', { ids })
      .getRawMany<EventRow>();
    return rows.map(fromRow);
  }

  /**
   * Numbers `events` on from the last seq ever assigned and writes them in one INSERT; returns
   * them with their seqs, in order. Call it holding the append lock (lockAppends).
   */
  async insertNumbered(m: Tx, events: Omit<StoredEvent, 'seq'>[]): Promise<StoredEvent[]> {
    if (!events.length) return [];
    // Seqs are numbered here, under the append lock (Postgres) or the single writer (SQLite),
    // from the last one ever assigned; not by a database sequence, which a rolled-back append
    // (or a Postgres crash) advances for good and so leaves a hole in the "gap-free" log.
    const first = (await this.lastSeq(m)) + 1;
    const { text, params } = valuesList(
      events.map((e, i) => [
        first + i,
        e.id,
        e.type,
        e.version,
        e.organisation_id,
        e.user_id,
        e.claim_id,
        e.channel_id,
        JSON.stringify(e.data),
        e.occurred_at,
        e.received_at,
      ]),
    );
    // Raw SQL: the group commit's one multi-row INSERT (up to GROUP_COMMIT_MAX_EVENTS rows) is the
    // hottest statement; built directly it skips the query builder's per-row, per-column work.
    await this.db.query(m, `INSERT INTO events (${COLUMNS.join(', ')}) VALUES ${text}`, params);
    return events.map((event, i) => ({ seq: first + i, ...event }));
  }

  /**
   * Postgres only: appends `events` in one statement, the herald_append_events function
   * (migration 1763901600000), which takes the append lock, leaves out each `dedupe` event whose
   * producer id the organisation's log already has, numbers the rest on from the last seq and
   * stamps them with the database's clock (`occurred_at` too when the producer gave none). Run it
   * outside an explicit transaction, so that the lock is released by the statement's own commit.
   * Returns, for each event in order, the event as stored (or the original) and whether it is new.
   */
  async appendInOneStatement(
    m: Tx,
    events: { event: Omit<StoredEvent, 'seq'>; dedupe: boolean; occurred_at: string | null }[],
  ): Promise<{ event: StoredEvent; created: boolean }[]> {
    if (!events.length) return [];
    const batch = events.map(({ event: e, dedupe, occurred_at }) => ({
      id: e.id,
      type: e.type,
      version: e.version,
      organisation_id: e.organisation_id,
      user_id: e.user_id,
      claim_id: e.claim_id,
      channel_id: e.channel_id,
      data: JSON.stringify(e.data),
      occurred_at,
      dedupe,
    }));
    // Raw SQL: a function call.
    const rows = await this.db.query<EventRow & { batch_position: number | string; created: boolean }>(
      m,
      `SELECT ${['batch_position', 'created', ...COLUMNS].join(', ')} FROM herald_append_events($1, $2::jsonb)`,
      [APPEND_LOCK_KEY, JSON.stringify(batch)],
    );
    if (rows.length !== events.length)
      throw new Error(`append returned ${rows.length} rows for ${events.length} events`);
    return rows.map((row) => ({ event: fromRow(row), created: row.created }));
  }

  /**
   * The highest seq in the log, or, when retention has removed every event, the last one it
   * removed: seqs never restart. One statement, so a prune committing meanwhile is seen whole or
   * not at all; MAX(seq) is one probe of the primary key.
   */
  async lastSeq(m: Tx): Promise<number> {
    const row = await m
      .createQueryBuilder(EventEntity, 'e')
      .select('MAX(e.seq)', 'last')
      .addSelect(
        (sub) => sub.select('c.last_seq').from(ConsumerCheckpointEntity, 'c').where('c.name = :retention'),
        'pruned',
      )
      .setParameter('retention', RETENTION_CHECKPOINT)
      .getRawOne<{ last: number | string | null; pruned: number | string | null }>();
    return Math.max(Number(row?.last ?? 0), Number(row?.pruned ?? 0));
  }

  // ---------------------------------------------------------------------------------------
  // Reading

  /** One organisation's events after `after` (up to `upTo`) in seq order, at most `limit`, narrowed by `filter`. */
  async readAfter(m: Tx, after: number, filter: EventFilter, limit: number, upTo?: number): Promise<StoredEvent[]> {
    const rows = await matching(inRange(selectEvents(m), after, upTo), filter)
      .orderBy('e.seq')
      .limit(limit)
      .getRawMany<EventRow>();
    return rows.map(fromRow);
  }

  /** Every organisation's events after `after` (up to `upTo`) in seq order, at most `limit`. */
  async readAcrossTenants(m: Tx, after: number, limit: number, upTo?: number): Promise<StoredEvent[]> {
    const rows = await inRange(selectEvents(m), after, upTo).orderBy('e.seq').limit(limit).getRawMany<EventRow>();
    return rows.map(fromRow);
  }

  /** When the first event of any organisation after `after` was received, or null if there is none. */
  async firstReceivedAfterAcrossTenants(m: Tx, after: number): Promise<string | null> {
    const row = await m
      .createQueryBuilder(EventEntity, 'e')
      .select('e.received_at', 'received_at')
      .where('e.seq > :after', { after })
      .orderBy('e.seq')
      .limit(1)
      .getRawOne<{ received_at: string }>();
    return row?.received_at ?? null;
  }

  /** Counts matching events after `after` (up to `upTo`), and the seq range they span. */
  async countAfter(
    m: Tx,
    after: number,
    filter: EventFilter,
    upTo?: number,
  ): Promise<{ count: number; first?: number; last?: number }> {
    const qb = m
      .createQueryBuilder(EventEntity, 'e')
      .select('COUNT(*)', 'n')
      .addSelect('MIN(e.seq)', 'first')
      .addSelect('MAX(e.seq)', 'last');
    const row = await matching(inRange(qb, after, upTo), filter).getRawOne<{
      n: number | string;
      first: number | string | null;
      last: number | string | null;
    }>();
    const count = Number(row?.n ?? 0);
    return count ? { count, first: Number(row!.first), last: Number(row!.last) } : { count: 0 };
  }

  // ---------------------------------------------------------------------------------------
  // Consumer checkpoints

  /** The consumer's last seq (0 before its first), read without a lock. */
  async checkpoint(m: Tx, name: string): Promise<number> {
    return (await this.checkpointRow(m, name, false)) ?? 0;
  }

  /**
   * The consumer's last seq with its row locked until the transaction ends, for a consumer that
   * more than one node runs (the dispatcher, retention). On Postgres a missing row is created at 0
   * first, so that there is a row to lock and two nodes cannot both start at 0; the usual case, a
   * row that exists, costs one statement. SQLite has no row locks and needs none: its one connection runs one
   * transaction at a time.
   */
  async lockCheckpoint(m: Tx, name: string): Promise<number> {
    const found = await this.checkpointRow(m, name, true);
    if (found !== undefined || !this.db.isPostgres) return found ?? 0;
    await m
      .createQueryBuilder()
      .insert()
      .into(ConsumerCheckpointEntity)
      .values({ name, last_seq: 0, updated_at: isoNow() })
      .orIgnore()
      .updateEntity(false)
      .execute();
    return (await this.checkpointRow(m, name, true)) ?? 0;
  }

  private async checkpointRow(m: Tx, name: string, forUpdate: boolean): Promise<number | undefined> {
    const qb = m
      .createQueryBuilder(ConsumerCheckpointEntity, 'c')
      .select('c.last_seq', 'last_seq')
      .where('c.name = :name', { name });
    if (forUpdate && this.db.isPostgres) qb.setLock('pessimistic_write');
    const row = await qb.getRawOne<{ last_seq: number | string }>();
    return row ? Number(row.last_seq) : undefined;
  }

  async saveCheckpoint(m: Tx, name: string, seq: number): Promise<void> {
    await m
      .createQueryBuilder()
      .insert()
      .into(ConsumerCheckpointEntity)
      .values({ name, last_seq: seq, updated_at: isoNow() })
      .orUpdate(['last_seq', 'updated_at'], ['name'])
      .updateEntity(false)
      .execute();
  }

  // ---------------------------------------------------------------------------------------
  // Retention: cluster-wide, one cutoff for every organisation's events

  /** The highest seq of any organisation's events received before `cutoff`, if there is one. */
  async lastSeqReceivedBeforeAcrossTenants(m: Tx, cutoff: string): Promise<number | undefined> {
    const row = await m
      .createQueryBuilder(EventEntity, 'e')
      .select('MAX(e.seq)', 'upto')
      .where('e.received_at < :cutoff', { cutoff })
      .getRawOne<{ upto: number | string | null }>();
    if (row?.upto === null || row?.upto === undefined) return undefined;
    return Number(row.upto);
  }

  /** Removes every organisation's events up to `upTo` (inclusive); returns how many went. */
  async deleteThroughAcrossTenants(m: Tx, upTo: number): Promise<number> {
    const { affected } = await m
      .createQueryBuilder()
      .delete()
      .from(EventEntity)
      .where('seq <= :upTo', { upTo })
      .execute();
    return affected ?? 0;
  }
}
