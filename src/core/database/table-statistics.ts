import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../config';
import { Database } from './database.service';
import { schemaLockKey } from './lock-keys';
import { nonOverlapping } from './periodic';

/** How often each node looks for a table whose planner statistics have gone stale. */
export const STATISTICS_CHECK_MS = 2000;
/**
 * A table is re-analyzed once more rows than STALE_ROWS plus STALE_SHARE of the rows its last
 * statistics counted have changed since: a table that was never analyzed, after 50 rows; a growing
 * one, each time it grew by half. The plans at stake only go wrong on estimates that are off by
 * orders of magnitude. (Autovacuum's own 10 % would analyze a table growing at 1,000 rows/s at
 * nearly every check, which costs the database more than it saves.)
 */
export const STALE_ROWS = 50;
export const STALE_SHARE = 0.5;

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
 * So every node checks `pg_stat_user_tables` every STATISTICS_CHECK_MS (one cheap read of shared
 * memory) and ANALYZEs any table of the schema that changed by half the rows its statistics know. The ANALYZE runs
 * under a transaction-scoped advisory lock taken with `try`, so two nodes never analyze at once
 * and neither waits. On a server where autovacuum is on this rarely finds work; where it is off
 * the node says so once at start, because dead rows are then never reclaimed.
 */
@Injectable()
export class TableStatistics implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('TableStatistics');
  private readonly lockKey: number;
  private readonly periodic = nonOverlapping(() => this.check());
  private timer?: NodeJS.Timeout;
  private failing = false;

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

  /** The schema's tables past the threshold: what the next check analyzes. */
  async stale(): Promise<string[]> {
    const rows = await this.db.read((m) =>
      this.db.query<{ relname: string }>(
        m,
        // pg_class.reltuples is the row count the planner knows (-1 before the first ANALYZE).
        `SELECT s.relname FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid
          WHERE s.schemaname = current_schema()
            AND s.n_mod_since_analyze > $1::bigint + $2::float8 * GREATEST(c.reltuples, 0)
          ORDER BY s.relname`,
        [STALE_ROWS, STALE_SHARE],
      ),
    );
    return rows.map((row) => row.relname);
  }

  /** Analyzes every stale table (skipping any while another node analyzes). Never rejects. */
  async check(): Promise<void> {
    try {
      for (const table of await this.stale()) {
        const analyzed = await this.db.transaction(async (m) => {
          const [lock] = await this.db.query<{ locked: boolean }>(m, 'SELECT pg_try_advisory_xact_lock($1) AS locked', [
            this.lockKey,
          ]);
          if (!lock?.locked) return false;
          // Raw SQL: ANALYZE has no query-builder form. The name comes from the catalog, quoted.
          await m.query(`ANALYZE "${table.replace(/"/g, '""')}"`);
          return true;
        });
        if (!analyzed) return;
        this.logger.debug({ table }, 'analyzed a table whose statistics were stale');
      }
      if (this.failing) this.logger.log('table statistics check works again');
      this.failing = false;
    } catch (err) {
      if (!this.failing) this.logger.warn({ err }, 'table statistics check failed; retrying');
      this.failing = true;
    }
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
