import { connect, type Socket as TcpSocket } from 'node:net';
import request from 'supertest';
import { io, type Socket } from 'socket.io-client';
import WebSocket from 'ws';
import { childServerEnv, startChildServer, type ChildServer } from '../support/child-server';
import { CONNECTION_FAULTS, type FaultTarget } from '../support/connection-faults';
import { waitFor } from '../support/sockets';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { WebhookReceiver } from '../support/webhook-receiver';

/**
 * Abuse run: each attack a hostile or broken client can make runs, bounded, against the built
 * server in its own process while a well-behaved tenant of another organisation publishes,
 * listens on Socket.IO and receives a claim webhook. After each attack it holds that the server
 * is still running, every event the good tenant published arrived on its socket and its webhook,
 * and the event-loop delay the server measured (prom-client's monitorEventLoopDelay, exported as
 * herald_nodejs_eventloop_lag_max_seconds and reset at each scrape) stayed under MAX_LAG_S.
 *
 * Attackers connect from other loopback addresses (127.0.0.x), as clients on other hosts would,
 * so the per-address limits hold them and not the good tenant. Only 127.0.0.0/8 is ever targeted.
 */
const MAX_LAG_S = 1;
/** Each attack, with the checks after it, must finish within this. */
const ATTACK_TIMEOUT_MS = 240_000;
const GOOD_TICK_MS = 100;
const CAPS = {
  WEBHOOK_ENDPOINT_CONCURRENCY: '5',
  // Held requests of the noisy-neighbour attack stay held for the whole attack.
  WEBHOOK_TIMEOUT: '120s',
  WS_MAX_SOCKETS_PER_CREDENTIAL: '300',
  WS_MAX_SOCKETS_PER_ADDRESS: '400',
  MAX_CONNECTIONS_PER_ADDRESS: '500',
  CHANNEL_MAX_ATTACHMENTS: '100',
  HTTP_HEADERS_TIMEOUT: '2s',
  REPLAY_CONCURRENCY: '4',
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface GoodTenant {
  published: string[];
  failed: number;
  onSocket: Set<string>;
  stop(): Promise<void>;
}

describe('abuse: no single client takes a node down, freezes it or starves another tenant', () => {
  let database: TestDatabase;
  let server: ChildServer;
  let operator: string;
  let receiver: WebhookReceiver;
  let good: GoodTenant;
  let goodApp: string;
  let attacker: string;

  const mint = async (body: Record<string, unknown>) => {
    const res = await request(server.url).post('/api/v1/api-keys').set('X-Api-Key', operator).send(body);
    if (res.status !== 201) throw new Error(`minting a key failed: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body.token as string;
  };

  async function lagMaxSeconds(): Promise<number> {
    const text = await (await fetch(`${server.url}/metrics`)).text();
    const match = /^herald_nodejs_eventloop_lag_max_seconds (\S+)/m.exec(text);
    if (!match) throw new Error('herald_nodejs_eventloop_lag_max_seconds missing from /metrics');
    return Number(match[1]);
  }

  /** A tenant of org_good publishing every GOOD_TICK_MS, listening on Socket.IO, with a claim webhook. */
  async function startGoodTenant(): Promise<GoodTenant> {
    const state = { published: [] as string[], failed: 0, onSocket: new Set<string>() };
    const socket: Socket = await new Promise((resolve, reject) => {
      const s = io(server.url, {
        transports: ['websocket'],
        reconnection: false,
        forceNew: true,
        auth: { token: goodApp },
      });
      s.on('status_changed', (e: { id: string }) => state.onSocket.add(e.id));
      s.once('connect', () => resolve(s));
      s.once('connect_error', reject);
    });
    let running = true;
    const loop = (async () => {
      for (let i = 0; running; i++) {
        try {
          const res = await fetch(`${server.url}/api/v1/events`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'x-api-key': goodApp },
            body: JSON.stringify({ type: 'status_changed', user_id: 'usr_good', claim_id: 'clm_good', data: { i } }),
            signal: AbortSignal.timeout(10_000),
          });
          if (res.status === 201) state.published.push(((await res.json()) as { id: string }).id);
          else state.failed++;
        } catch {
          state.failed++;
        }
        await sleep(GOOD_TICK_MS);
      }
    })();
    return {
      ...state,
      get published() {
        return state.published;
      },
      get failed() {
        return state.failed;
      },
      async stop() {
        running = false;
        await loop;
        socket.close();
      },
    };
  }

  /** Runs `attack`, then holds the server alive, the good tenant served in full and the loop never stalled. */
  async function underAttack(attack: () => Promise<void>): Promise<void> {
    await lagMaxSeconds(); // resets the histogram: what follows is this attack's
    const before = good.published.length;
    const failedBefore = good.failed;
    await attack();
    const lag = await lagMaxSeconds();
    expect(server.process.exitCode).toBeNull();
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    await waitFor(
      'the good tenant to publish again after the attack',
      () => good.published.length >= before + 5,
      20_000,
    );
    const owed = good.published.slice(before);
    await waitFor(
      'every good event on the good tenant’s socket',
      () => owed.every((id) => good.onSocket.has(id)),
      20_000,
    );
    const hooked = () =>
      new Set(receiver.requests.map((r) => (JSON.parse(r.body) as { id?: string; event_id?: string }).id));
    await waitFor('every good event on the good tenant’s webhook', () => owed.every((id) => hooked().has(id)), 30_000);
    expect(good.failed).toBe(failedBefore);
    expect(lag).toBeLessThan(MAX_LAG_S);
  }

  beforeAll(async () => {
    database = createTestDatabase();
    const prepared = await childServerEnv(database, {
      ...CAPS,
      WEBHOOK_ALLOW_PRIVATE: 'true',
      WEBHOOK_POLL_INTERVAL: '50ms',
      LOG_LEVEL: 'error',
    });
    operator = prepared.operator;
    server = await startChildServer(prepared.env);
    receiver = await WebhookReceiver.start('whsec_' + Buffer.from('unused-secret-unused-secret').toString('base64'));
    goodApp = await mint({ kind: 'app', organisation_id: 'org_good', scopes: ['events:publish', 'events:read'] });
    const goodUser = await mint({
      kind: 'user',
      organisation_id: 'org_good',
      user_id: 'usr_good',
      scopes: ['events:read'],
    });
    const hook = await request(server.url)
      .post('/api/v1/approval-notifications/subscriptions')
      .set('X-Api-Key', goodUser)
      .send({ claim_id: 'clm_good', user_id: 'usr_good', webhook_url: receiver.url });
    expect(hook.status).toBe(201);
    attacker = await mint({
      kind: 'user',
      organisation_id: 'org_evil',
      user_id: 'usr_evil',
      scopes: ['events:publish', 'events:read', 'claims:read:org'],
    });
    good = await startGoodTenant();
  });

  afterAll(async () => {
    await good?.stop();
    await server?.stop();
    await receiver?.close();
    await database?.drop();
  });

  it(
    'connection faults: a reset at every stage of HTTP, WebSocket upgrades and Socket.IO handshakes',
    async () => {
      const channel = await request(server.url)
        .post('/api/v1/realtime-subscriptions/organisation')
        .set('X-Api-Key', attacker)
        .send({ organisation_id: 'org_evil', user_id: 'usr_evil' });
      expect(channel.status).toBe(201);
      const target: FaultTarget = {
        host: '127.0.0.1',
        port: Number(new URL(server.url).port),
        token: attacker,
        channelId: channel.body.channel_id,
      };
      await underAttack(async () => {
        for (let round = 0; round < 5; round++) for (const fault of CONNECTION_FAULTS) await fault.run(target);
      });
    },
    ATTACK_TIMEOUT_MS,
  );

  it(
    'ReDoS: a catastrophic $regex saved in a subscription and run on demand by the test endpoint',
    async () => {
      const writer = await mint({
        kind: 'app',
        organisation_id: 'org_evil',
        scopes: ['subscriptions:write', 'events:read'],
        workspace_ids: ['ws_evil'],
      });
      const rules = [{ trigger: 'status_changed', conditions: { 'data.note': { $regex: '^(a+)+$' } } }];
      const saved = await request(server.url)
        .post('/api/v1/subscriptions')
        .set('X-Api-Key', writer)
        .send({ rules, resources: ['organisations/org_evil'], actions: [{ type: 'socket' }] });
      expect(saved.status).toBe(201);
      const poison = 'a'.repeat(40) + '!';
      await underAttack(async () => {
        const events = Array.from({ length: 50 }, () => ({
          type: 'status_changed',
          user_id: 'usr_evil',
          data: { note: poison },
        }));
        expect(
          (await request(server.url).post('/api/v1/events/batch').set('X-Api-Key', attacker).send({ events })).status,
        ).toBe(201);
        for (let i = 0; i < 20; i++) {
          const tested = await request(server.url)
            .post('/api/v2/subscriptions/test')
            .set('X-Api-Key', writer)
            .send({
              draft: { rules, resources: ['organisations/org_evil'], actions: [{ type: 'socket' }] },
              input: { type: 'status_changed', data: { note: poison } },
            });
          expect(tested.status).toBeLessThan(500);
        }
      });
    },
    ATTACK_TIMEOUT_MS,
  );

  it(
    'condition size: nesting past the cap is refused; subscriptions at the cap do not slow publishing',
    async () => {
      const writer = await mint({
        kind: 'app',
        organisation_id: 'org_evil',
        scopes: ['subscriptions:write'],
        workspace_ids: ['ws_evil'],
      });
      const nested = (depth: number): Record<string, unknown> =>
        depth <= 1 ? { 'data.n': 1 } : { $and: [nested(depth - 1)] };
      const save = (conditions: Record<string, unknown>) =>
        request(server.url)
          .post('/api/v1/subscriptions')
          .set('X-Api-Key', writer)
          .send({
            rules: [{ trigger: 'status_changed', conditions }],
            resources: ['organisations/org_evil'],
            actions: [{ type: 'socket' }],
          });
      await underAttack(async () => {
        for (const depth of [200, 800, 1000]) {
          const refused = await save(nested(depth));
          expect(refused.status).toBe(400);
        }
        let saved = 0;
        for (let depth = 16; depth > 0 && saved < 7; depth--) if ((await save(nested(depth))).status === 201) saved++;
        expect(saved).toBe(7);
        const events = Array.from({ length: 200 }, (_, i) => ({
          type: 'status_changed',
          user_id: 'usr_evil',
          data: { n: i },
        }));
        expect(
          (await request(server.url).post('/api/v1/events/batch').set('X-Api-Key', attacker).send({ events })).status,
        ).toBe(201);
      });
    },
    ATTACK_TIMEOUT_MS,
  );

  it(
    'replay storm: 60 raw WebSocket attaches from last_seq=0 over 5,000 events of one channel',
    async () => {
      const channel = await request(server.url)
        .post('/api/v1/realtime-subscriptions/organisation')
        .set('X-Api-Key', attacker)
        .send({ organisation_id: 'org_evil', user_id: 'usr_evil' });
      expect(channel.status).toBe(201);
      for (let i = 0; i < 10; i++) {
        const events = Array.from({ length: 500 }, (_, j) => ({
          type: 'status_changed',
          user_id: 'usr_evil',
          data: { note: 'x'.repeat(200), i, j },
        }));
        const res = await request(server.url).post('/api/v1/events/batch').set('X-Api-Key', attacker).send({ events });
        expect(res.status).toBe(201);
      }
      const url = `${server.url.replace(/^http/, 'ws')}/channels/${channel.body.channel_id}?last_seq=0&access_token=${attacker}`;
      await underAttack(async () => {
        const done = Array.from(
          { length: 60 },
          (_, i) =>
            new Promise<number>((resolve) => {
              let events = 0;
              const ws = new WebSocket(url, { localAddress: `127.0.10.${(i % 50) + 1}` });
              const finish = () => (ws.terminate(), resolve(events));
              const timer = setTimeout(finish, 60_000);
              ws.on('message', (data) => {
                if ((JSON.parse(data.toString()) as { type: string }).type === 'event' && ++events >= 5000) {
                  clearTimeout(timer);
                  finish();
                }
              });
              ws.on('error', () => (clearTimeout(timer), finish()));
              ws.on('close', () => (clearTimeout(timer), resolve(events)));
            }),
        );
        const received = await Promise.all(done);
        // Every attach is served in full, just not all at once.
        expect(received.filter((n) => n >= 5000).length).toBe(60);
      });
    },
    ATTACK_TIMEOUT_MS,
  );

  it(
    'socket flood: one key opens raw WebSockets and Socket.IO sockets past its cap; the rest are refused with 429',
    async () => {
      const wsUrl = `${server.url.replace(/^http/, 'ws')}/api/v1/ws/subscribe?access_token=${attacker}`;
      const open: { close(): void }[] = [];
      let refused = 0;
      await underAttack(async () => {
        const attempts = Array.from({ length: 400 }, (_, i) =>
          i % 2 === 0
            ? new Promise<void>((resolve) => {
                const ws = new WebSocket(wsUrl, { localAddress: `127.0.20.${(i % 100) + 1}` });
                ws.once('open', () => (open.push({ close: () => ws.terminate() }), resolve()));
                ws.once(
                  'unexpected-response',
                  (_req, res) => (res.statusCode === 429 && refused++, ws.terminate(), resolve()),
                );
                ws.once('error', () => resolve());
              })
            : new Promise<void>((resolve) => {
                const s = io(server.url, {
                  transports: ['websocket'],
                  reconnection: false,
                  forceNew: true,
                  auth: { token: attacker },
                  localAddress: `127.0.21.${(i % 100) + 1}`,
                } as Parameters<typeof io>[1]);
                s.once('connect', () => (open.push({ close: () => s.close() }), resolve()));
                s.once(
                  'connect_error',
                  (err) => ((err as { data?: { code: number } }).data?.code === 429 && refused++, s.close(), resolve()),
                );
              }),
        );
        await Promise.all(attempts);
      });
      expect(open.length).toBe(Number(CAPS.WS_MAX_SOCKETS_PER_CREDENTIAL));
      expect(refused).toBe(400 - open.length);
      for (const socket of open) socket.close();
    },
    ATTACK_TIMEOUT_MS,
  );

  it(
    'slowloris: 600 connections from one address trickle headers; past the cap they are closed at once, the rest time out',
    async () => {
      const sockets: TcpSocket[] = [];
      await underAttack(async () => {
        for (let i = 0; i < 600; i++) {
          const s = connect({ host: '127.0.0.1', port: Number(new URL(server.url).port), localAddress: '127.0.30.1' });
          s.on('error', () => undefined);
          s.on('connect', () => s.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n'));
          sockets.push(s);
        }
        const drip = setInterval(() => {
          for (const s of sockets) if (!s.closed && s.writable) s.write('X-Drip: 1\r\n');
        }, 500);
        try {
          await waitFor(
            'every slow connection to be closed by the server',
            () => sockets.every((s) => s.closed),
            15_000,
          );
        } finally {
          clearInterval(drip);
        }
      });
    },
    ATTACK_TIMEOUT_MS,
  );
  it(
    'noisy neighbour: another organisation’s endpoint holds every request open with 200 deliveries owed',
    async () => {
      const slow = await WebhookReceiver.start(
        'whsec_' + Buffer.from('unused-secret-unused-secret').toString('base64'),
      );
      slow.hold({ status: 200 });
      try {
        const evilReader = await mint({
          kind: 'user',
          organisation_id: 'org_evil',
          user_id: 'usr_evil',
          scopes: ['events:read'],
        });
        const hook = await request(server.url)
          .post('/api/v1/approval-notifications/subscriptions')
          .set('X-Api-Key', evilReader)
          .send({ claim_id: 'clm_evil', user_id: 'usr_evil', webhook_url: slow.url });
        expect(hook.status).toBe(201);
        await underAttack(async () => {
          const events = Array.from({ length: 200 }, (_, i) => ({
            type: 'comment_added',
            claim_id: 'clm_evil',
            user_id: 'usr_evil',
            data: { i },
          }));
          expect(
            (await request(server.url).post('/api/v1/events/batch').set('X-Api-Key', attacker).send({ events })).status,
          ).toBe(201);
          await waitFor(
            'the slow endpoint to fill its share',
            () => slow.inFlight >= Number(CAPS.WEBHOOK_ENDPOINT_CONCURRENCY),
            20_000,
          );
        });
        // The good tenant's webhooks arrived above while these were still held.
        expect(slow.inFlight).toBe(Number(CAPS.WEBHOOK_ENDPOINT_CONCURRENCY));
        expect(slow.requests.length).toBe(Number(CAPS.WEBHOOK_ENDPOINT_CONCURRENCY));
        expect(slow.maxInFlight).toBe(Number(CAPS.WEBHOOK_ENDPOINT_CONCURRENCY));
      } finally {
        slow.release();
        await slow.close();
      }
    },
    ATTACK_TIMEOUT_MS,
  );
});
