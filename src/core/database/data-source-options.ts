import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { DataSourceOptions } from 'typeorm';
import type { DatabaseConfig } from '../config';
import { MIGRATIONS } from './migrations';
import { StatementCounts } from './statement-counts';

export type DatabaseEngine = 'postgres' | 'sqlite';

/**
 * The settings every Herald Postgres session starts with, as a libpq `options` string (sent in
 * the startup packet, so a pooled connection has them before its first query).
 *
 * - `search_path`: unqualified SQL (raw queries, advisory locks) lands in the entities' schema.
 * - `lock_timeout`: a statement waiting for a lock (a channel row, the append advisory lock)
 *   gives up with 55P03 instead of hanging behind a node that froze while holding it.
 * - `statement_timeout`: no statement holds a pool connection (and its locks) unbounded (57014).
 * - `idle_in_transaction_session_timeout`: a session left inside an open transaction (its
 *   process stopped or wedged) is ended by the server, which releases that transaction's locks.
 *   This is what frees the rest of the cluster from a frozen node.
 */
export function postgresSessionOptions(config: DataSourceConfig): string {
  const settings: Record<string, string | number | undefined> = {
    search_path: config.schema ?? 'public',
    lock_timeout: config.lockTimeoutMs,
    statement_timeout: config.statementTimeoutMs,
    idle_in_transaction_session_timeout: config.idleInTransactionTimeoutMs,
  };
  return Object.entries(settings)
    .filter(([, value]) => value !== undefined)
    .map(([name, value]) => `-c ${name}=${value}`)
    .join(' ');
}

type SessionTimeouts = 'lockTimeoutMs' | 'statementTimeoutMs' | 'idleInTransactionTimeoutMs';
/** A `DatabaseConfig`; a session timeout left out keeps the server's setting (tools, unit tests). */
export type DataSourceConfig = Omit<DatabaseConfig, SessionTimeouts> & Partial<Pick<DatabaseConfig, SessionTimeouts>>;

/**
 * TypeORM options for both engines. Schema changes only ever come from MIGRATIONS;
 * `synchronize` stays off. Entities are registered by the modules that own them.
 */
export function buildDataSourceOptions(
  config: DataSourceConfig,
  entities: DataSourceOptions['entities'] = [],
): DataSourceOptions {
  const common = {
    entities,
    migrations: MIGRATIONS,
    migrationsTableName: 'herald_migrations',
    synchronize: false,
    logging: false as const,
    // Writes nothing; counts the statements sent (Database.statementCounts).
    logger: new StatementCounts(),
  };
  if (config.url) {
    const schema = config.schema ?? 'public';
    return {
      ...common,
      type: 'postgres',
      url: config.url,
      schema,
      extra: { max: config.poolSize, options: postgresSessionOptions(config) },
    };
  }
  if (config.sqlitePath !== ':memory:') mkdirSync(dirname(config.sqlitePath), { recursive: true });
  return {
    ...common,
    type: 'better-sqlite3',
    database: config.sqlitePath,
    prepareDatabase: (db: { pragma(sql: string): unknown }) => {
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      db.pragma('busy_timeout = 5000');
      db.pragma('foreign_keys = ON');
    },
  };
}
