import { Client } from 'pg';
import { io, Socket } from 'socket.io-client';
import request from 'supertest';
import { DataSource } from 'typeorm';
import { Database } from '../../src/core/database/database.service';
import { APPEND_LOCK_KEY } from '../../src/core/event-log/event-log.service';
import { mintKey } from '../support/credentials';
import { publish } from '../support/events';
import { clusterAvailable } from '../support/services';
import { record, waitFor } from '../support/sockets';
import { startTwoNodes, type TestApp } from '../support/test-app';
import type { TestDatabase } from '../support/test-database';

// Needs a shared Postgres and Redis (see pipeline.cluster-spec.ts).
const describeCluster = clusterAvailable ? describe : describe.skip;

const LOCK_TIMEOUT_MS = 1000;
const POOL_SIZE = 5;
const IDLE_IN_TRANSACTION_TIMEOUT_MS = 5000;
/** The bound: no publish on the healthy node waits longer than the lock timeout plus a second. */
const PUBLISH_BOUND_MS = LOCK_TIMEOUT_MS + 1000;

interface Timed {
  status: number;
  ms: number;
  /** When the answer came (epoch ms). */
  at: number;
  seq?: number;
}

/** SQLSTATE the server ends a session with when idle_in_transaction_session_timeout fires. */
const IDLE_IN_TRANSACTION_TIMEOUT_CODE = '25P03';

/**
 * A node that froze (SIGSTOP, a wedged event loop) in the middle of a transaction keeps its
 * locks: a channel row its cursor flush was writing, or the append lock. Here a plain pg session
 * opened with the nodes' own session settings plays that node: it takes the lock and never
 * commits. The healthy node must keep answering (its periodic jobs neither pile up behind the
 * lock nor take its pool), and the server must end the frozen transaction by itself
 * (idle_in_transaction_session_timeout), after which everything proceeds.
 */
