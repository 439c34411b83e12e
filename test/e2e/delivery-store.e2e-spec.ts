import { APP_CONFIG, type AppConfig } from '../../src/core/config';
import { Database } from '../../src/core/database/database.service';
import { schemaLockKey } from '../../src/core/database/lock-keys';
import { isoNow, toIso } from '../../src/core/http/time';
import {
  ClaimLockBusy,
  DeliveryStore,
  OWING_ENDPOINTS_SQL,
  type Completion,
} from '../../src/core/webhooks/delivery.store';
import { EndpointStore } from '../../src/core/webhooks/endpoint.store';
import { WebhooksService } from '../../src/core/webhooks/webhooks.service';
import { pendingDelivery } from '../support/deliveries';
import { itOnPostgres } from '../support/engines';
import { Gate } from '../support/freeze';
import { startTestApp, type TestApp } from '../support/test-app';

const ORG = 'org_delivery_store';

/** One node of a Postgres `EXPLAIN (ANALYZE, FORMAT JSON)` plan, as far as it is read here. */
interface PlanNode {
  'Relation Name'?: string;
  'Actual Rows': number;
  'Actual Loops': number;
  'Rows Removed by Filter'?: number;
  'Rows Removed by Index Recheck'?: number;
  Plans?: PlanNode[];
}

/** Rows every scan of `relation` in the plan returned or filtered out, over all its loops. */
function rowsScanned(node: PlanNode, relation: string): number {
  const own =
    node['Relation Name'] === relation
      ? (node['Actual Rows'] + (node['Rows Removed by Filter'] ?? 0) + (node['Rows Removed by Index Recheck'] ?? 0)) *
        node['Actual Loops']
      : 0;
  return own + (node.Plans ?? []).reduce((n, child) => n + rowsScanned(child, relation), 0);
}

/**
 * The worker's batched writes against the real database of the run (SQLite, or Postgres when
 * TEST_DATABASE_URL is set): a lease read back in one statement, a group of results recorded in
 * one statement that skips any whose lease was lost, and a group of attempts in one INSERT. The
 * app's own worker polls once an hour here, so only this test touches the rows.
 */
