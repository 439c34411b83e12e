import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../config';
import { Database, type Tx } from './database.service';
import { schemaLockKey } from './lock-keys';
import { nonOverlapping } from './periodic';

/** How often each node looks for a table whose planner statistics have gone stale. */
export const STATISTICS_CHECK_MS = 2000;
/**
 * A table is re-analyzed once it holds more rows than STALE_ROWS plus (1 + STALE_GROWTH) times
 * the rows its last statistics counted: a table never analyzed, past 50 rows; a growing one, each
 * time it grew by half. Growth, not changes: the plans at stake go wrong when the row counts are
 * off by orders of magnitude, while a one-row table updated at every dispatcher batch (the lease,
 * the checkpoints) would pass any threshold on changes at every check.
 */
export const STALE_ROWS = 50;
export const STALE_GROWTH = 0.5;

/**
 * Keeps Postgres's planner statistics for Herald's tables current, so the log's keyset reads keep
 * their index plans.
 *
 * A replay page or an event page is `WHERE organisation_id = … AND seq > … ORDER BY seq LIMIT n`.
 * With statistics, the planner walks the index in order and stops after n rows. Without them (a
 * table never analyzed, or one that grew tenfold since) it guesses a handful of matching rows and
 * picks a bitmap scan of every row after the cursor plus a sort: each page then costs the whole
 * rest of the log, and replaying 100k events read 200 pages of up to 100k rows each (6.5 s of
 * the 9 s it took, against 0.4 ms a page with statistics). Autovacuum normally prevents this, but
 * it runs at most once a minute (behind a burst), and a server may have it off.
 *
 * So every node reads `pg_stat_user_tables` every STATISTICS_CHECK_MS (shared memory, cheap) and
 * ANALYZEs each table of the schema that Herald's role owns and that grew past its statistics.
 * Each ANALYZE runs under a transaction-scoped advisory lock taken with `try`, and the table is
 * checked again under it, so two nodes never analyze at once, neither waits, and a table another
 * node just analyzed is left alone. One table failing (a lock or statement timeout) does not
 * hold back the others. Where autovacuum is off the node says so once at start: it does not
 * VACUUM, so dead rows are then never reclaimed.
 */
@Injectable()
export class TableStatistics implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('TableStatistics');
  private readonly lockKey: number;
  private readonly periodic = nonOverlapping(() => this.check());
  private timer?: NodeJS.Timeout;
  /** Tables whose last ANALYZE (or the check itself, under '') failed: warned about once per streak. */
  private readonly failing = new Set<string>();

  constructor(
    private readonly db: Database,
    @Inject(APP_CONFIG) config: AppConfig,
  ) {
    this.lockKey = schemaLockKey('analyze', config.database.schema);
  }

  onApplicationBootstrap(): void {
    if (!this.db.isPostgres) return;
    void this.warnIfAutovacuumOff();
    this.timer = setInterval(() => void this.periodic(), STATISTICS_CHECK_MS);
    this.timer.unref();
  }

  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.timer);
    await this.periodic.idle();
  }

  /** The schema's tables (names as in the catalog) that the next check analyzes. */
  async stale(): Promise<string[]> {
    return (await this.db.read((m) => this.staleIn(m))).map((table) => table.relname);
  }

  /**
   * Stale tables (only `only`, if given), each with its name quoted and qualified with the
   * session's schema, the one they were read from, ready for ANALYZE.
   */
  private staleIn(m: Tx, only?: string): Promise<{ relname: string; name: string }[]> {
    return this.db.query<{ relname: string; name: string }>(
      m,
      // pg_class.reltuples is the row count the planner knows (-1 before the first ANALYZE).
      `SELECT s.relname, format('%I.%I', s.schemaname, s.relname) AS name
         FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid
        WHERE s.schemaname = current_schema() AND pg_get_userbyid(c.relowner) = current_user
          AND ($3::text IS NULL OR s.relname = $3)
          AND s.n_live_tup > $1::bigint + (1 + $2::float8) * GREATEST(c.reltuples, 0)
        ORDER BY s.relname`,
      [STALE_ROWS, STALE_GROWTH, only ?? null],
    );
  }

  /** Analyzes every stale table (skipping one while another node analyzes). Never rejects. */
  async check(): Promise<void> {
    let tables: string[];
    try {
      tables = await this.stale();
      this.recovered('');
    } catch (err) {
      this.failed('', err);
      return;
    }
    for (const table of tables) {
      try {
        const analyzed = await this.analyze(table);
        this.recovered(table);
        if (analyzed) this.logger.debug({ table }, 'analyzed a table that outgrew its statistics');
      } catch (err) {
        this.failed(table, err);
      }
    }
  }

  /** ANALYZEs `table` if this node gets the lock and the table is still stale under it. */
  private analyze(table: string): Promise<boolean> {
    return this.db.transaction(async (m) => {
      const [lock] = await this.db.query<{ locked: boolean }>(m, 'SELECT pg_try_advisory_xact_lock($1) AS locked', [
        this.lockKey,
      ]);
      const [still] = lock?.locked ? await this.staleIn(m, table) : [];
      if (!still) return false;
      // Raw SQL: ANALYZE has no query-builder form. The name is the catalog's, quoted by format().
      await m.query(`ANALYZE ${still.name}`);
      return true;
    });
  }

  private failed(table: string, err: unknown): void {
    if (this.failing.has(table)) return;
    this.failing.add(table);
    this.logger.warn({ err, ...(table ? { table } : {}) }, 'table statistics check failed; retrying');
  }

  private recovered(table: string): void {
    if (this.failing.delete(table))
      this.logger.log({ ...(table ? { table } : {}) }, 'table statistics check works again');
  }

  private async warnIfAutovacuumOff(): Promise<void> {
    try {
      const [row] = await this.db.read((m) =>
        this.db.query<{ setting: string }>(m, `SELECT setting FROM pg_settings WHERE name = 'autovacuum'`),
      );
      if (row?.setting === 'off')
        this.logger.warn(
          'Postgres has autovacuum off: Herald keeps its tables analyzed itself, but dead rows ' +
            '(finished webhook deliveries, pruned events) are not reclaimed until a VACUUM runs',
        );
    } catch {
      // Only advice; the periodic check reports a database that cannot be read.
    }
  }
}
