import { Webhook } from 'standardwebhooks';
import request from 'supertest';
import { io, type Socket } from 'socket.io-client';
import { childServerEnv, startChildServer, type ChildServer } from '../support/child-server';
import { clusterAvailable } from '../support/services';
import { waitFor } from '../support/sockets';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { WebhookReceiver } from '../support/webhook-receiver';

/**
 * Cluster fault run: two Herald nodes on one Postgres schema and one Redis, 1,000 Socket.IO
 * clients on seed-000 claim channels split over both nodes, 200 events/s published over REST to
 * both nodes, seed-002 claim webhook subscriptions delivering to a real local receiver. One node
 * is killed with SIGKILL mid-run and restarted on the same port; its clients reconnect with the
 * last seq they saw. Bounded to about two minutes; stops by itself.
 *
 * Needs Postgres and Redis (TEST_DATABASE_URL, TEST_REDIS_URL); skipped without them, and with
 * REQUIRE_SERVICES=1 the global setup fails the run instead.
 */
const describeCluster = clusterAvailable ? describe : describe.skip;

const ORG = 'org_fault';
const USERS = 200;
const SOCKETS_PER_CHANNEL = 5; // 200 channels × 5 = 1,000 sockets, alternating between the nodes
const CLAIMS = 20;
const EVENT_TYPES = ['status_changed', 'comment_added'];
const TICK_MS = 50;
const EVENTS_PER_NODE_PER_TICK = 5; // 2 nodes × 5 events × 20 ticks/s = 200 events/s
const PUBLISH_MS = 35_000;
const KILL_AFTER_MS = 12_000;
const ENV = {
  WEBHOOK_ALLOW_PRIVATE: 'true',
  WEBHOOK_POLL_INTERVAL: '50ms',
  WEBHOOK_RETRY_SCHEDULE: '300ms,300ms,300ms,300ms,300ms,300ms,300ms,300ms',
  // A row leased by the killed node is free again after this plus the engine's 60 s margin.
  WEBHOOK_TIMEOUT: '1s',
  DISPATCH_POLL_INTERVAL: '50ms',
  LOG_LEVEL: 'warn',
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Client {
  index: number;
  channel: string;
  user: string;
  node: 0 | 1;
  socket: Socket;
  /** `sequence` of every event received, in arrival order. */
  seqs: number[];
  /** The last seq seen: sent as `last_seq` on every (re)connect. */
  last: number;
  connects: number;
  /** last_seq sent on each reconnect after the first connect. */
  resumedFrom: number[];
  /** Per reconnect: how many events it had received, and the highest acknowledged seq at that moment. */
  reconnects: { received: number; head: number }[];
}

interface Published {
  id: string;
  user: string;
  claim: string;
}

describeCluster('reliability: cluster fault run (kill -9 one of two nodes under load)', () => {
  let database: TestDatabase;
  const servers: ChildServer[] = [];
  const envs: Record<string, string>[] = [];
  let operator: string;
  let receiver: WebhookReceiver;
  let token: string;
  const clients: Client[] = [];
  /** The highest seq acknowledged to the publisher so far. */
  let head = 0;

  /** Both nodes' output, for failure messages. */
  const outputs = () =>
    servers
      .map(
        (s, i) =>
          `--- node ${i === 0 ? 'A' : 'B'} (${s.url}, pid ${s.process.pid}, exit ${s.process.exitCode ?? s.process.signalCode ?? 'running'}) ---\n${s.output().slice(-4000)}`,
      )
      .join('\n');
  /** Only the one SIGKILL of the run may end a node; any other exit is a crash. */
  const assertNodesUp = (when: string) => {
    const crashed = servers
      .map((s, i) => ({ node: i === 0 ? 'A' : 'B', exit: s.process.exitCode ?? s.process.signalCode }))
      .filter((s) => s.exit !== null);
    if (crashed.length) fail(`a node exited by itself ${when}`, crashed);
  };
  const fail = (what: string, details: unknown): never => {
    throw new Error(`${what}\n${JSON.stringify(details, null, 1).slice(0, 4000)}`);
  };

  beforeAll(async () => {
    database = createTestDatabase();
    const a = await childServerEnv(database, ENV);
    const b = await childServerEnv(database, ENV);
    envs.push(a.env, b.env);
    operator = a.operator;
    // One after the other: the first runs the migrations on the fresh schema.
    servers.push(await startChildServer(a.env));
    servers.push(await startChildServer(b.env));
    receiver = await WebhookReceiver.start(`whsec_${Buffer.from('fault-run-receiver-secret').toString('base64')}`);
  }, 90_000);

  afterAll(async () => {
    for (const c of clients) c.socket.close();
    for (const s of servers) await s.stop().catch(() => undefined);
    await receiver?.close();
    await database?.drop();
  }, 60_000);

  async function api(node: number, method: 'get' | 'post', path: string, body?: object) {
    const req = request(servers[node].url)[method](path).set('X-Api-Key', token);
    return body ? req.send(body) : req;
  }

  function attach(index: number, channel: string, user: string, node: 0 | 1): Promise<Client> {
    const client: Client = {
      index,
      channel,
      user,
      node,
      seqs: [],
      last: 0,
      connects: 0,
      resumedFrom: [],
      reconnects: [],
      socket: undefined as unknown as Socket,
    };
    const socket = io(`${servers[node].url}/channels/${channel}`, {
      transports: ['websocket'],
      forceNew: true,
      autoConnect: false,
      reconnection: true,
      reconnectionDelay: 300,
      reconnectionDelayMax: 2_000,
      timeout: 20_000,
      // Read on every (re)connect: the client resumes from the last seq it saw.
      auth: (cb) => cb({ token, last_seq: client.last }),
    });
    client.socket = socket;
    for (const type of EVENT_TYPES) {
      socket.on(type, (envelope: { sequence: string }) => {
        const seq = Number(envelope.sequence);
        client.seqs.push(seq);
        client.last = seq;
      });
    }
    return new Promise((resolve, reject) => {
      socket.on('connect', () => {
        if (client.connects++ > 0) {
          client.resumedFrom.push(client.last);
          client.reconnects.push({ received: client.seqs.length, head });
        }
        resolve(client);
      });
      socket.on('connect_error', (err) => {
        // A refusal by the namespace middleware is not retried by socket.io itself.
        if (!socket.active) {
          if (client.connects === 0) reject(err);
          else setTimeout(() => socket.connect(), 500);
        }
      });
      socket.connect();
    });
  }

  it('keeps every acknowledged event, delivers every owed webhook, and gives every channel its full gap in order', async () => {
    try {
      await run();
    } catch (err) {
      // Whatever failed, the nodes' own account of it goes with the message.
      // (Errors from Node's own modules are not `instanceof Error` in Jest's sandbox.)
      const e = err as { message?: string; stack?: string };
      throw new Error(
        `${e?.message ?? String(err)}\n${(e?.stack ?? '')
          .split('\n')
          .filter((l) => /^\s+at /.test(l))
          .slice(0, 6)
          .join('\n')}\n${outputs()}`,
        { cause: err },
      );
    }
  }, 240_000);

  async function run(): Promise<void> {
    const runStarted = Date.now();
    const created = await request(servers[0].url)
      .post('/api/v1/api-keys')
      .set('X-Api-Key', operator)
      .send({
        kind: 'app',
        organisation_id: ORG,
        scopes: ['events:publish', 'events:read', 'claims:read:org', 'notifications:write'],
      });
    if (created.status !== 201) fail('minting a key failed', created.body);
    token = created.body.token;

    // Seed 002: one webhook subscription per claim, each with its own signing secret.
    const secrets = new Map<string, string>();
    for (let c = 0; c < CLAIMS; c++) {
      const claim = `clm_fault_${c}`;
      const res = await api(c % 2, 'post', '/api/v1/approval-notifications/subscriptions', {
        claim_id: claim,
        user_id: `usr_fault_${c}`,
        webhook_url: receiver.url,
      });
      if (res.status !== 201) fail('subscribing failed', res.body);
      secrets.set(claim, res.body.signing_secret);
    }

    // Seed 000: one user channel per user, five sockets on each, alternating between the nodes.
    const channels: { channel: string; user: string }[] = [];
    for (let u = 0; u < USERS; u++) {
      const user = `usr_fault_${u}`;
      const res = await api(u % 2, 'post', '/api/v1/realtime-subscriptions/user', {
        user_id: user,
        event_types: EVENT_TYPES,
      });
      if (res.status !== 201) fail('creating a channel failed', res.body);
      channels.push({ channel: res.body.channel_id, user });
    }
    const wanted = channels.flatMap(({ channel, user }, u) =>
      Array.from({ length: SOCKETS_PER_CHANNEL }, (_, j) => ({
        channel,
        user,
        node: ((u * SOCKETS_PER_CHANNEL + j) % 2) as 0 | 1,
      })),
    );
    for (let i = 0; i < wanted.length; i += 50) {
      clients.push(
        ...(await Promise.all(wanted.slice(i, i + 50).map((w, j) => attach(i + j, w.channel, w.user, w.node)))),
      );
    }
    expect(clients).toHaveLength(1_000);

    // 200 events/s over REST, half to each node; while a node is down its share goes to the other.
    const acked = new Map<string, number>();
    const uncertain = new Set<string>();
    const published = new Map<string, Published>();
    const down = [false, false];
    let k = 0;
    const inFlight: Promise<void>[] = [];
    const publishOnce = (node: number) => {
      const target = down[node] ? 1 - node : node;
      const events = Array.from({ length: EVENTS_PER_NODE_PER_TICK }, () => {
        const n = k++;
        const e = {
          id: `fault_${n}`,
          type: EVENT_TYPES[n % 2],
          user_id: `usr_fault_${n % USERS}`,
          claim_id: `clm_fault_${n % CLAIMS}`,
          data: { n },
        };
        published.set(e.id, { id: e.id, user: e.user_id, claim: e.claim_id });
        return e;
      });
      const url = servers[target].url;
      const done = fetch(`${url}/api/v1/events/batch`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-api-key': token },
        body: JSON.stringify({ events }),
      })
        .then(async (res) => {
          if (res.status !== 201) throw new Error(String(res.status));
          const body = (await res.json()) as { events: { id: string; seq: number }[] };
          for (const e of body.events) {
            acked.set(e.id, e.seq);
            head = Math.max(head, e.seq);
          }
        })
        .catch(() => {
          for (const e of events) uncertain.add(e.id);
        });
      inFlight.push(done);
    };

    const publishStarted = Date.now();
    let killedAt = 0;
    let restartedAt = 0;
    const fault = (async () => {
      await sleep(KILL_AFTER_MS);
      await servers[0].kill9();
      killedAt = Date.now();
      down[0] = true;
      servers[0] = await startChildServer(envs[0]);
      restartedAt = Date.now();
      down[0] = false;
    })();
    for (let tick = 0; Date.now() - publishStarted < PUBLISH_MS; tick++) {
      const wait = publishStarted + tick * TICK_MS - Date.now();
      if (wait > 0) await sleep(wait);
      publishOnce(0);
      publishOnce(1);
    }
    await fault;
    await Promise.all(inFlight);
    assertNodesUp('while events were published');
    const publishSeconds = (Date.now() - publishStarted) / 1000;

    // 1. Every event that got a 2xx is in the log, once, under the seq it was acknowledged with.
    const log: { id: string; seq: number; user_id?: string; claim_id?: string; type: string }[] = [];
    for (let after = 0; ;) {
      const page = await api(1, 'get', `/api/v1/events?after=${after}&limit=1000`);
      if (page.status !== 200) fail('reading the log failed', page.body);
      log.push(...page.body.data);
      if (!page.body.has_more) break;
      after = page.body.next_after;
    }
    const bySeq = log.map((e) => e.seq);
    const ids = log.map((e) => e.id);
    if (new Set(ids).size !== ids.length)
      fail('an event id is in the log twice', ids.filter((id, i) => ids.indexOf(id) !== i).slice(0, 20));
    const inLog = new Map(log.map((e) => [e.id, e.seq]));
    const lost = [...acked].filter(([id, seq]) => inLog.get(id) !== seq);
    if (lost.length)
      fail(`${lost.length} acknowledged events are missing from the log or under another seq`, lost.slice(0, 20));
    const strays = ids.filter((id) => !acked.has(id) && !uncertain.has(id));
    if (strays.length) fail('the log holds events nobody published', strays.slice(0, 20));
    expect(bySeq).toEqual([...bySeq].sort((x, y) => x - y));
    expect(acked.size).toBeGreaterThan(0.9 * published.size);

    // 2. Every webhook owed (every stored event of a subscribed claim) is delivered at least once;
    //    a repeat only ever comes under the same webhook-id, and each request verifies with the
    //    subscription's secret. Rows the killed node had leased come back after the lease ends.
    const owed = log.filter((e) => e.claim_id && secrets.has(e.claim_id));
    const deliveredIds = () => new Set(receiver.requests.map((r) => (JSON.parse(r.body) as { id: string }).id));
    await waitFor(
      'every owed webhook delivered',
      () => {
        const got = deliveredIds();
        return owed.every((e) => got.has(e.id));
      },
      100_000,
    ).catch(() => {
      const got = deliveredIds();
      fail('webhooks owed were not delivered', {
        missing: owed
          .filter((e) => !got.has(e.id))
          .map((e) => e.id)
          .slice(0, 20),
        owed: owed.length,
        received: receiver.requests.length,
      });
    });
    await sleep(500);
    const webhookIdsByEvent = new Map<string, Set<string>>();
    const eventsByWebhookId = new Map<string, Set<string>>();
    const unverified: string[] = [];
    for (const r of receiver.requests) {
      const body = JSON.parse(r.body) as { id: string; claimid: string };
      try {
        new Webhook(secrets.get(body.claimid)!).verify(r.body, r.headers as Record<string, string>);
      } catch {
        unverified.push(r.id);
      }
      webhookIdsByEvent.set(body.id, (webhookIdsByEvent.get(body.id) ?? new Set()).add(r.id));
      eventsByWebhookId.set(r.id, (eventsByWebhookId.get(r.id) ?? new Set()).add(body.id));
    }
    if (unverified.length)
      fail('webhook signatures did not verify with the subscription secret', unverified.slice(0, 20));
    const splitDeliveries = [...webhookIdsByEvent]
      .filter(([, s]) => s.size !== 1)
      .map(([id, s]) => ({ event: id, webhook_ids: [...s] }));
    if (splitDeliveries.length)
      fail('an event was delivered under more than one webhook-id', splitDeliveries.slice(0, 20));
    const mixed = [...eventsByWebhookId]
      .filter(([, s]) => s.size !== 1)
      .map(([id, s]) => ({ webhook_id: id, events: [...s] }));
    if (mixed.length) fail('one webhook-id carried different events', mixed.slice(0, 20));
    const notOwed = [...webhookIdsByEvent.keys()].filter((id) => !inLog.has(id));
    if (notOwed.length) fail('webhooks were delivered for events not in the log', notOwed.slice(0, 20));
    const duplicates = receiver.requests.length - webhookIdsByEvent.size;

    // 3. Every socket gets exactly its channel's events, in seq order: no hole, no duplicate —
    //    including those of the killed node, which resumed from the last seq they saw.
    const expectedByUser = new Map<string, number[]>();
    for (const e of log)
      if (e.user_id && EVENT_TYPES.includes(e.type))
        expectedByUser.set(e.user_id, [...(expectedByUser.get(e.user_id) ?? []), e.seq]);
    const complete = (c: Client) => c.seqs.length >= (expectedByUser.get(c.user)?.length ?? 0);
    await waitFor('every socket caught up', () => clients.every(complete), 60_000).catch(() => undefined);
    const wrong = clients
      .map((c) => {
        const expected = expectedByUser.get(c.user) ?? [];
        if (c.seqs.length === expected.length && c.seqs.every((s, i) => s === expected[i])) return undefined;
        const at = c.seqs.findIndex((s, i) => s !== expected[i]);
        const seen = new Set(c.seqs);
        return {
          socket: c.index,
          channel: c.channel,
          node: c.node === 0 ? 'A (killed)' : 'B',
          connects: c.connects,
          resumed_from: c.resumedFrom,
          received: c.seqs.length,
          expected: expected.length,
          first_difference: at < 0 ? c.seqs.length : at,
          around: {
            received: c.seqs.slice(Math.max(0, at - 2), at + 3),
            expected: expected.slice(Math.max(0, at - 2), at + 3),
          },
          holes: expected.filter((s) => !seen.has(s)).slice(0, 10),
          duplicates: c.seqs.filter((s, i) => c.seqs.indexOf(s) !== i).slice(0, 10),
        };
      })
      .filter(Boolean);
    if (wrong.length)
      fail(
        `${wrong.length} of ${clients.length} sockets did not get exactly their channel's events in order`,
        wrong.slice(0, 10),
      );

    assertNodesUp('while webhooks and sockets caught up');

    // The fault really happened: node A's clients all reconnected, from a seq they had seen, and
    // the channels had a gap to fill (events were published while A was down).
    const ofA = clients.filter((c) => c.node === 0);
    const notReconnected = ofA.filter((c) => c.connects < 2).map((c) => c.index);
    if (notReconnected.length)
      fail(`${notReconnected.length} clients of the killed node never reconnected`, notReconnected.slice(0, 20));
    // Events a client received after reconnecting that had been acknowledged before it did: the gap it was owed.
    const gapEvents = ofA.map((c) =>
      c.reconnects.reduce(
        (n, r, i) => n + c.seqs.slice(r.received, c.reconnects[i + 1]?.received).filter((s) => s <= r.head).length,
        0,
      ),
    );
    const resumedWithGap = gapEvents.filter((n) => n > 0).length;
    if (resumedWithGap < ofA.length / 2)
      fail('too few reconnecting clients had a gap to fill: the fault did not hit the run', {
        resumedWithGap,
        clients: ofA.length,
      });
    expect(restartedAt).toBeGreaterThan(killedAt);

    console.log(
      JSON.stringify({
        seconds: (Date.now() - runStarted) / 1000,
        publish_seconds: publishSeconds,
        published: published.size,
        acknowledged: acked.size,
        uncertain: uncertain.size,
        stored: log.length,
        node_a_down_ms: restartedAt - killedAt,
        webhooks_owed: owed.length,
        webhook_requests: receiver.requests.length,
        webhook_repeats_same_id: duplicates,
        sockets: clients.length,
        reconnected: ofA.length,
        reconnected_with_gap: resumedWithGap,
        gap_events_replayed: gapEvents.reduce((a, b) => a + b, 0),
      }),
    );
  }
});
