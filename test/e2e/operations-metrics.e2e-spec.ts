import request from 'supertest';
import { io, type Socket } from 'socket.io-client';
import { Database } from '../../src/core/database/database.service';
import { DispatcherLeaseStore } from '../../src/core/event-log/dispatcher-lease.store';
import { mintKey } from '../support/credentials';
import { sample } from '../support/metrics';
import { dispatchedThrough, publish } from '../support/events';
import { connectSocket, record, waitFor } from '../support/sockets';
import { startTestApp, type TestApp } from '../support/test-app';
import { connectWs, type WsConnection } from '../support/ws-client';

const ORG = 'org_ops_metrics';
const USER = 'usr_ops_reader';

/** A channel client over Socket.IO; listeners are on before it connects, as replayed events may come with the connect. */
function attachSocket(websocketUrl: string, token: string, auth: Record<string, unknown> = {}) {
  return new Promise<{ socket: Socket; seen: { event: string; payload: any }[] }>((resolve, reject) => {
    const socket = io(websocketUrl, {
      transports: ['websocket'],
      reconnection: false,
      forceNew: true,
      autoConnect: false,
      auth: { token, ...auth },
    });
    const seen = record(socket, 'welcome', 'claim_approved');
    socket.once('connect', () => resolve({ socket, seen }));
    socket.once('connect_error', reject);
    socket.connect();
  });
}

/**
 * The operator's view of sockets, the log and the dispatcher on /metrics, through the real app
 * and real clients: what is connected, what was appended and sent, replays, dispatcher lag.
 */