describe('delivery store: leases and results in batches', () => {
  let t: TestApp;
  let db: Database;
  let store: DeliveryStore;

  beforeAll(async () => {
    t = await startTestApp({ env: { WEBHOOK_POLL_INTERVAL: '1h', DATABASE_LOCK_TIMEOUT: '30s' } });
    db = t.app.get(Database);
    store = t.app.get(DeliveryStore);
  });
  afterAll(async () => {
    await t?.close();
  });

  it('records the results whose lease holds, leaves the others, and logs the attempts', async () => {
    const ids = ['whd_batch_1', 'whd_batch_2', 'whd_batch_3', 'whd_batch_4'];
    const created = isoNow();
    await db.transaction((m) =>
      store.insert(
        m,
        ids.map((id, i) =>
          pendingDelivery({
            id,
            endpoint_id: 'whe_batch',
            organisation_id: ORG,
            event_id: `evt_batch_${i}`,
            event_seq: i + 1,
            body: JSON.stringify({ id: `evt_batch_${i}` }),
            created_at: created,
          }),
        ),
      ),
    );
    const now = isoNow();
    const leaseUntil = toIso(Date.now() + 60_000);
    // Asked in this order, answered in this order; a row that is not pending is not leased.
    const leased = await db.transaction((m) =>
      store.lease(m, [ids[2], ids[0], ids[1], 'whd_missing'], now, leaseUntil),
    );
    expect(leased.map((d) => d.id)).toEqual([ids[2], ids[0], ids[1]]);
    expect(leased[0]).toMatchObject({ endpoint_id: 'whe_batch', attempts: 0, retry_base: 0, lease_until: leaseUntil });
    expect(JSON.parse(leased[0].body)).toEqual({ id: 'evt_batch_2' });
    // Leased already: a second claim gets nothing.
    expect(await db.transaction((m) => store.lease(m, [ids[0]], now, toIso(Date.now() + 90_000)))).toEqual([]);

    const at = isoNow();
    const delivered: Completion = {
      status: 'delivered',
      attempts: 1,
      response_status: 200,
      error: null,
      duration_ms: 12,
      delivered_at: at,
      next_attempt_at: null,
      at,
    };
    const retry: Completion = {
      status: 'pending',
      attempts: 1,
      response_status: 503,
      error: 'HTTP 503',
      duration_ms: 7,
      delivered_at: null,
      next_attempt_at: toIso(Date.now() + 5_000),
      at,
    };
    const recorded = await db.transaction((m) =>
      store.complete(m, [
        { id: ids[0], lease: leaseUntil, completion: delivered },
        // Its lease ran out and another node took it meanwhile: not this worker's to record.
        { id: ids[1], lease: toIso(Date.now() - 1_000), completion: delivered },
        { id: ids[2], lease: leaseUntil, completion: retry },
        // Never leased.
        { id: ids[3], lease: leaseUntil, completion: delivered },
      ]),
    );
    expect([...recorded].sort()).toEqual([ids[0], ids[2]]);

    const entry = async (id: string) => (await store.findEntry(ORG, id))!;
    expect(await entry(ids[0])).toMatchObject({
      status: 'delivered',
      attempts: 1,
      response_status: 200,
      delivered_at: at,
    });
    expect(await entry(ids[1])).toMatchObject({ status: 'pending', attempts: 0 });
    expect(await entry(ids[2])).toMatchObject({
      status: 'pending',
      attempts: 1,
      response_status: 503,
      error: 'HTTP 503',
      next_attempt_at: retry.next_attempt_at,
    });
    expect(await entry(ids[3])).toMatchObject({ status: 'pending', attempts: 0 });
    // A final row drops its body; a retried one keeps it for the next attempt, and can be leased again once due.
    const bodies = await db.read((m) =>
      db.query<{ id: string; body: string | null; lease_until: string | null }>(
        m,
        'SELECT id, body, lease_until FROM webhook_deliveries WHERE id IN ($1, $2) ORDER BY id',
        [ids[0], ids[2]],
      ),
    );
    expect(bodies).toEqual([
      { id: ids[0], body: null, lease_until: null },
      { id: ids[2], body: JSON.stringify({ id: 'evt_batch_2' }), lease_until: null },
    ]);

    await db.transaction((m) =>
      store.addAttempts(
        m,
        [ids[0], ids[2]].map((id, i) => ({
          delivery_id: id,
          attempt: {
            attempt: 1,
            outcome: i ? 'retrying' : 'delivered',
            response_status: i ? 503 : 200,
            error: i ? 'HTTP 503' : null,
            duration_ms: 10 + i,
            attempted_at: at,
            request_headers: { 'webhook-id': id },
            response_body: i ? 'busy' : 'ok',
          },
        })),
      ),
    );
    expect(await store.attempts(ORG, ids[0])).toEqual([
      expect.objectContaining({
        attempt: 1,
        outcome: 'delivered',
        response_status: 200,
        duration_ms: 10,
        response_body: 'ok',
      }),
    ]);
    expect(await store.attempts(ORG, ids[2])).toEqual([
      expect.objectContaining({
        attempt: 1,
        outcome: 'retrying',
        error: 'HTTP 503',
        request_headers: { 'webhook-id': ids[2] },
        response_body: 'busy',
      }),
    ]);
  });

  itOnPostgres(
    'records a group of delivered results in one statement: lease checked, attempts logged, streaks ended',
    async () => {
      const webhooks = t.app.get(WebhooksService);
      const endpoints = t.app.get(EndpointStore);
      // Two endpoints in a failure streak, one without.
      for (const id of ['whe_one_failing', 'whe_one_kept', 'whe_one_fine'])
        await db.transaction((m) =>
          webhooks.saveEndpoint(m, {
            id,
            kind: 'test',
            organisation_id: ORG,
            url: 'https://receiver.example/hooks',
            secret: webhooks.generateSecret(),
          }),
        );
      for (const id of ['whe_one_failing', 'whe_one_kept'])
        await db.transaction((m) =>
          endpoints.recordFailure(m, ORG, id, { at: isoNow(), error: 'HTTP 503', deliveryFailed: true }),
        );
      const ids = ['whd_one_1', 'whd_one_2', 'whd_one_3'];
      // The second row is the only one for whe_one_kept, and it will not be recorded.
      const endpointOf = (i: number) => ['whe_one_failing', 'whe_one_kept', 'whe_one_fine'][i];
      const created = isoNow();
      await db.transaction((m) =>
        store.insert(
          m,
          ids.map((id, i) =>
            pendingDelivery({
              id,
              endpoint_id: endpointOf(i),
              organisation_id: ORG,
              event_id: `evt_one_${i}`,
              event_seq: 100 + i,
              body: JSON.stringify({ id: `evt_one_${i}` }),
              created_at: created,
            }),
          ),
        ),
      );
      const leaseUntil = toIso(Date.now() + 60_000);
      await db.transaction((m) => store.lease(m, ids, isoNow(), leaseUntil));
      const at = isoNow();
      const results = ids.map((id, i) => ({
        id,
        // The second one's lease ran out and another node took the row: not this worker's to record.
        lease: i === 1 ? toIso(Date.now() - 1_000) : leaseUntil,
        completion: { attempts: 1, response_status: 204, duration_ms: 9, at },
        request_headers: { 'webhook-id': id },
        response_body: 'ok',
        endpoint: { organisation_id: ORG, id: endpointOf(i) },
      }));
      const recorded = await db.read((m) => store.recordDelivered(m, results));
      expect([...recorded].sort()).toEqual([ids[0], ids[2]]);
      // Recorded once: the same results again change nothing and log nothing more.
      expect([...(await db.read((m) => store.recordDelivered(m, results)))]).toEqual([]);

      const entry = async (id: string) => (await store.findEntry(ORG, id))!;
      expect(await entry(ids[0])).toMatchObject({
        status: 'delivered',
        attempts: 1,
        response_status: 204,
        error: null,
        delivered_at: at,
        next_attempt_at: null,
      });
      expect(await entry(ids[1])).toMatchObject({ status: 'pending', attempts: 0 });
      expect(await entry(ids[2])).toMatchObject({ status: 'delivered', attempts: 1 });
      expect(await store.attempts(ORG, ids[0])).toEqual([
        expect.objectContaining({
          attempt: 1,
          outcome: 'delivered',
          response_status: 204,
          error: null,
          duration_ms: 9,
          attempted_at: at,
          request_headers: { 'webhook-id': ids[0] },
          response_body: 'ok',
        }),
      ]);
      // Nothing is logged for the row that was not recorded.
      expect(await store.attempts(ORG, ids[1])).toEqual([]);
      const rows = await db.read((m) =>
        db.query<{ body: string | null; lease_until: string | null; duration_ms: number; updated_at: string }>(
          m,
          'SELECT body, lease_until, duration_ms, updated_at FROM webhook_deliveries WHERE id = $1',
          [ids[0]],
        ),
      );
      expect(rows).toEqual([{ body: null, lease_until: null, duration_ms: 9, updated_at: at }]);
      const streaks = await db.read((m) =>
        db.query<{
          id: string;
          failing_since: string | null;
          failed_attempts: number;
          failed_deliveries: number;
          last_error: string | null;
        }>(
          m,
          `SELECT id, failing_since, failed_attempts, failed_deliveries, last_error FROM webhook_endpoints
         WHERE id IN ($1, $2, $3) ORDER BY id`,
          ['whe_one_failing', 'whe_one_fine', 'whe_one_kept'],
        ),
      );
      expect(streaks).toEqual([
        { id: 'whe_one_failing', failing_since: null, failed_attempts: 0, failed_deliveries: 0, last_error: null },
        { id: 'whe_one_fine', failing_since: null, failed_attempts: 0, failed_deliveries: 0, last_error: null },
        // Its only result was not recorded: its streak stands.
        {
          id: 'whe_one_kept',
          failing_since: expect.any(String),
          failed_attempts: 1,
          failed_deliveries: 1,
          last_error: 'HTTP 503',
        },
      ]);
    },
  );

  it('tells whether any row is claimable: due, pending and under no live lease', async () => {
    // Times long past, so the other cases' rows (due now) are not due at these instants.
    const claimableAt = (now: string) => store.anyClaimableAcrossTenants(now);
    expect(await claimableAt('2000-06-01T00:00:00.000Z')).toBe(false);
    await db.transaction((m) =>
      store.insert(m, [
        pendingDelivery({
          id: 'whd_claimable',
          endpoint_id: 'whe_claimable',
          organisation_id: ORG,
          event_id: 'evt_claimable',
          event_seq: 500,
          body: JSON.stringify({ id: 'evt_claimable' }),
          created_at: '2001-01-01T00:00:00.000Z',
        }),
      ]),
    );
    // Not due yet, then due.
    expect(await claimableAt('2000-06-01T00:00:00.000Z')).toBe(false);
    expect(await claimableAt('2002-01-01T00:00:00.000Z')).toBe(true);
    // Leased until 2003: not claimable while the lease holds, claimable again once it has run out.
    await db.transaction((m) =>
      store.lease(m, ['whd_claimable'], '2002-01-01T00:00:00.000Z', '2003-01-01T00:00:00.000Z'),
    );
    expect(await claimableAt('2002-06-01T00:00:00.000Z')).toBe(false);
    expect(await claimableAt('2004-01-01T00:00:00.000Z')).toBe(true);
  });

  itOnPostgres('finds the endpoints owing work with a few index probes each, not a scan of their backlog', async () => {
    // 20 endpoints with 400 rows each pending, 3 of each leased, in a table whose statistics were
    // taken while none of them was pending: the usual state between bursts, when every index on
    // `status` looks equally cheap to the planner.
    const endpoints = 20;
    const perEndpoint = 400;
    const created = '2001-01-01T00:00:00.000Z';
    const endpointOf = (e: number) => `whe_plan_${String(e).padStart(2, '0')}`;
    await db.transaction((m) =>
      store.insert(
        m,
        Array.from({ length: endpoints * perEndpoint }, (_, i) =>
          pendingDelivery({
            id: `whd_plan_${i}`,
            endpoint_id: endpointOf(i % endpoints),
            organisation_id: `${ORG}_plan_${i % endpoints}`,
            event_id: `evt_plan_${i}`,
            event_seq: 10_000 + i,
            body: '{}',
            created_at: created,
          }),
        ),
      ),
    );
    const runner = db.dataSource.createQueryRunner();
    try {
      await runner.connect();
      await runner.query(`UPDATE webhook_deliveries SET status = 'delivered' WHERE id LIKE 'whd_plan_%'`);
      await runner.query('ANALYZE webhook_deliveries');
      await runner.query(`UPDATE webhook_deliveries SET status = 'pending' WHERE id LIKE 'whd_plan_%'`);
      const leaseUntil = '2001-01-01T01:00:00.000Z';
      await db.transaction((m) =>
        store.lease(
          m,
          Array.from({ length: endpoints * 3 }, (_, i) => `whd_plan_${i}`),
          created,
          leaseUntil,
        ),
      );

      // Half an hour later: the leases still run, every other row is due.
      const now = '2001-01-01T00:30:00.000Z';
      const inFlightAfter = '2001-01-01T00:30:00.000Z';
      // Other cases' rows may owe work too; these are the ones this case made.
      const all = await db.transaction((m) => store.owingEndpointsAcrossTenants(m, now, inFlightAfter));
      expect(all.filter((e) => e.endpoint_id.startsWith('whe_plan_'))).toEqual(
        Array.from({ length: endpoints }, (_, e) => ({
          endpoint_id: endpointOf(e),
          organisation_id: `${ORG}_plan_${e}`,
          leased: 3,
          oldest: created,
        })),
      );

      const [sql, parameters] = runner.connection.driver.escapeQueryWithParameters(
        `EXPLAIN (ANALYZE, FORMAT JSON) ${OWING_ENDPOINTS_SQL}`,
        { now, inFlightAfter },
      );
      const [{ 'QUERY PLAN': plan }] = (await runner.query(sql, parameters)) as {
        'QUERY PLAN': { Plan: PlanNode }[];
      }[];
      // Rows the scans of the table went through: a few per owing endpoint, plus the leases. A
      // lookup served by the wrong index (every one on `status` looks alike to these statistics)
      // walks all 8,000 pending rows, and did, for the first endpoint and again for the leases.
      const scanned = rowsScanned(plan[0].Plan, 'webhook_deliveries');
      expect(scanned).toBeGreaterThanOrEqual(endpoints * 3);
      expect(scanned).toBeLessThan(10 * all.length + endpoints * 3);
    } finally {
      await runner.query(`DELETE FROM webhook_deliveries WHERE id LIKE 'whd_plan_%'`);
      await runner.release();
    }
  });

  itOnPostgres('a claim waits for the claim lock while another holds it, and gives up after its wait', async () => {
    // A key of this run's schema, so parallel runs on one Postgres never share it.
    const key = schemaLockKey('delivery-store-e2e-claims', t.app.get<AppConfig>(APP_CONFIG).database.schema);
    const held = new Gate();
    /** A claim that has taken the lock and holds it until the gate opens; resolves once it is held. */
    const holdLock = async (): Promise<{ done: Promise<void> }> => {
      held.shut();
      let taken!: () => void;
      const holding = new Promise<void>((resolve) => (taken = resolve));
      const holder = db.transaction(async (m) => {
        await store.lockClaims(m, key, 1_000);
        taken();
        await held.pass();
      });
      await holding;
      // Wrapped: an async function returning the promise itself would wait for it to settle.
      return { done: holder };
    };
    const { done: first } = await holdLock();
    // A second claim, willing to wait long enough: it is still waiting, and goes on once the first ends.
    let secondDone = false;
    const second = db.transaction((m) => store.lockClaims(m, key, 30_000)).then(() => (secondDone = true));
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(secondDone).toBe(false);
    held.reopen();
    await first;
    await second;
    expect(secondDone).toBe(true);

    // A claim that would wait only briefly gives up with ClaimLockBusy, and its transaction rolls
    // back. It gives up after its own wait, not the session's lock_timeout (DATABASE_LOCK_TIMEOUT, 30 s here).
    const { done: holder } = await holdLock();
    const asked = Date.now();
    await expect(db.transaction((m) => store.lockClaims(m, key, 100))).rejects.toBeInstanceOf(ClaimLockBusy);
    expect(Date.now() - asked).toBeLessThan(15_000);
    held.reopen();
    await holder;
    // The lock is free again, and the wait limit did not outlive its transaction: asked on the
    // same connection afterwards, the session's own setting is back.
    const runner = db.dataSource.createQueryRunner();
    try {
      await runner.connect();
      await runner.startTransaction();
      await store.lockClaims(runner.manager, key, 100);
      await runner.commitTransaction();
      const [{ lock_timeout }] = (await runner.query('SHOW lock_timeout')) as { lock_timeout: string }[];
      expect(lock_timeout).toBe('30s');
    } finally {
      await runner.release();
    }
  });
});

/**
 * A worker woken when nothing is claimable (another node's notice for work already leased, a
 * poll on an idle node) asks one question and opens no claim transaction.
 */
describe('delivery worker: wake-ups with nothing to claim', () => {
  let t: TestApp;

  beforeAll(async () => {
    // The worker polls every 50 ms; the dispatcher, whose batches are transactions too, not at all.
    // Lease renewals (a transaction each, every third of DISPATCHER_LEASE) stay outside the window too.
    t = await startTestApp({
      env: { WEBHOOK_POLL_INTERVAL: '50ms', DISPATCH_POLL_INTERVAL: '1h', DISPATCHER_LEASE: '60s' },
    });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('polls an idle queue without claim transactions', async () => {
    const db = t.app.get(Database);
    const counts = () => new Map(db.statementCounts());
    const before = counts();
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const after = counts();
    const grew = (kind: string) => (after.get(kind) ?? 0) - (before.get(kind) ?? 0);
    // About 20 polls, each one SELECT; none of them a claim (BEGIN, lock, plan, COMMIT).
    expect(grew('select')).toBeGreaterThanOrEqual(5);
    expect(grew('begin')).toBe(0);
  });
});
