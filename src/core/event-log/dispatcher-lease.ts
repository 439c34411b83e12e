import type { EntityManager } from 'typeorm';
import { Database } from '../database/database.service';
import { Sql } from '../database/sql';

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
 * text as every other time column (they compare correctly as text).
 */
function dbNow(postgres: boolean): string {
  return postgres
    ? `to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`
    : `strftime('%Y-%m-%dT%H:%M:%fZ', 'now')`;
}

function dbLater(sql: Sql, postgres: boolean, ms: number): string {
  return postgres
    ? `to_char((clock_timestamp() + ${sql.p(Math.round(ms))}::int * interval '1 millisecond') AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`
    : `strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ${sql.p(`+${ms / 1000} seconds`)})`;
}

interface RawLeaseRow {
  holder: string;
  term: number | string;
  acquired_at: string;
  expires_at: string;
}

function fromRaw(row: RawLeaseRow): LeaseRow {
  return { holder: row.holder, term: Number(row.term), acquired_at: row.acquired_at, expires_at: row.expires_at };
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
      const insert = new Sql(pg);
      const inserted = rows<{ term: number | string }>(
        await insert.run(
          m,
          `INSERT INTO dispatcher_lease (name, holder, term, acquired_at, expires_at)
           VALUES (${insert.p(DISPATCHER_LEASE)}, ${insert.p(holder)}, 1, ${dbNow(pg)}, ${dbLater(insert, pg, leaseMs)})
           ON CONFLICT (name) DO NOTHING RETURNING term`,
        ),
      );
      if (inserted.length) return { acquired: true, term: Number(inserted[0].term) };

      const seen = await this.currentIn(m);
      if (!seen) throw new Error('dispatcher lease row vanished');
      const changesHolder = seen.holder !== holder;
      const term = changesHolder ? seen.term + 1 : seen.term;
      const update = new Sql(pg);
      // Placeholders are numbered in the order they are made: build the statement left to right.
      const set = `holder = ${update.p(holder)}, term = ${update.p(term)}, expires_at = ${dbLater(update, pg, leaseMs)}${changesHolder ? `, acquired_at = ${dbNow(pg)}` : ''}`;
      const unchanged = `name = ${update.p(DISPATCHER_LEASE)} AND holder = ${update.p(seen.holder)} AND term = ${update.p(seen.term)}`;
      const takeable = options.evenUnexpired ? '' : ` AND (holder = ${update.p(holder)} OR expires_at <= ${dbNow(pg)})`;
      const updated = rows(
        await update.run(m, `UPDATE dispatcher_lease SET ${set} WHERE ${unchanged}${takeable} RETURNING term`),
      );
      if (updated.length) return { acquired: true, term, previous: seen };
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
  async fence(m: EntityManager, holder: string, term: number, leaseMs: number): Promise<boolean> {
    const pg = this.db.isPostgres;
    const sql = new Sql(pg);
    const updated = rows(
      await sql.run(
        m,
        `UPDATE dispatcher_lease SET expires_at = ${dbLater(sql, pg, leaseMs)}
         WHERE name = ${sql.p(DISPATCHER_LEASE)} AND holder = ${sql.p(holder)} AND term = ${sql.p(term)}
         RETURNING term`,
      ),
    );
    return updated.length === 1;
  }

  /** Ends the lease now (if `holder` still holds it under `term`), so another node takes it at once. */
  async release(holder: string, term: number): Promise<boolean> {
    const pg = this.db.isPostgres;
    return this.db.transaction(async (m) => {
      const sql = new Sql(pg);
      const updated = rows(
        await sql.run(
          m,
          `UPDATE dispatcher_lease SET expires_at = ${dbNow(pg)}
           WHERE name = ${sql.p(DISPATCHER_LEASE)} AND holder = ${sql.p(holder)} AND term = ${sql.p(term)}
           RETURNING term`,
        ),
      );
      return updated.length === 1;
    });
  }

  current(): Promise<LeaseRow | undefined> {
    return this.db.read((m) => this.currentIn(m));
  }

  private async currentIn(m: EntityManager): Promise<LeaseRow | undefined> {
    const sql = new Sql(this.db.isPostgres);
    const [row] = await sql.run<RawLeaseRow>(
      m,
      `SELECT holder, term, acquired_at, expires_at FROM dispatcher_lease WHERE name = ${sql.p(DISPATCHER_LEASE)}`,
    );
    return row ? fromRaw(row) : undefined;
  }
}

/** RETURNING rows of a write: TypeORM's Postgres driver answers UPDATE and DELETE with `[rows, count]`. */
function rows<T = unknown>(result: unknown[]): T[] {
  return (Array.isArray(result[0]) ? result[0] : result) as T[];
}
