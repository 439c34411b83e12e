import { jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import type { Socket } from 'socket.io-client';
import { EventBus } from '../../src/core/bus/event-bus';
import { RedisConnections } from '../../src/core/redis/redis.service';
import { mintKey } from '../support/credentials';
import { publish } from '../support/events';
import { PrivateRedis, redisServerBinary } from '../support/private-redis';
import { services } from '../support/services';
import { connectSocket, record, waitFor } from '../support/sockets';
import { startTestApp, type TestApp } from '../support/test-app';
import { createTestDatabase, type TestDatabase } from '../support/test-database';

/**
 * A Redis outage on a Redis of the test's own (killed and restarted on the same port), never the
 * shared one. On Postgres two nodes share the log: events are published on A while a socket
 * listens on B. On SQLite one node publishes and listens. Either way appends succeed while Redis
 * is down (the log is the database), and the bus loses what it was given meanwhile.
 */
const binary = redisServerBinary();
const describeRedis = binary ? describe : describe.skip;
const N = 10;

type Call = { level: string; logger: unknown; fields: Record<string, unknown>; message: unknown };

describeRedis('bus outage: Redis goes down and comes back', () => {
  let redis: PrivateRedis;
  let database: TestDatabase;
  const nodes: TestApp[] = [];
  let producer: string;
  let reader: string;
  const sockets: Socket[] = [];
  const calls: Call[] = [];

  beforeAll(async () => {
    // Every log line of this file's app instances, with the Logger instance that wrote it.
    for (const level of ['log', 'warn', 'error'] as const) {
      const original = Logger.prototype[level];
      jest.spyOn(Logger.prototype, level).mockImplementation(function (
        this: Logger,
        message: unknown,
        ...rest: unknown[]
      ) {
        calls.push({
          level,
          logger: this,
          fields: (typeof message === 'object' && message ? message : {}) as Record<string, unknown>,
          message: typeof rest[0] === 'string' ? rest[0] : message,
        });
        return original.call(this, message, ...rest);
      } as (typeof Logger.prototype)[typeof level]);
    }
    redis = await PrivateRedis.start(binary!);
    database = createTestDatabase();
    const env = { REDIS_URL: redis.url, REDIS_PREFIX: `herald-outage-${database.id}` };
    nodes.push(await startTestApp({ database, env }));
    if (services.databaseUrl)
      nodes.push(await startTestApp({ database, env: { ...env, HERALD_BOOTSTRAP_KEY: nodes[0].operatorToken } }));
    producer = await mintKey(nodes[0], { org: 'org_outage', scopes: ['events:publish'] });
    reader = await mintKey(nodes[0], { org: 'org_outage', scopes: ['events:read'] });
  });
  afterAll(async () => {
    for (const s of sockets) s.close();
    for (const node of nodes) await node.close();
    await database?.drop();
    await redis?.kill();
    jest.restoreAllMocks();
  });

  it('events published while Redis was down reach the socket after it is back, in order, with no further publish; the outage is logged once', async () => {
    const a = nodes[0];
    const b = nodes[nodes.length - 1];
    const socket = await connectSocket(b.url, reader);
    sockets.push(socket);
    const seen = record(socket, 'claim_approved');
    const before = await publish(a.url, producer, { claim_id: 'clm_before' });
    expect(before.status).toBe(201);
    await waitFor('the event before the outage', () => seen.length === 1);

    const resumed = nodes.map(() => 0);
    nodes.forEach((node, i) => node.app.get(EventBus).onResume(() => resumed[i]++));

    await redis.kill();
    await waitFor('every node to see Redis down', () =>
      nodes.every((node) => !node.app.get(RedisConnections).available),
    );
    const during: number[] = [];
    for (let i = 0; i < N; i++) {
      const res = await publish(a.url, producer, { claim_id: `clm_${i}` });
      expect(res.status).toBe(201);
      during.push(res.body.seq);
    }
    // Long enough for ioredis to give up on the queued publishes: they are lost, not sent late.
    await new Promise((r) => setTimeout(r, 2000));
    await redis.start();

    await waitFor('every event published during the outage', () => seen.length === N + 1, 15_000);
    expect(seen.map((m) => Number(m.payload.sequence))).toEqual([before.body.seq, ...during]);
    await waitFor(
      'every node to see Redis back',
      () => nodes.every((node) => node.app.get(RedisConnections).available),
      15_000,
    );
    await waitFor('every bus to report it resumed', () => resumed.every((n) => n === 1));

    // The bus works again: the next event arrives once, after the others.
    const after = await publish(a.url, producer, { claim_id: 'clm_after' });
    await waitFor('the event after the outage', () => seen.length === N + 2);
    expect(Number(seen[N + 1].payload.sequence)).toBe(after.body.seq);
    // Nothing twice: a sentinel published last comes after anything still owed.
    const sentinel = await publish(a.url, producer, { claim_id: 'clm_sentinel' });
    await waitFor('the sentinel', () => seen.some((m) => m.payload.id === sentinel.body.id));
    expect(seen.map((m) => Number(m.payload.sequence))).toEqual([
      before.body.seq,
      ...during,
      after.body.seq,
      sentinel.body.seq,
    ]);

    // One "redis down" and one "redis back" per node, nothing per lost message.
    const down = calls.filter((c) => c.message === 'redis down');
    const back = calls.filter((c) => c.message === 'redis back');
    expect(down.map((c) => c.level)).toEqual(nodes.map(() => 'warn'));
    expect(back.map((c) => c.level)).toEqual(nodes.map(() => 'log'));
    expect(new Set(down.map((c) => c.logger)).size).toBe(nodes.length);
    expect(new Set(back.map((c) => c.logger)).size).toBe(nodes.length);
    for (const line of back) {
      expect(line.fields.downMs).toEqual(expect.any(Number));
      expect(line.fields.downMs as number).toBeGreaterThanOrEqual(1000);
      expect(line.fields.lostMessages).toEqual(expect.any(Number));
    }
    // Node A's publishes were lost and counted (B publishes nothing of its own).
    expect(Math.max(...back.map((c) => c.fields.lostMessages as number))).toBeGreaterThanOrEqual(N);
    expect(calls.filter((c) => c.message === 'bus publish failed')).toEqual([]);
  });
});
