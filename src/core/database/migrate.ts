import { Client } from 'pg';
import { DataSource, DataSourceOptions, MigrationExecutor } from 'typeorm';
import { buildDataSourceOptions, type DataSourceConfig } from './data-source-options';
import { Database } from './database.service';

/** Postgres does not create a missing schema by itself; do it before migrations run. */
export async function ensureSchema(options: DataSourceOptions): Promise<void> {
  if (options.type !== 'postgres' || !options.schema || options.schema === 'public') return;
  const client = new Client({ connectionString: options.url });
  await client.connect();
  try {
    await client.query(`CREATE SCHEMA IF NOT EXISTS "${options.schema}"`);
  } finally {
    await client.end();
  }
}

const MIGRATION_LOCK_KEY = 7_220_001;

/** Runs pending migrations; on Postgres under a session advisory lock, so nodes starting together take turns. */
export async function runMigrationsExclusively(dataSource: DataSource): Promise<void> {
  if (dataSource.options.type !== 'postgres') {
    await dataSource.runMigrations();
    return;
  }
  const runner = dataSource.createQueryRunner();
  try {
    // Migrations run on this one session, without the lock and statement timeouts every other
    // session carries: a node waiting for another's migrations, or a long data migration, must
    // not fail start-up (the timeouts protect live traffic, not schema changes).
    await runner.query('SET lock_timeout = 0');
    await runner.query('SET statement_timeout = 0');
    await runner.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    const executor = new MigrationExecutor(dataSource, runner);
    executor.transaction = dataSource.options.migrationsTransactionMode ?? 'all';
    await executor.executePendingMigrations();
  } finally {
    await runner.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]).catch(() => undefined);
    // This session goes back to the pool: it must carry the timeouts every session starts with
    // again (RESET returns to the startup options), or live traffic that later gets it (an
    // append waiting on a frozen node's lock) would wait without limit.
    await runner.query('RESET lock_timeout').catch(() => undefined);
    await runner.query('RESET statement_timeout').catch(() => undefined);
    await runner.release();
  }
}

/**
 * A database outside the Nest app (command-line tools): schema ensured, migrations run as at
 * start-up, and the `Database` every store takes.
 */
export async function openDatabase(
  config: DataSourceConfig,
  entities: DataSourceOptions['entities'],
): Promise<{ db: Database; close(): Promise<void> }> {
  const options = buildDataSourceOptions(config, entities);
  await ensureSchema(options);
  const dataSource = await new DataSource(options).initialize();
  try {
    await runMigrationsExclusively(dataSource);
  } catch (err) {
    await dataSource.destroy();
    throw err;
  }
  return { db: new Database(dataSource), close: () => dataSource.destroy() };
}