describe('operations: /metrics', () => {
  let t: TestApp;
  let publisher: string;
  let reader: string;
  let orgReaderUser: string;
  const sockets: Socket[] = [];
  const conns: WsConnection[] = [];

  async function metrics(): Promise<string> {
    const res = await request(t.url).get('/metrics');
    expect(res.status).toBe(200);
    return res.text;
  }

  async function value(name: string, labels: Record<string, string> = {}): Promise<number | undefined> {
    return sample(await metrics(), name, labels);
  }

  async function channel(): Promise<{ channel_id: string; websocket_url: string }> {
    const res = await request(t.url)
      .post('/api/v1/realtime-subscriptions/organisation')
      .set('X-Api-Key', reader)
      .send({ organisation_id: ORG, event_types: ['claim_approved'] });
    expect(res.status).toBe(201);
    return res.body;
  }

  beforeAll(async () => {
    t = await startTestApp({ env: { DISPATCH_POLL_INTERVAL: '50ms', DISPATCHER_LEASE: '3s' } });
    publisher = await mintKey(t, { org: ORG, scopes: ['events:publish'] });
    reader = await mintKey(t, { org: ORG, scopes: ['events:read'] });
    orgReaderUser = await mintKey(t, { org: ORG, user: USER, scopes: ['events:read', 'claims:read:org'] });
  });
  afterEach(() => {
    for (const s of sockets.splice(0)) s.close();
    for (const c of conns.splice(0)) c.ws.terminate();
  });
  afterAll(async () => {
    await t?.close();
  });

  it('shows every new series, at zero on a node nobody has used', async () => {
    const text = await metrics();
    const zero: [string, Record<string, string>?][] = [
      ['herald_socketio_sockets'],
      ['herald_websocket_clients'],
      ['herald_channel_attachments', { transport: 'socket.io' }],
      ['herald_channel_attachments', { transport: 'websocket' }],
      ['herald_fanout_messages_total', { transport: 'socket.io' }],
      ['herald_fanout_messages_total', { transport: 'websocket' }],
      ['herald_replays_started_total'],
      ['herald_replays_finished_total', { outcome: 'live' }],
      ['herald_replays_finished_total', { outcome: 'closed' }],
      ['herald_replays_finished_total', { outcome: 'failed' }],
      ['herald_events_appended_total'],
      ['herald_dispatcher_lag_seconds'],
    ];
    for (const [name, labels] of zero) {
      expect(text).toContain(`# HELP ${name} `);
      expect([name, labels, sample(text, name, labels)]).toEqual([name, labels, 0]);
    }
    expect(sample(text, 'herald_metric_stale', { metric: 'herald_dispatcher_lag_seconds' })).toBe(0);
  });

  it('counts connected clients by kind, and lets them go again', async () => {
    const { websocket_url } = await channel();
    sockets.push(await connectSocket(t.url, reader), await connectSocket(t.url, orgReaderUser));
    conns.push(
      await connectWs(`${t.url}/api/v1/ws/subscribe?event_types=claim_approved`, { headers: { 'X-Api-Key': reader } }),
    );
    const attached = await attachSocket(websocket_url, reader);
    sockets.push(attached.socket);
    conns.push(await connectWs(websocket_url, { headers: { 'X-Api-Key': reader } }));
    await waitFor(
      'the attachments',
      async () => (await value('herald_channel_attachments', { transport: 'websocket' })) === 1,
    );

    const text = await metrics();
    expect(sample(text, 'herald_socketio_sockets')).toBe(3);
    expect(sample(text, 'herald_websocket_clients')).toBe(2);
    expect(sample(text, 'herald_channel_attachments', { transport: 'socket.io' })).toBe(1);
    expect(sample(text, 'herald_channel_attachments', { transport: 'websocket' })).toBe(1);

    for (const s of sockets.splice(0)) s.close();
    for (const c of conns.splice(0)) c.ws.close();
    await waitFor('everyone gone', async () => {
      const after = await metrics();
      return (
        sample(after, 'herald_socketio_sockets') === 0 &&
        sample(after, 'herald_websocket_clients') === 0 &&
        sample(after, 'herald_channel_attachments', { transport: 'socket.io' }) === 0 &&
        sample(after, 'herald_channel_attachments', { transport: 'websocket' }) === 0
      );
    });
  });

  it('counts appended events once, and every message sent, once per client, by transport', async () => {
    const before = await metrics();
    const appended = sample(before, 'herald_events_appended_total')!;
    const viaSocketIo = sample(before, 'herald_fanout_messages_total', { transport: 'socket.io' })!;
    const viaWebsocket = sample(before, 'herald_fanout_messages_total', { transport: 'websocket' })!;

    const { websocket_url } = await channel();
    // Two default-namespace sockets; the org-reading user's sits in two rooms an event about it reaches.
    const app = await connectSocket(t.url, reader);
    const user = await connectSocket(t.url, orgReaderUser);
    sockets.push(app, user);
    const seen = [record(app, 'claim_approved'), record(user, 'claim_approved')];
    const subscriber = await connectWs(`${t.url}/api/v1/ws/subscribe?event_types=claim_approved`, {
      headers: { 'X-Api-Key': reader },
    });
    const attached = await attachSocket(websocket_url, reader);
    const rawChannel = await connectWs(websocket_url, { headers: { 'X-Api-Key': reader } });
    sockets.push(attached.socket);
    conns.push(subscriber, rawChannel);
    await rawChannel.next((f) => f.type === 'welcome', 'the channel welcome');

    const first = await publish(t.url, publisher, { id: 'evt_ops_1', user_id: USER, data: { n: 1 } });
    expect(first.status).toBe(201);
    // The same producer id again is the original, not a new event.
    expect((await publish(t.url, publisher, { id: 'evt_ops_1', user_id: USER, data: { n: 1 } })).status).toBe(200);
    const batch = await request(t.url)
      .post('/api/v1/events/batch')
      .set('X-Api-Key', publisher)
      .send({
        events: [2, 3].map((n) => ({ type: 'claim_approved', id: `evt_ops_${n}`, user_id: USER, data: { n } })),
      });
    expect(batch.status).toBe(201);

    await waitFor(
      'three events everywhere',
      () =>
        [...seen, attached.seen.filter((s) => s.event === 'claim_approved')].every((s) => s.length === 3) &&
        [subscriber, rawChannel].every((c) => c.frames.filter((f) => f.type === 'event').length === 3),
    );
    // Anything still on its way would arrive now.
    await new Promise((r) => setTimeout(r, 200));
    expect(seen.map((s) => s.length)).toEqual([3, 3]);

    const after = await metrics();
    expect(sample(after, 'herald_events_appended_total')! - appended).toBe(3);
    // 3 events × (2 default-namespace sockets + 1 channel socket), the user's socket once each.
    expect(sample(after, 'herald_fanout_messages_total', { transport: 'socket.io' })! - viaSocketIo).toBe(9);
    // 3 events × (the /api/v1/ws/subscribe client + the raw channel client).
    expect(sample(after, 'herald_fanout_messages_total', { transport: 'websocket' })! - viaWebsocket).toBe(6);
    // No client, channel or organisation in any label.
    const labelled = after
      .split('\n')
      .filter((l) =>
        /^herald_(fanout|replays|socketio|websocket|channel_attachments|events_appended|dispatcher_lag)/.test(l),
      );
    expect(labelled.length).toBeGreaterThan(0);
    expect(labelled.filter((l) => /org_|chan_|key_|usr_|wsc_/.test(l))).toEqual([]);
  });

  it('counts replays started and finished, and the replayed events as messages sent', async () => {
    const { websocket_url } = await channel();
    const published = [];
    for (let n = 0; n < 4; n++) published.push(await publish(t.url, publisher, { data: { n } }));
    const before = await metrics();
    const started = sample(before, 'herald_replays_started_total')!;
    const live = sample(before, 'herald_replays_finished_total', { outcome: 'live' })!;
    const viaWebsocket = sample(before, 'herald_fanout_messages_total', { transport: 'websocket' })!;

    // Attaching replays what the channel missed since it was made, then hands over to live events.
    const client = await connectWs(websocket_url, { headers: { 'X-Api-Key': reader } });
    conns.push(client);
    await waitFor('the replay', () => client.frames.filter((f) => f.type === 'event').length === 4);
    await waitFor('the replay counted as finished', async () => {
      const text = await metrics();
      return sample(text, 'herald_replays_finished_total', { outcome: 'live' })! - live === 1;
    });
    const after = await metrics();
    expect(sample(after, 'herald_replays_started_total')! - started).toBe(1);
    expect(sample(after, 'herald_replays_finished_total', { outcome: 'failed' })).toBe(0);
    expect(sample(after, 'herald_fanout_messages_total', { transport: 'websocket' })! - viaWebsocket).toBe(4);
    expect(client.frames.filter((f) => f.type === 'event').map((f) => Number(f.event.sequence))).toEqual(
      published.map((p) => p.body.seq),
    );
  });

  it('reports how long the oldest event has waited for the dispatcher, and 0 once it is through', async () => {
    const leases = new DispatcherLeaseStore(t.app.get(Database));
    const warm = await publish(t.url, publisher, { data: { warm: true } });
    await dispatchedThrough(t.url, warm.body.seq);
    expect(await value('herald_dispatcher_lag_seconds')).toBe(0);

    // Another holder takes the dispatcher lease: this node stops dispatching, the event waits.
    const taken = await leases.acquire('node-elsewhere', 60_000, { evenUnexpired: true });
    expect(taken.acquired).toBe(true);
    const term = (taken as { term: number }).term;
    try {
      const waiting = await publish(t.url, publisher, { data: { waiting: true } });
      expect(waiting.status).toBe(201);
      await waitFor('a lag of a second', async () => ((await value('herald_dispatcher_lag_seconds')) ?? 0) >= 1, 5000);
      const text = await metrics();
      // Measured from when the event was received, so it cannot run ahead of the wall clock.
      const age = (Date.now() - Date.parse(waiting.body.received_at)) / 1000;
      expect(sample(text, 'herald_dispatcher_lag_seconds')).toBeLessThanOrEqual(age + 0.05);
      expect(sample(text, 'herald_dispatcher_checkpoint')).toBe(warm.body.seq);
      expect(sample(text, 'herald_metric_stale', { metric: 'herald_dispatcher_lag_seconds' })).toBe(0);
    } finally {
      expect(await leases.release('node-elsewhere', term)).toBe(true);
    }
    await waitFor(
      'the dispatcher through again',
      async () => (await value('herald_dispatcher_lag_seconds')) === 0,
      10_000,
    );
  });

  it('counts the statements sent to the database, by kind, transaction control included', async () => {
    const kinds = ['select', 'insert', 'begin', 'commit'];
    const count = (text: string) =>
      Object.fromEntries(kinds.map((k) => [k, sample(text, 'herald_db_statements_total', { statement: k }) ?? 0]));
    const before = count(await metrics());
    const db = t.app.get(Database);
    for (let i = 0; i < 5; i++) await db.transaction((m) => db.query(m, 'SELECT 1'));
    const published = await publish(t.url, publisher, { data: { counted: true } });
    expect(published.status).toBe(201);
    // The dispatcher's batch for it (a transaction that writes its checkpoint) has run too: on
    // Postgres the append itself is one statement with no BEGIN or COMMIT.
    await dispatchedThrough(t.url, published.body.seq);
    const after = count(await metrics());
    // At least what this test sent and the dispatcher's batch; its polls add their own meanwhile.
    expect(after.select - before.select).toBeGreaterThanOrEqual(5);
    expect(after.begin - before.begin).toBeGreaterThanOrEqual(6);
    expect(after.commit - before.commit).toBeGreaterThanOrEqual(6);
    expect(after.insert - before.insert).toBeGreaterThanOrEqual(1);
  });
});
