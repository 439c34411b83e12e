import request from 'supertest';
import { mintKey } from '../support/credentials';
import { publish } from '../support/events';
import { describePostgres, describeSqlite } from '../support/engines';
import { services } from '../support/services';
import { waitFor } from '../support/sockets';
import { TcpProxy } from '../support/tcp-proxy';
import { startTestApp, type TestApp } from '../support/test-app';
import { createTestDatabase, type TestDatabase } from '../support/test-database';

interface SqliteHandle {
  exec(sql: string): void;
  close(): void;
}

/** better-sqlite3 (the driver the app itself uses); its types are not installed. */
async function openSqlite(path: string): Promise<SqliteHandle> {
  const driver = 'better-sqlite3';
  const { default: Database } = (await import(driver)) as { default: new (file: string) => SqliteHandle };
  return new Database(path);
}

/** A key of the right shape that is in no cache, so checking it needs the database. */
const UNKNOWN_KEY = `hrld_${'0'.repeat(32)}`;
const UNAVAILABLE = /^Service temporarily unavailable, retry in 5 s \(request id [^)]+\)$/;

function stale(metricsText: string, metric: string): number | undefined {
  const match = new RegExp(`^herald_metric_stale\\{metric="${metric}"\\} (\\d+)$`, 'm').exec(metricsText);
  return match ? Number(match[1]) : undefined;
}

/**
 * While the database cannot answer, requests that need it get 503 with Retry-After in their
 * family's envelope (not a 500 that reads like a bug), and /metrics keeps answering.
 */

describePostgres('Postgres outage: 503 with Retry-After', () => {
  let proxy: TcpProxy;
  let database: TestDatabase;
  let t: TestApp;
  let producer: string;

  beforeAll(async () => {
    const real = new URL(services.databaseUrl!);
    proxy = await TcpProxy.start({ host: real.hostname, port: Number(real.port || 5432) });
    const proxied = new URL(services.databaseUrl!);
    proxied.hostname = '127.0.0.1';
    proxied.port = String(proxy.port);
    database = createTestDatabase();
    t = await startTestApp({ database, redis: false, env: { DATABASE_URL: proxied.toString() } });
    producer = await mintKey(t, { org: 'org_outage', scopes: ['events:publish'] });
  });
  afterAll(async () => {
    await proxy?.up();
    await t?.close();
    await database?.drop();
    await proxy?.down();
  });

  it('answers 503 + Retry-After in each family while Postgres is unreachable, and recovers when it is back', async () => {
    expect((await publish(t.url, producer)).status).toBe(201);
    // One good scrape first, so the gauges have a last value to keep.
    const before = await request(t.url).get('/metrics');
    expect(stale(before.text, 'herald_event_log_head')).toBe(0);

    await proxy.down();

    const published = await publish(t.url, producer, { claim_id: 'clm_down' });
    expect(published.status).toBe(503);
    expect(published.headers['retry-after']).toBe('5');
    expect(published.body).toEqual({
      statusCode: 503,
      error: 'Service Unavailable',
      message: expect.stringMatching(UNAVAILABLE),
    });
    // The message names the id the response carries, so a client's report finds the log line.
    expect(published.body.message).toContain(`(request id ${published.headers['x-request-id']})`);

    const ws = await request(t.url).get('/api/v1/ws/subscribe').set('X-Api-Key', UNKNOWN_KEY);
    expect(ws.status).toBe(503);
    expect(ws.headers['retry-after']).toBe('5');
    expect(ws.body).toEqual({
      code: 503,
      message: expect.stringMatching(UNAVAILABLE),
      stack: [
        {
          code: 503,
          description: expect.stringMatching(UNAVAILABLE),
          error: 'Service Unavailable',
          path: '/api/v1/ws/subscribe',
        },
      ],
    });

    const sessions = await request(t.url)
      .get('/v1/events/mO2rT1xq9bYk3LzA_7-c/subscriptions')
      .set('Authorization', `Bearer ${UNKNOWN_KEY}`);
    expect(sessions.status).toBe(503);
    expect(sessions.headers['retry-after']).toBe('5');
    expect(sessions.body).toEqual({ success: false, message: expect.stringMatching(UNAVAILABLE) });

    // /metrics still answers, with every in-memory metric, the database gauges marked stale.
    const metrics = await request(t.url).get('/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.text).toContain('herald_http_request_duration_seconds_bucket');
    expect(stale(metrics.text, 'herald_event_log_head')).toBe(1);
    expect(metrics.text).toMatch(/^herald_event_log_head \d+$/m);
    expect((await request(t.url).get('/healthz')).status).toBe(200);

    await proxy.up();
    await waitFor(
      'publishing to work again',
      async () => (await publish(t.url, producer, { claim_id: 'clm_back' })).status === 201,
      15_000,
    );
    expect(stale((await request(t.url).get('/metrics')).text, 'herald_event_log_head')).toBe(0);
  });
});

describeSqlite('SQLite busy: 503 with Retry-After', () => {
  let t: TestApp;
  let producer: string;

  beforeAll(async () => {
    t = await startTestApp();
    producer = await mintKey(t, { org: 'org_outage', scopes: ['events:publish'] });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('a write that waits out the busy timeout behind another writer answers 503 + Retry-After, not 500', async () => {
    expect((await publish(t.url, producer)).status).toBe(201);
    // Another process holding the write lock (a backup, a migration tool, a stuck writer).
    const other = await openSqlite(t.config.database.sqlitePath);
    try {
      other.exec('BEGIN IMMEDIATE');
      const res = await publish(t.url, producer, { claim_id: 'clm_busy' });
      expect(res.status).toBe(503);
      expect(res.headers['retry-after']).toBe('5');
      expect(res.body).toEqual({
        statusCode: 503,
        error: 'Service Unavailable',
        message: expect.stringMatching(UNAVAILABLE),
      });
    } finally {
      other.exec('ROLLBACK');
      other.close();
    }
    expect((await publish(t.url, producer, { claim_id: 'clm_free' })).status).toBe(201);
  });
});
