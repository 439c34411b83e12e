import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { services } from './services';

/**
 * A database of a suite's own: a fresh Postgres schema when TEST_DATABASE_URL is set, else a
 * temp SQLite file. Several app instances (restarts, cluster nodes) can share one.
 */
export interface TestDatabase {
  engine: 'postgres' | 'sqlite';
  /** Unique per database; app instances sharing it also share a Redis prefix. */
  id: string;
  env: Record<string, string>;
  drop(): Promise<void>;
}

export function createTestDatabase(): TestDatabase {
  if (services.databaseUrl) {
    const schema = `t_${process.pid}_${randomBytes(4).toString('hex')}`;
    const url = services.databaseUrl;
    return {
      engine: 'postgres',
      id: schema,
      env: { DATABASE_URL: url, DATABASE_SCHEMA: schema },
      async drop() {
        const client = new Client({ connectionString: url });
        await client.connect();
        try {
          await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
        } finally {
          await client.end();
        }
      },
    };
  }
  const dir = mkdtempSync(join(tmpdir(), 'herald-test-'));
  return {
    engine: 'sqlite',
    id: `s_${process.pid}_${randomBytes(4).toString('hex')}`,
    env: { SQLITE_PATH: join(dir, 'herald.sqlite') },
    async drop() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
