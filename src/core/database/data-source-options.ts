import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { DataSourceOptions } from 'typeorm';
import type { DatabaseConfig } from '../config';
import { MIGRATIONS } from './migrations';

export type DatabaseEngine = 'postgres' | 'sqlite';

export function databaseEngine(config: DatabaseConfig): DatabaseEngine {
  return config.url ? 'postgres' : 'sqlite';
}

/**
 * TypeORM options for both engines. Schema changes only ever come from MIGRATIONS;
 * `synchronize` stays off. Entities are registered by the modules that own them.
 */
export function buildDataSourceOptions(config: DatabaseConfig, entities: DataSourceOptions['entities'] = []): DataSourceOptions {
  const common = {
    entities,
    migrations: MIGRATIONS,
    migrationsTableName: 'herald_migrations',
    synchronize: false,
    logging: false as const,
  };
  if (config.url) {
    const schema = config.schema ?? 'public';
    return {
      ...common,
      type: 'postgres',
      url: config.url,
      schema,
      // Unqualified SQL (raw queries, advisory locks) must land in the same schema as the entities.
      extra: { max: config.poolSize, options: `-c search_path=${schema}` },
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
