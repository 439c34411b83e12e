import { Injectable } from '@nestjs/common';
import { DataSource, EntityManager } from 'typeorm';
import { DatabaseEngine } from './data-source-options';
import { Mutex } from './mutex';
import { StatementCounts } from './statement-counts';

/** SQLSTATE of a statement that waited longer than `lock_timeout` (DATABASE_LOCK_TIMEOUT) for a lock. */
export const LOCK_NOT_AVAILABLE = '55P03';
/** SQLSTATE of a statement cancelled by `statement_timeout` (DATABASE_STATEMENT_TIMEOUT). */
export const QUERY_CANCELED = '57014';

/** The Postgres SQLSTATE an error carries (TypeORM's QueryFailedError copies the driver's `code`). */
export function sqlState(err: unknown): string | undefined {
  const e = err as { code?: unknown; driverError?: { code?: unknown } } | undefined;
  const code = e?.code ?? e?.driverError?.code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * The database is up but could not serve in time: a session limit gave up waiting (a lock held
 * by a stalled node, a statement past its timeout). Worth a retry, not a bug.
 */
export function isSessionTimeout(err: unknown): boolean {
  const code = sqlState(err);
  return code === LOCK_NOT_AVAILABLE || code === QUERY_CANCELED;
}

/**
 * A multi-row VALUES list for `Database.query`: `($1, $2, …), (…)` and its values in order.
 * For the few multi-row inserts stores keep raw, where the query builder's per-value work costs.
 */
export function valuesList(rows: readonly (readonly unknown[])[]): { text: string; params: unknown[] } {
  const params: unknown[] = [];
  const tuple = (row: readonly unknown[]) => `(${row.map((value) => `$${params.push(value)}`).join(', ')})`;
  return { text: rows.map(tuple).join(', '), params };
}

/**
 * A transaction (or, from `read`, the plain connection) as stores receive it. Feature code passes
 * it through to stores and never reaches into it, so only stores and this folder import `typeorm`.
 */
export type Tx = EntityManager;

/**
 * The shared data layer. Every read and write of tenant data goes through `read` or
 * `transaction`.
 *
 * SQLite has one connection: two TypeORM transactions started concurrently would share it
 * and interleave (one's rollback would undo the other's writes). On SQLite both calls are
 * therefore serialised through one mutex; on Postgres they map to the pool directly.
 */
@Injectable()
export class Database {
  readonly engine: DatabaseEngine;
  private readonly sqliteLock = new Mutex();
  private readonly sqliteTexts = new Map<string, { sql: string; order: number[] }>();

  constructor(readonly dataSource: DataSource) {
    this.engine = dataSource.options.type === 'postgres' ? 'postgres' : 'sqlite';
  }

  get isPostgres(): boolean {
    return this.engine === 'postgres';
  }

  transaction<T>(work: (manager: EntityManager) => Promise<T>): Promise<T> {
    if (this.isPostgres) return this.dataSource.transaction(work);
    return this.sqliteLock.run(() => this.dataSource.transaction(work));
  }

  read<T>(work: (manager: EntityManager) => Promise<T>): Promise<T> {
    if (this.isPostgres) return work(this.dataSource.manager);
    return this.sqliteLock.run(() => work(this.dataSource.manager));
  }

  /**
   * Raw SQL for the few statements stores keep raw (each says why). Placeholders are `$1…$n` on
   * both engines: SQLite's driver binds only positional `?`, so there the text is rewritten once
   * (cached) and the values are laid out in the order the placeholders appear. The statement text
   * stays fixed whatever the values, so the driver's prepared-statement cache keeps hitting (the
   * query builder writes numbers into the SQL text on SQLite, which defeats it). Returns the rows
   * a statement gives back, `RETURNING` included, on both engines.
   */
  async query<T = Record<string, unknown>>(tx: Tx, text: string, params: readonly unknown[] = []): Promise<T[]> {
    if (this.isPostgres) {
      const result = (await tx.query(text, params as unknown[])) as unknown[];
      // TypeORM's Postgres driver answers an UPDATE or DELETE with [rows, rowCount]; rows are
      // objects, never arrays, so this tells it from a SELECT (or INSERT … RETURNING) answer.
      return (Array.isArray(result[0]) && typeof result[1] === 'number' ? result[0] : result) as T[];
    }
    let rewritten = this.sqliteTexts.get(text);
    if (!rewritten) {
      const order: number[] = [];
      const sql = text.replace(/\$(\d+)/g, (_m, n: string) => {
        order.push(Number(n) - 1);
        return '?';
      });
      rewritten = { sql, order };
      // Fixed statements are cached; multi-row inserts (long, one text per row count) are not.
      if (text.length <= 4096 && this.sqliteTexts.size < 1000) this.sqliteTexts.set(text, rewritten);
    }
    const result: unknown = await tx.query(
      rewritten.sql,
      rewritten.order.map((i) => params[i]),
    );
    // A statement that returns no rows answers with its run result (changes, last row id).
    return Array.isArray(result) ? (result as T[]) : [];
  }

  /** Statements sent to the database so far, by kind (empty when the data source counts none). */
  statementCounts(): ReadonlyMap<string, number> {
    const logger = this.dataSource.logger;
    return logger instanceof StatementCounts ? logger.snapshot() : new Map();
  }

  /** Readiness probe: a trivial round trip. */
  async ping(): Promise<void> {
    if (!this.dataSource.isInitialized) throw new Error('database not initialised');
    await this.read((m) => m.query('SELECT 1'));
  }
}
