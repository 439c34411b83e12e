import { Client } from 'pg';
import { clusterAvailable, services } from '../support/services';
import { startTestApp } from '../support/test-app';
import { createTestDatabase } from '../support/test-database';

// Needs Postgres (see pipeline.cluster-spec.ts).
const describeCluster = clusterAvailable ? describe : describe.skip;

/** The advisory lock key start-up takes around migrations (src/core/database/database.module.ts). */
const MIGRATION_LOCK_KEY = 7_220_001;

describeCluster('cluster: start-up while another node runs migrations', () => {
  it('waits for the migration lock past DATABASE_LOCK_TIMEOUT instead of failing start-up', async () => {
    const database = createTestDatabase();
    const holder = new Client({ connectionString: services.databaseUrl });
    await holder.connect();
    try {
      // Another node migrating for longer than the lock timeout every live session carries.
      await holder.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
      const starting = startTestApp({ database, env: { DATABASE_LOCK_TIMEOUT: '1s' } });
      // Longer than start-up's retries (3 more attempts, a second apart) would wait at 1 s each.
      await new Promise((r) => setTimeout(r, 8000));
      await holder.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]);
      const node = await starting;
      expect((await fetch(`${node.url}/readyz`)).status).toBe(200);
      await node.close();
    } finally {
      await holder.end();
      await database.drop();
    }
  }, 30_000);
});
