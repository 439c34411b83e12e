import request from 'supertest';
import { Database } from '../../src/core/database/database.service';
import { TableStatistics } from '../../src/core/database/table-statistics';
import { mintKey } from '../support/credentials';
import { describePostgres } from '../support/engines';
import { waitFor } from '../support/sockets';
import { startTestApp, TestApp } from '../support/test-app';

/**
 * On Postgres the node keeps its tables' planner statistics current itself (table-statistics.ts):
 * this machine's Postgres, like some production ones, has autovacuum off, and a log read planned
 * without statistics costs the whole rest of the log per page.
 */
describePostgres('table statistics on Postgres', () => {
  let t: TestApp;
  let db: Database;

  beforeAll(async () => {
    t = await startTestApp();
    db = t.app.get(Database);
  });
  afterAll(async () => {
    await t?.close();
  });

  const statsOf = async (table: string) => {
    const [row] = await db.read((m) =>
      db.query<{ analyzed: number | string; live: number | string }>(
        m,
        `SELECT analyze_count + autoanalyze_count AS analyzed, n_live_tup AS live
           FROM pg_stat_user_tables WHERE schemaname = current_schema() AND relname = $1`,
        [table],
      ),
    );
    return { analyzed: Number(row.analyzed), live: Number(row.live) };
  };

  it('analyzes the event log once it has grown past its statistics, and then leaves it alone', async () => {
    const app = await mintKey(t, { org: 'org_stats', scopes: ['events:publish'] });
    const before = await statsOf('events');
    for (let batch = 0; batch < 2; batch++) {
      const res = await request(t.url)
        .post('/api/v1/events/batch')
        .set('X-Api-Key', app)
        .send({ events: Array.from({ length: 200 }, (_, i) => ({ type: 'status_changed', data: { i } })) });
      expect(res.status).toBe(201);
    }
    await waitFor('events analyzed', async () => (await statsOf('events')).analyzed > before.analyzed, 15_000);
    // Fresh statistics: nothing is stale now, so a check analyzes nothing more.
    await waitFor(
      'the statistics counters to settle',
      async () => !(await t.app.get(TableStatistics).stale()).includes('events'),
    );
    const after = await statsOf('events');
    await t.app.get(TableStatistics).check();
    expect((await statsOf('events')).analyzed).toBe(after.analyzed);
    expect(after.live).toBeGreaterThanOrEqual(400);
  });
});