describeCluster('cluster: a frozen node cannot stall a healthy one', () => {
  let database: TestDatabase;
  let a: TestApp;
  let b: TestApp;
  let app: string;
  let employee: string;
  const sockets: Socket[] = [];

  beforeAll(async () => {
    ({ a, b, database } = await startTwoNodes({
      DATABASE_LOCK_TIMEOUT: `${LOCK_TIMEOUT_MS}ms`,
      DATABASE_IDLE_IN_TRANSACTION_TIMEOUT: `${IDLE_IN_TRANSACTION_TIMEOUT_MS}ms`,
      // A small pool runs out sooner when periodic jobs pile up (half a second per flush tick).
      DATABASE_POOL_SIZE: String(POOL_SIZE),
    }));
    app = await mintKey(a, { org: 'org_frozen', scopes: ['events:publish', 'events:read'] });
    employee = await mintKey(a, { org: 'org_frozen', user: 'usr_f', scopes: ['events:read'] });
  });
  afterAll(async () => {
    for (const s of sockets) s.close();
    await a?.close();
    await b?.close();
    await database?.drop();
  });

  /** A session like the nodes' own (same settings), standing in for the frozen node. */
  async function frozenNodeSession(): Promise<{ client: Client; ended: Promise<{ code?: string; at: number }> }> {
    const { extra } = b.app.get(Database).dataSource.options as { extra?: { options?: string } };
    const client = new Client({ connectionString: b.config.database.url, options: extra?.options });
    // The server ending the session surfaces as an 'error' event carrying the reason's SQLSTATE.
    const ended = new Promise<{ code?: string; at: number }>((resolve) => {
      client.on('error', (err: Error & { code?: string }) => resolve({ code: err.code, at: Date.now() }));
      client.on('end', () => resolve({ at: Date.now() }));
    });
    await client.connect();
    return { client, ended };
  }

  async function timedPublish(data: Record<string, unknown>): Promise<Timed> {
    const started = Date.now();
    try {
      // Past the bound the answer no longer matters: the request counts as stalled.
      const res = await publish(b.url, app, { type: 'status_changed', user_id: 'usr_f', data }).timeout(
        PUBLISH_BOUND_MS + 3000,
      );
      return { status: res.status, ms: Date.now() - started, at: Date.now(), seq: res.body?.seq };
    } catch {
      return { status: 0, ms: Date.now() - started, at: Date.now() };
    }
  }

  /**
   * Publishes on node B, a few at a time, until `until` settles (or well past the moment it
   * should have: a frozen session nobody ends must fail the test, not hang it); each request timed.
   */
  async function publishWhile(until: Promise<unknown>): Promise<Timed[]> {
    let done = false;
    const deadline = setTimeout(() => (done = true), IDLE_IN_TRANSACTION_TIMEOUT_MS + 5000);
    void until.then(() => {
      done = true;
      clearTimeout(deadline);
    });
    const results: Timed[] = [];
    await Promise.all(
      Array.from({ length: 3 }, async (_, p) => {
        for (let i = 0; !done; i++) {
          results.push(await timedPublish({ p, i }));
          await new Promise((r) => setTimeout(r, 50));
        }
      }),
    );
    return results;
  }

  function attach(port: number, channelId: string) {
    return new Promise<{ socket: Socket; seen: { event: string; payload: any }[] }>((resolve, reject) => {
      const socket = io(`ws://127.0.0.1:${port}/channels/${channelId}`, {
        transports: ['websocket'],
        reconnection: false,
        forceNew: true,
        autoConnect: false,
        auth: { token: employee },
      });
      const seen = record(socket, 'status_changed');
      sockets.push(socket);
      socket.once('connect', () => resolve({ socket, seen }));
      socket.once('connect_error', reject);
      socket.connect();
    });
  }

  it('both nodes run every Postgres session of their pools with the configured lock, statement and idle-in-transaction timeouts', async () => {
    for (const node of [a, b]) {
      // Every connection of the pool at once (each runner holds its own), so the session the
      // migrations ran on, which had its timeouts lifted, is among them.
      const runners = Array.from({ length: POOL_SIZE }, () => node.app.get(DataSource).createQueryRunner());
      try {
        await Promise.all(runners.map((r) => r.connect()));
        const rows = await Promise.all(
          runners.map(async (r) => {
            const [row] = (await r.query(
              `SELECT pg_backend_pid() AS pid, current_setting('lock_timeout') AS lock, current_setting('statement_timeout') AS statement, current_setting('idle_in_transaction_session_timeout') AS idle`,
            )) as { pid: number; lock: string; statement: string; idle: string }[];
            return row;
          }),
        );
        expect(new Set(rows.map((r) => r.pid)).size).toBe(POOL_SIZE);
        for (const { lock, statement, idle } of rows)
          expect({ lock, statement, idle }).toEqual({ lock: '1s', statement: '30s', idle: '5s' });
      } finally {
        await Promise.all(runners.map((r) => r.release()));
      }
    }
  });

  it('a frozen transaction holding the channel row B flushes cursors to: B keeps publishing, and its cursor lands once the server ends that transaction', async () => {
    const created = await request(b.url)
      .post('/api/v1/realtime-subscriptions/user')
      .set('X-Api-Key', employee)
      .send({ user_id: 'usr_f' });
    expect(created.status).toBe(201);
    const channelId = created.body.channel_id as string;
    const client = await attach(b.port, channelId);
    const warmUp = await timedPublish({ warm: true });
    expect(warmUp.status).toBe(201);
    await waitFor('the first event on the channel', () => client.seen.length === 1);

    const checker = new Client({
      connectionString: b.config.database.url,
      options: `-c search_path=${b.config.database.schema}`,
    });
    await checker.connect();
    const frozen = await frozenNodeSession();
    try {
      await frozen.client.query('BEGIN');
      await frozen.client.query('UPDATE realtime_channels SET cursor_seq = cursor_seq WHERE channel_id = $1', [
        channelId,
      ]);
      const [{ pid: frozenPid }] = (await frozen.client.query('SELECT pg_backend_pid() AS pid')).rows as {
        pid: number;
      }[];

      // How many cursor flushes wait on the frozen transaction at once (only B has dirty cursors).
      let flushesWaiting = 0;
      let sampling = true;
      const sampler = (async () => {
        while (sampling) {
          // Waiters queue behind each other on a row lock, so follow the chain from the frozen session.
          const { rows } = await checker.query(
            `WITH RECURSIVE blocked(pid) AS (
               SELECT pid FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))
               UNION SELECT a.pid FROM pg_stat_activity a JOIN blocked w ON w.pid = ANY(pg_blocking_pids(a.pid))
             )
             SELECT count(*)::int AS n FROM pg_stat_activity JOIN blocked USING (pid) WHERE query LIKE 'UPDATE %realtime_channels% SET %cursor_seq%'`,
            [frozenPid],
          );
          flushesWaiting = Math.max(flushesWaiting, rows[0].n as number);
          await new Promise((r) => setTimeout(r, 50));
        }
      })();

      // Every event reaches the attached client, so B has a dirty cursor at every flush tick.
      const during = await publishWhile(frozen.ended);
      sampling = false;
      await sampler;
      expect(await Promise.race([frozen.ended, Promise.resolve('still open')])).toMatchObject({
        code: IDLE_IN_TRANSACTION_TIMEOUT_CODE,
      });
      expect(during.length).toBeGreaterThan(10);
      expect(during.filter((r) => r.status !== 201)).toEqual([]);
      expect(Math.max(...during.map((r) => r.ms))).toBeLessThanOrEqual(PUBLISH_BOUND_MS);
      // The flush did run into the lock, and never more than one at a time took a connection for it.
      expect(flushesWaiting).toBe(1);

      // The server ended the frozen transaction: B's cursor flush goes through.
      const last = await timedPublish({ after: true });
      expect(last.status).toBe(201);
      await waitFor('the last event on the channel', () =>
        client.seen.some((m) => Number(m.payload.sequence) === last.seq),
      );
      await waitFor('the cursor stored', async () => {
        const { rows } = await checker.query('SELECT cursor_seq FROM realtime_channels WHERE channel_id = $1', [
          channelId,
        ]);
        return Number(rows[0].cursor_seq) === last.seq;
      });
    } finally {
      await frozen.client.end().catch(() => undefined);
      await checker.end();
      client.socket.close();
    }
  });

  it('a frozen append holding the append lock: B answers every publish within the lock timeout plus a second, and appends resume, gap-free, once the server ends it', async () => {
    const before = await timedPublish({ before: true });
    expect(before.status).toBe(201);

    const frozen = await frozenNodeSession();
    await frozen.client.query('BEGIN');
    await frozen.client.query('SELECT pg_advisory_xact_lock($1)', [APPEND_LOCK_KEY]);

    const during = await publishWhile(frozen.ended);
    await frozen.client.end().catch(() => undefined);
    const ended = await Promise.race([frozen.ended, Promise.resolve({ at: Infinity, code: 'still open' })]);
    expect(ended.code).toBe(IDLE_IN_TRANSACTION_TIMEOUT_CODE);
    // While the lock was certainly held, every publish was refused (database unavailable)
    // rather than left hanging; around the moment the server freed it, one may succeed.
    const whileHeld = during.filter((r) => r.at < ended.at - LOCK_TIMEOUT_MS);
    // On failure, show the whole timeline: when each publish was answered, how, and how long it took.
    const timeline = {
      ended,
      during: during.map((r) => ({ status: r.status, ms: r.ms, before_end_ms: ended.at - r.at })),
    };
    expect({ held: whileHeld.length > 3, timeline }).toEqual({ held: true, timeline });
    for (const r of whileHeld) expect([500, 503]).toContain(r.status);
    for (const r of during) expect([201, 500, 503]).toContain(r.status);
    expect(Math.max(...during.map((r) => r.ms))).toBeLessThanOrEqual(PUBLISH_BOUND_MS);

    const after = await Promise.all([timedPublish({ n: 1 }), timedPublish({ n: 2 }), timedPublish({ n: 3 })]);
    expect(after.map((r) => r.status)).toEqual([201, 201, 201]);
    // No seq went missing to the refused appends.
    const accepted = [...during, ...after].filter((r) => r.status === 201).map((r) => r.seq!);
    expect(accepted.sort((x, y) => x - y)).toEqual(accepted.map((_, i) => before.seq! + 1 + i));
  });
});
