import { Database, type Tx } from '../database/database.service';
import { DispatcherLeaseEntity } from './dispatcher-lease.entity';

/** The one lease row: the durable dispatcher's. */
export const DISPATCHER_LEASE = 'dispatcher';

/** The lease row as stored. */
export interface LeaseRow {
  holder: string;
  term: number;
  acquired_at: string;
  expires_at: string;
}

export type AcquireResult =
  /** `previous` is the row as it was before (absent when there was none): who held it, until when. */
  { acquired: true; term: number; previous?: LeaseRow } | { acquired: false; current: LeaseRow };

/** The batch's fencing check failed: another node holds the lease now. Thrown to roll the batch back. */
export class LeaseLostError extends Error {
  constructor(readonly term: number) {
    super(`the dispatcher lease of term ${term} is no longer held by this node`);
    this.name = 'LeaseLostError';
  }
}

/**
 * Times come from the database's clock, never a node's: one clock decides when a lease has run
 * out, so a node whose clock is off cannot take a lease early. Stored as the same ISO-8601 UTC
 * text as every other time column (they compare correctly as text). The clock functions differ
 * per engine, hence the branch.
 */
function dbNow(postgres: boolean): string {
  return postgres
    ? `to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`
    : `strftime('%Y-%m-%dT%H:%M:%fZ', 'now')`;
}

/** The database's time `leaseFor(postgres, ms)` from now; `param` is that value's placeholder. */
function dbLater(postgres: boolean, param: string): string {
  return postgres
    ? `to_char((clock_timestamp() + CAST(${param} AS integer) * interval '1 millisecond') AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`
    : `strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ${param})`;
}

/** The parameter dbLater adds to the clock: whole milliseconds on Postgres, a strftime modifier on SQLite. */
function leaseFor(postgres: boolean, ms: number): number | string {
  return postgres ? Math.round(ms) : `+${ms / 1000} seconds`;
}

function toLease(row: DispatcherLeaseEntity): LeaseRow {
  return { holder: row.holder, term: row.term, acquired_at: row.acquired_at, expires_at: row.expires_at };
}

/**
 * The dispatcher lease: who runs the durable dispatcher, until when, under which term. Taking
 * it and renewing it are single conditional UPDATEs (compare-and-set on holder and term), so
 * they are atomic on both engines without an explicit row lock.
 */
export class DispatcherLeaseStore {
  constructor(private readonly db: Database) {}

  get isPostgres(): boolean {
    return this.db.isPostgres;
  }

  /**
   * Takes the lease for `holder` for `leaseMs` if nobody holds it, it has expired, or `holder`
   * holds it already (then the term stays). `evenUnexpired` takes it from another holder before
   * its deadline. The term goes up by one whenever the holder changes.
   */
  async acquire(holder: string, leaseMs: number, options: { evenUnexpired?: boolean } = {}): Promise<AcquireResult> {
    const pg = this.db.isPostgres;
    return this.db.transaction(async (m) => {
      const p = (n: number) => (pg ? `$${n}` : '?');
      // Raw SQL: whether this INSERT ... ON CONFLICT DO NOTHING added the row is only told by
      // RETURNING, which the query builder does not offer on SQLite (nor an inserted-row count).
      const inserted = (await m.query(
        `INSERT INTO dispatcher_lease (name, holder, term, acquired_at, expires_at)
         VALUES (${p(1)}, ${p(2)}, 1, ${dbNow(pg)}, ${dbLater(pg, p(3))})
         ON CONFLICT (name) DO NOTHING RETURNING term`,
        [DISPATCHER_LEASE, holder, leaseFor(pg, leaseMs)],
      )) as { term: number | string }[];
      if (inserted.length) return { acquired: true, term: Number(inserted[0].term) };

      const seen = await this.currentIn(m);
      if (!seen) throw new Error('dispatcher lease row vanished');
      const changesHolder = seen.holder !== holder;
      const term = changesHolder ? seen.term + 1 : seen.term;
      const update = m
        .createQueryBuilder()
        .update(DispatcherLeaseEntity)
        .set({
          holder,
          term,
          expires_at: () => dbLater(pg, ':leaseFor'),
          ...(changesHolder ? { acquired_at: () => dbNow(pg) } : {}),
        })
        .where('name = :name AND holder = :seenHolder AND term = :seenTerm', {
          name: DISPATCHER_LEASE,
          seenHolder: seen.holder,
          seenTerm: seen.term,
        })
        .setParameter('leaseFor', leaseFor(pg, leaseMs));
      if (!options.evenUnexpired) update.andWhere(`(holder = :holder OR expires_at <= ${dbNow(pg)})`, { holder });
      const { affected } = await update.execute();
      if (affected) return { acquired: true, term, previous: seen };
      return { acquired: false, current: (await this.currentIn(m)) ?? seen };
    });
  }

  /** Moves the deadline to `leaseMs` from now if `holder` still holds the lease under `term`. */
  renew(holder: string, term: number, leaseMs: number): Promise<boolean> {
    return this.db.transaction((m) => this.fence(m, holder, term, leaseMs));
  }

  /**
   * The fencing check, inside the caller's transaction: renews the lease if `holder` still holds
   * it under `term`, and says whether it did. On Postgres the UPDATE also locks the row until
   * the transaction ends, so no other node can take the lease while the batch commits.
   */
  async fence(m: Tx, holder: string, term: number, leaseMs: number): Promise<boolean> {
    const pg = this.db.isPostgres;
    const { affected } = await m
      .createQueryBuilder()
      .update(DispatcherLeaseEntity)
      .set({ expires_at: () => dbLater(pg, ':leaseFor') })
      .where('name = :name AND holder = :holder AND term = :term', { name: DISPATCHER_LEASE, holder, term })
      .setParameter('leaseFor', leaseFor(pg, leaseMs))
      .execute();
    return affected === 1;
  }

  /** Ends the lease now (if `holder` still holds it under `term`), so another node takes it at once. */
  async release(holder: string, term: number): Promise<boolean> {
    const pg = this.db.isPostgres;
    return this.db.transaction(async (m) => {
      const { affected } = await m
        .createQueryBuilder()
        .update(DispatcherLeaseEntity)
        .set({ expires_at: () => dbNow(pg) })
        .where('name = :name AND holder = :holder AND term = :term', { name: DISPATCHER_LEASE, holder, term })
        .execute();
      return affected === 1;
    });
  }

  current(): Promise<LeaseRow | undefined> {
    return this.db.read((m) => this.currentIn(m));
  }

  private async currentIn(m: Tx): Promise<LeaseRow | undefined> {
    const row = await m.findOneBy(DispatcherLeaseEntity, { name: DISPATCHER_LEASE });
    return row ? toLease(row) : undefined;
  }
}
