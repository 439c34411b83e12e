import request from 'supertest';
import { io, Socket } from 'socket.io-client';
import { EventLog } from '../../src/core/event-log/event-log.service';
import { EventsGateway } from '../../src/core/gateway/events.gateway';
import { mintKey } from '../support/credentials';
import { dispatchedThrough, publish } from '../support/events';
import { record, waitFor } from '../support/sockets';
import { startTestApp, TestApp } from '../support/test-app';
import { createTestDatabase, TestDatabase } from '../support/test-database';
import { connectWs, WsConnection } from '../support/ws-client';

const BASE = '/api/v1/realtime-subscriptions';

/**
 * A socket.io-client given the channel's websocket_url as is. Listeners are registered before
 * connecting, as a real client would: replayed events may arrive in the same read as the
 * connect packet.
 */
function attachSocket(
  websocketUrl: string,
  token: string,
  auth: Record<string, unknown> = {},
  events: string[] = [],
): Promise<{ socket: Socket; seen: { event: string; payload: any }[] }> {
  return new Promise((resolve, reject) => {
    const socket = io(websocketUrl, {
      transports: ['websocket'],
      reconnection: false,
      forceNew: true,
      autoConnect: false,
      auth: { token, ...auth },
    });
    const seen = record(socket, ...events);
    socket.once('connect', () => resolve({ socket, seen }));
    socket.once('connect_error', (err) => {
      socket.close();
      reject(err);
    });
    socket.connect();
  });
}

const CLAIM_TYPES = ['claim_submitted', 'claim_approved', 'claim_rejected', 'status_changed', 'comment_added'];

describe('seed 000: realtime approval subscriptions', () => {
  let database: TestDatabase;
  let t: TestApp;
  let app: string;
  let coordinator: string;
  let employee: string;
  let otherEmployee: string;
  let foreignApp: string;
  const sockets: Socket[] = [];
  const conns: WsConnection[] = [];

  beforeAll(async () => {
    database = createTestDatabase();
    t = await startTestApp({ database, env: { DISPATCH_POLL_INTERVAL: '50ms' } });
    app = await mintKey(t, { org: 'org_001', scopes: ['events:publish', 'events:read'] });
    coordinator = await mintKey(t, { org: 'org_001', user: 'usr_coord99', scopes: ['events:read', 'claims:read:org'] });
    employee = await mintKey(t, { org: 'org_001', user: 'usr_84cd12ef', scopes: ['events:read'] });
    otherEmployee = await mintKey(t, { org: 'org_001', user: 'usr_other', scopes: ['events:read'] });
    foreignApp = await mintKey(t, { org: 'org_002', scopes: ['events:publish', 'events:read'] });
  });
  afterAll(async () => {
    for (const s of sockets) s.close();
    for (const c of conns) c.ws.terminate();
    await t?.close();
    await database?.drop();
  });

  async function orgChannel(eventTypes?: string[]) {
    const res = await request(t.url)
      .post(`${BASE}/organisation`)
      .set('X-Api-Key', coordinator)
      .send({ organisation_id: 'org_001', user_id: 'usr_coord99', ...(eventTypes ? { event_types: eventTypes } : {}) });
    expect(res.status).toBe(201);
    return res.body;
  }

  async function userChannel(eventTypes?: string[]) {
    const res = await request(t.url)
      .post(`${BASE}/user`)
      .set('X-Api-Key', employee)
      .send({ user_id: 'usr_84cd12ef', ...(eventTypes ? { event_types: eventTypes } : {}) });
    expect(res.status).toBe(201);
    return res.body;
  }

  async function attach(websocketUrl: string, token: string, auth: Record<string, unknown> = {}) {
    const attached = await attachSocket(websocketUrl, token, auth, CLAIM_TYPES);
    sockets.push(attached.socket);
    return attached;
  }

  const statusOf = async (id: string, token = coordinator) =>
    (await request(t.url).get(`${BASE}/${id}`).set('X-Api-Key', token)).body.status;

  it('creates channels with exactly the seed fields', async () => {
    const org = await orgChannel(['status_changed', 'claim_submitted', 'claim_approved', 'claim_rejected']);
    expect(Object.keys(org).sort()).toEqual([
      'channel_id',
      'created_at',
      'organisation_id',
      'status',
      'subscription_type',
      'user_id',
      'websocket_url',
    ]);
    expect(org).toMatchObject({
      channel_id: expect.stringMatching(/^chan_[0-9a-z]{26}$/),
      subscription_type: 'organisation_claims',
      organisation_id: 'org_001',
      user_id: 'usr_coord99',
      status: 'connected',
      websocket_url: `ws://127.0.0.1:${t.port}/channels/${org.channel_id}`,
    });
    const user = await userChannel(['status_changed', 'comment_added']);
    expect(Object.keys(user).sort()).toEqual([
      'channel_id',
      'created_at',
      'status',
      'subscription_type',
      'user_id',
      'websocket_url',
    ]);
    expect(user).toMatchObject({ subscription_type: 'user_claims', user_id: 'usr_84cd12ef' });
  });

  it('status: connected on create and on reconnect, disconnected only once the last attached client drops; GET, list and its filter agree', async () => {
    const user = await userChannel(['status_changed']);
    const view = async () => {
      const one = (await request(t.url).get(`${BASE}/${user.channel_id}`).set('X-Api-Key', employee)).body.status;
      const listed = async (status: string) =>
        (
          (await request(t.url).get(`${BASE}?status=${status}&limit=100`).set('X-Api-Key', employee)).body.data as {
            channel_id: string;
            status: string;
          }[]
        ).find((c) => c.channel_id === user.channel_id);
      const connected = await listed('connected');
      const disconnected = await listed('disconnected');
      return { one, inConnected: connected?.status ?? null, inDisconnected: disconnected?.status ?? null };
    };
    expect(user.status).toBe('connected');
    expect(await view()).toEqual({ one: 'connected', inConnected: 'connected', inDisconnected: null });

    const first = await attach(user.websocket_url, employee);
    expect(await view()).toEqual({ one: 'connected', inConnected: 'connected', inDisconnected: null });
    const second = await connectWs(`${user.websocket_url.replace(/^ws/, 'http')}?access_token=${employee}`);
    conns.push(second);
    await second.next((f) => f.type === 'welcome');
    first.socket.close();
    // One client is still attached.
    await new Promise((r) => setTimeout(r, 200));
    expect((await view()).one).toBe('connected');
    second.ws.close();
    await waitFor('disconnected once the last client dropped', async () => (await view()).one === 'disconnected');
    expect(await view()).toEqual({ one: 'disconnected', inConnected: null, inDisconnected: 'disconnected' });

    const reconnect = await request(t.url).put(`${BASE}/${user.channel_id}/reconnect`).set('X-Api-Key', employee);
    expect(reconnect.body.status).toBe('connected');
    expect(await view()).toEqual({ one: 'connected', inConnected: 'connected', inDisconnected: null });
    const again = await attach(user.websocket_url, employee);
    again.socket.close();
    await waitFor('disconnected again', async () => (await view()).one === 'disconnected');
  });

  it('400 for an event type that is not a claim type, naming the allowed ones', async () => {
    const res = await request(t.url)
      .post(`${BASE}/user`)
      .set('X-Api-Key', employee)
      .send({ user_id: 'usr_84cd12ef', event_types: ['channel.follow'] });
    expect(res.status).toBe(400);
    expect(res.body.details[0]).toEqual({
      field: 'event_types',
      message: `each event type must be one of ${CLAIM_TYPES.join(', ')}`,
    });
  });

  it('403 for creating in another organisation, an org channel as a plain user, or another user’s channel', async () => {
    expect(
      (await request(t.url).post(`${BASE}/organisation`).set('X-Api-Key', app).send({ organisation_id: 'org_002' }))
        .status,
    ).toBe(403);
    expect(
      (
        await request(t.url)
          .post(`${BASE}/organisation`)
          .set('X-Api-Key', employee)
          .send({ organisation_id: 'org_001' })
      ).status,
    ).toBe(403);
    expect(
      (await request(t.url).post(`${BASE}/user`).set('X-Api-Key', otherEmployee).send({ user_id: 'usr_84cd12ef' }))
        .status,
    ).toBe(403);
  });

  it('an organisation channel receives only its organisation’s events of the chosen types; a user channel only that user’s', async () => {
    const org = await orgChannel(['claim_approved', 'claim_rejected']);
    const user = await userChannel(['status_changed']);
    const orgClient = await attach(org.websocket_url, coordinator);
    const userClient = await attach(user.websocket_url, employee);
    await waitFor(
      'both connected',
      async () =>
        (await statusOf(org.channel_id)) === 'connected' && (await statusOf(user.channel_id, employee)) === 'connected',
    );

    const a = await publish(t.url, app, { type: 'claim_approved', user_id: 'usr_someone' });
    await publish(t.url, app, { type: 'comment_added', user_id: 'usr_someone' });
    await publish(t.url, foreignApp, { type: 'claim_approved', user_id: 'usr_84cd12ef' });
    const s = await publish(t.url, app, { type: 'status_changed', user_id: 'usr_84cd12ef' });
    await publish(t.url, app, { type: 'status_changed', user_id: 'usr_other' });
    const r = await publish(t.url, app, { type: 'claim_rejected', user_id: 'usr_84cd12ef' });

    await waitFor('org channel events', () => orgClient.seen.length >= 2);
    await waitFor('user channel events', () => userClient.seen.length >= 1);
    await new Promise((res) => setTimeout(res, 200));
    expect(orgClient.seen.map((m) => m.payload.id)).toEqual([a.body.id, r.body.id]);
    expect(userClient.seen.map((m) => m.payload.id)).toEqual([s.body.id]);
    expect(userClient.seen[0]).toMatchObject({
      event: 'status_changed',
      payload: { specversion: '1.0', sequence: String(s.body.seq) },
    });

    await waitFor(
      'counts',
      async () =>
        (await request(t.url).get(`${BASE}/${org.channel_id}`).set('X-Api-Key', coordinator)).body.event_count === 2,
    );
    const detail = await request(t.url).get(`${BASE}/${org.channel_id}`).set('X-Api-Key', coordinator);
    expect(detail.body).toEqual({
      channel_id: org.channel_id,
      subscription_type: 'organisation_claims',
      organisation_id: 'org_001',
      user_id: 'usr_coord99',
      status: 'connected',
      event_count: 2,
      websocket_url: org.websocket_url,
      created_at: org.created_at,
      last_event_at: expect.any(String),
    });
  });

  it('drop, 5 matching + 3 other events, reconnect → missed_events 5; attach → exactly those 5 in order, then live', async () => {
    const user = await userChannel(['status_changed', 'comment_added']);
    const first = await attach(user.websocket_url, employee);
    const warmup = await publish(t.url, app, { type: 'comment_added', user_id: 'usr_84cd12ef' });
    await waitFor('warm-up event', () => first.seen.length === 1);
    expect(first.seen[0].payload.id).toBe(warmup.body.id);
    first.socket.close();
    await waitFor('disconnected', async () => (await statusOf(user.channel_id, employee)) === 'disconnected');

    const missed: number[] = [];
    const pattern = [true, true, false, true, false, true, false, true]; // 5 matching, 3 not
    for (let i = 0; i < pattern.length; i++) {
      const matching = pattern[i];
      const res = await publish(
        t.url,
        app,
        matching
          ? { type: i % 2 ? 'status_changed' : 'comment_added', user_id: 'usr_84cd12ef', data: { i } }
          : { type: 'claim_approved', user_id: 'usr_84cd12ef', data: { i } },
      );
      if (matching) missed.push(res.body.seq);
    }
    expect(missed).toHaveLength(5);

    const reconnect = await request(t.url).put(`${BASE}/${user.channel_id}/reconnect`).set('X-Api-Key', employee);
    expect(reconnect.status).toBe(200);
    expect(reconnect.body).toEqual({
      channel_id: user.channel_id,
      status: 'connected',
      reconnected_at: expect.any(String),
      missed_events: 5,
      from_seq: missed[0],
      to_seq: missed[4],
      complete: true,
    });

    const again = await attach(user.websocket_url, employee);
    await waitFor('the 5 missed events', () => again.seen.length >= 5);
    const live = await publish(t.url, app, { type: 'status_changed', user_id: 'usr_84cd12ef', data: { live: true } });
    await waitFor('the live event', () => again.seen.length >= 6);
    expect(again.seen.map((m) => Number(m.payload.sequence))).toEqual([...missed, live.body.seq]);
  });

  it('a raw WebSocket client works from the same websocket_url, and resumes exactly from last_seq', async () => {
    const user = await userChannel();
    const seqs: number[] = [];
    for (let i = 0; i < 4; i++)
      seqs.push((await publish(t.url, app, { type: 'comment_added', user_id: 'usr_84cd12ef', data: { i } })).body.seq);
    const conn = await connectWs(`${user.websocket_url.replace(/^ws/, 'http')}?last_seq=${seqs[1]}`, {
      headers: { Authorization: `Bearer ${employee}` },
    });
    conns.push(conn);
    const welcome = await conn.next((f) => f.type === 'welcome');
    expect(welcome).toEqual({
      type: 'welcome',
      channel_id: user.channel_id,
      resume_after: seqs[1],
      from_seq: seqs[2],
      complete: true,
    });
    await waitFor('replayed events', () => conn.frames.filter((f) => f.type === 'event').length >= 2);
    expect(conn.frames.filter((f) => f.type === 'event').map((f) => Number(f.event.sequence))).toEqual(seqs.slice(2));

    await expect(
      connectWs(`${user.websocket_url.replace(/^ws/, 'http')}`, { headers: { 'X-Api-Key': otherEmployee } }),
    ).rejects.toEqual({
      status: 404,
      body: { statusCode: 404, error: 'Not Found', message: `Channel ${user.channel_id} not found` },
    });
    await expect(connectWs(`${user.websocket_url.replace(/^ws/, 'http')}`)).rejects.toEqual({
      status: 401,
      body: {
        statusCode: 401,
        error: 'Unauthorized',
        message: 'Missing credential: send Authorization: Bearer <token> or X-Api-Key',
      },
    });
    await expect(
      connectWs(`${user.websocket_url.replace(/^ws/, 'http')}?last_seq=-1`, { headers: { 'X-Api-Key': employee } }),
    ).rejects.toEqual({
      status: 400,
      body: { statusCode: 400, error: 'Bad Request', message: 'last_seq must be a non-negative integer' },
    });
  });

  it('a raw channel socket answers ping, and answers any other frame with an error frame without closing', async () => {
    const user = await userChannel(['comment_added']);
    const conn = await connectWs(user.websocket_url.replace(/^ws/, 'http'), { headers: { 'X-Api-Key': employee } });
    conns.push(conn);
    await conn.next((f) => f.type === 'welcome', 'welcome');
    // A frame only mentioning "ping" is not a ping.
    conn.ws.send(JSON.stringify({ action: 'subscribe', event_types: ['ping'] }));
    expect(await conn.next((f) => f.type === 'error', 'unknown action')).toEqual({
      type: 'error',
      code: 'unknown_action',
      message: 'Unknown action "subscribe"; use ping',
    });
    conn.ws.send('{"action":"ping"');
    await conn.next((f) => f.type === 'error' && f.code === 'bad_json', 'bad json');
    conn.ws.send(Buffer.from('{"action":"ping"}'), { binary: true });
    await conn.next((f) => f.type === 'error' && f.code === 'bad_frame', 'binary frame');
    conn.ws.send(JSON.stringify({ action: 'ping', pad: 'x'.repeat(70 * 1024) }));
    await conn.next((f) => f.type === 'error' && f.code === 'frame_too_large', 'frame too large');
    conn.ws.send(JSON.stringify({ action: 'ping' }));
    await conn.next((f) => f.type === 'pong', 'pong');
    expect(conn.frames.filter((f) => f.type === 'pong')).toHaveLength(1);

    // Still attached and delivering.
    const event = await publish(t.url, app, { type: 'comment_added', user_id: 'usr_84cd12ef' });
    await conn.next((f) => f.type === 'event' && f.event.id === event.body.id, 'event after the errors');
    expect(conn.ws.readyState).toBe(conn.ws.OPEN);

    // Past the hard limit the frame is not read: the connection is closed with 1009.
    conn.ws.send('x'.repeat(1024 * 1024 + 1));
    expect((await conn.closed).code).toBe(1009);
  });

  it('a malformed channel path on upgrade is a 400, an unknown path a 404, both in the standard envelope; the server stays up', async () => {
    await expect(connectWs(`${t.url}/channels/%ZZ`, { headers: { 'X-Api-Key': employee } })).rejects.toEqual({
      status: 400,
      body: { statusCode: 400, error: 'Bad Request', message: 'Malformed path' },
    });
    await expect(connectWs(`${t.url}/nowhere`, { headers: { 'X-Api-Key': employee } })).rejects.toEqual({
      status: 404,
      body: { statusCode: 404, error: 'Not Found', message: 'No WebSocket endpoint at /nowhere' },
    });
    expect((await request(t.url).get('/healthz')).status).toBe(200);
  });

  it('refuses a Socket.IO attach by another user or organisation', async () => {
    const user = await userChannel();
    await expect(attachSocket(user.websocket_url, otherEmployee)).rejects.toMatchObject({ data: { code: 404 } });
    await expect(attachSocket(user.websocket_url, foreignApp)).rejects.toMatchObject({ data: { code: 404 } });
    await expect(attachSocket(user.websocket_url, 'hrld_bad')).rejects.toMatchObject({ data: { code: 401 } });
    const byApp = await attachSocket(user.websocket_url, app);
    sockets.push(byApp.socket);
    expect(byApp.socket.connected).toBe(true);
  });

  it('Socket.IO namespaces for junk, unknown or refused channel paths are not kept; an attached one goes when its last client leaves', async () => {
    const server = t.app.get(EventsGateway).server;
    const namespaces = () => (server as unknown as { _nsps: Map<string, unknown> })._nsps;
    const before = [...namespaces().keys()].sort();
    const created: string[] = [];
    const onCreated = (nsp: { name: string }) => created.push(nsp.name);
    server.on('new_namespace', onCreated);
    const base = `ws://127.0.0.1:${t.port}/channels`;
    const junk = [
      `${base}/junk`,
      `${base}/chan_b5c6d7e8`,
      `${base}/CHAN_01ARZ3NDEKTSV4RRFFQ69G5FAV`,
      `${base}/chan_01ARZ3NDEKTSV4RRFFQ69G5FAVX`,
      ...Array.from({ length: 20 }, (_, i) => `${base}/x${i}-${Math.random().toString(36).slice(2)}`),
    ];
    for (const url of junk) {
      await expect(attachSocket(url, 'hrld_bad')).rejects.toThrow();
      await expect(attachSocket(url, employee)).rejects.toThrow();
    }
    // A path that cannot be a channel id never gets as far as creating a namespace.
    expect(created).toEqual([]);
    // The shape of a channel id, but no such channel: refused by auth or lookup, and not kept.
    const unknown = `${base}/chan_01arz3ndektsv4rrffq69g5fav`;
    await expect(attachSocket(unknown, 'hrld_bad')).rejects.toMatchObject({ data: { code: 401 } });
    await expect(attachSocket(unknown, employee)).rejects.toMatchObject({ data: { code: 404 } });
    expect([...namespaces().keys()].sort()).toEqual(before);

    const user = await userChannel();
    const attached = await attachSocket(user.websocket_url, employee);
    expect(namespaces().has(`/channels/${user.channel_id}`)).toBe(true);
    attached.socket.close();
    await waitFor('the channel namespace to be dropped', () => !namespaces().has(`/channels/${user.channel_id}`));
    expect([...namespaces().keys()].sort()).toEqual(before);
    server.off('new_namespace', onCreated);
  });

  it('events published during a 10,000-event replay arrive after it, in order, none twice', async () => {
    const org = await orgChannel(['status_changed']);
    const expected: number[] = [];
    for (let b = 0; b < 20; b++) {
      const res = await request(t.url)
        .post('/api/v1/events/batch')
        .set('X-Api-Key', app)
        .send({ events: Array.from({ length: 500 }, (_, i) => ({ type: 'status_changed', data: { b, i } })) });
      expect(res.status).toBe(201);
      expected.push(...res.body.events.map((e: { seq: number }) => e.seq));
    }
    const client = await attach(org.websocket_url, coordinator);
    await waitFor('replay under way', () => client.seen.length > 0, 20_000);
    for (let i = 0; i < 20; i++)
      expected.push((await publish(t.url, app, { type: 'status_changed', data: { live: i } })).body.seq);
    await waitFor('all 10,020 events', () => client.seen.length >= 10_020, 60_000);
    await new Promise((r) => setTimeout(r, 200));
    expect(client.seen.map((m) => Number(m.payload.sequence))).toEqual(expected);
  });

  it('another organisation gets 404 on get, reconnect and delete; another user too', async () => {
    const user = await userChannel();
    for (const token of [foreignApp, otherEmployee]) {
      expect((await request(t.url).get(`${BASE}/${user.channel_id}`).set('X-Api-Key', token)).status).toBe(404);
      expect((await request(t.url).put(`${BASE}/${user.channel_id}/reconnect`).set('X-Api-Key', token)).status).toBe(
        404,
      );
      expect((await request(t.url).delete(`${BASE}/${user.channel_id}`).set('X-Api-Key', token)).status).toBe(404);
    }
    expect((await request(t.url).get(`${BASE}/${user.channel_id}`).set('X-Api-Key', employee)).status).toBe(200);
  });

  it('lists with filters and pages, showing a user only their own channels', async () => {
    for (let i = 0; i < 3; i++) await userChannel();
    await orgChannel();
    await orgChannel();
    const mine = await request(t.url).get(`${BASE}?limit=100`).set('X-Api-Key', employee);
    expect(mine.status).toBe(200);
    expect(mine.body.data.length).toBeGreaterThan(0);
    for (const c of mine.body.data) expect(c.user_id).toBe('usr_84cd12ef');
    const orgOnly = await request(t.url)
      .get(`${BASE}?subscription_type=organisation_claims&organisation_id=org_001`)
      .set('X-Api-Key', coordinator);
    for (const c of orgOnly.body.data) expect(c.subscription_type).toBe('organisation_claims');
    const page = await request(t.url).get(`${BASE}?page=2&limit=2`).set('X-Api-Key', coordinator);
    expect(page.body.pagination).toMatchObject({ page: 2, limit: 2 });
    expect(page.body.pagination.total).toBeGreaterThanOrEqual(mine.body.data.length);
    expect(page.body.data).toHaveLength(2);
    expect(
      (await request(t.url).get(`${BASE}?organisation_id=org_002`).set('X-Api-Key', coordinator)).body.data,
    ).toEqual([]);
    expect((await request(t.url).get(`${BASE}?limit=500`).set('X-Api-Key', coordinator)).status).toBe(400);
    expect((await request(t.url).get(`${BASE}?status=maybe`).set('X-Api-Key', coordinator)).status).toBe(400);
  });

  it('DELETE disconnects attached clients with a reason and the channel is gone', async () => {
    const user = await userChannel();
    const client = await attach(user.websocket_url, employee);
    const closing: unknown[] = [];
    client.socket.on('closing', (m: unknown) => closing.push(m));
    const conn = await connectWs(user.websocket_url.replace(/^ws/, 'http'), { headers: { 'X-Api-Key': employee } });
    const disconnected = new Promise<string>((r) => client.socket.on('disconnect', (reason) => r(reason)));
    const res = await request(t.url).delete(`${BASE}/${user.channel_id}`).set('X-Api-Key', employee);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ channel_id: user.channel_id, unsubscribed: true, closed_at: expect.any(String) });
    expect(await disconnected).toBe('io server disconnect');
    expect(closing).toEqual([{ reason: 'channel unsubscribed' }]);
    expect(await conn.closed).toEqual({ code: 1000, reason: 'channel unsubscribed' });
    expect(conn.frames.at(-1)).toEqual({ type: 'closed', reason: 'channel unsubscribed' });
    expect((await request(t.url).get(`${BASE}/${user.channel_id}`).set('X-Api-Key', employee)).status).toBe(404);
    const listed = await request(t.url).get(`${BASE}?limit=100`).set('X-Api-Key', employee);
    expect(listed.body.data.map((c: { channel_id: string }) => c.channel_id)).not.toContain(user.channel_id);
  });

  it('counts survive a restart', async () => {
    const user = await userChannel(['claim_submitted']);
    for (let i = 0; i < 3; i++) await publish(t.url, app, { type: 'claim_submitted', user_id: 'usr_84cd12ef' });
    await waitFor(
      'count of 3',
      async () =>
        (await request(t.url).get(`${BASE}/${user.channel_id}`).set('X-Api-Key', employee)).body.event_count === 3,
    );
    for (const s of sockets) s.close();
    sockets.length = 0;
    await t.close();
    t = await startTestApp({
      database,
      env: { HERALD_BOOTSTRAP_KEY: t.operatorToken, DISPATCH_POLL_INTERVAL: '50ms' },
    });
    const after = await request(t.url).get(`${BASE}/${user.channel_id}`).set('X-Api-Key', employee);
    expect(after.status).toBe(200);
    // Nobody ever attached: it is still connected, waiting for its first client, across the restart.
    expect(after.body).toMatchObject({
      event_count: 3,
      status: 'connected',
      websocket_url: `ws://127.0.0.1:${t.port}/channels/${user.channel_id}`,
    });
    const reconnect = await request(t.url).put(`${BASE}/${user.channel_id}/reconnect`).set('X-Api-Key', employee);
    expect(reconnect.body.missed_events).toBe(3);
  });
});

/**
 * A Socket.IO client speaking the long-polling transport by hand, so the test decides when it
 * reads: between two polls everything the server emits waits in the server's buffer.
 */
async function pollingClient(url: string, namespace: string, auth: Record<string, unknown>) {
  const base = `${url}/socket.io/?EIO=4&transport=polling`;
  const open = await (await fetch(base)).text();
  const { sid } = JSON.parse(open.slice(1)) as { sid: string };
  const endpoint = `${base}&sid=${sid}`;
  const post = async (body: string) => {
    const res = await fetch(endpoint, {
      method: 'POST',
      body,
      headers: { 'Content-Type': 'text/plain;charset=UTF-8' },
    });
    expect(res.status).toBe(200);
  };
  await post(`40${namespace},${JSON.stringify(auth)}`);
  const events: { event: string; payload: any }[] = [];
  return {
    events,
    /** One poll: returns the raw body and records the namespace's events in it. */
    async poll(): Promise<string> {
      const body = await (await fetch(endpoint)).text();
      for (const packet of body.split('\x1e')) {
        if (packet === '2') await post('3');
        else if (packet.startsWith(`42${namespace},`)) {
          const [event, payload] = JSON.parse(packet.slice(`42${namespace},`.length));
          events.push({ event, payload });
        } else if (packet.startsWith(`44${namespace},`)) throw new Error(`connect refused: ${packet}`);
      }
      return body;
    },
  };
}

describe('seed 000: channel clients that read slowly', () => {
  const LIMIT = 64 * 1024;
  let t: TestApp;
  let app: string;
  let employee: string;

  beforeAll(async () => {
    t = await startTestApp({ env: { WS_MAX_BUFFERED_BYTES: String(LIMIT), DISPATCH_POLL_INTERVAL: '50ms' } });
    app = await mintKey(t, { org: 'org_slow', scopes: ['events:publish', 'events:read'] });
    employee = await mintKey(t, { org: 'org_slow', user: 'usr_slow', scopes: ['events:read'] });
  });
  afterAll(async () => {
    await t?.close();
  });

  async function userChannel() {
    const res = await request(t.url)
      .post(`${BASE}/user`)
      .set('X-Api-Key', employee)
      .send({ user_id: 'usr_slow', event_types: ['status_changed'] });
    expect(res.status).toBe(201);
    return res.body as { channel_id: string; websocket_url: string };
  }

  async function publishMany(batches: number, padding: number): Promise<number[]> {
    const seqs: number[] = [];
    for (let b = 0; b < batches; b++) {
      const res = await request(t.url)
        .post('/api/v1/events/batch')
        .set('X-Api-Key', app)
        .send({
          events: Array.from({ length: 500 }, (_, i) => ({
            type: 'status_changed',
            user_id: 'usr_slow',
            data: { b, i, pad: 'x'.repeat(padding) },
          })),
        });
      expect(res.status).toBe(201);
      seqs.push(...res.body.events.map((e: { seq: number }) => e.seq));
    }
    return seqs;
  }

  /** Events after the channel's stored cursor: what has not been handed to a client yet. */
  const notYetSent = async (channelId: string) =>
    (await request(t.url).put(`${BASE}/${channelId}/reconnect`).set('X-Api-Key', employee)).body
      .missed_events as number;

  it('a Socket.IO replay to a client that does not read queues about the per-client limit, then carries on as it reads', async () => {
    const channel = await userChannel();
    const seqs = await publishMany(2, 1000);
    const client = await pollingClient(t.url, `/channels/${channel.channel_id}`, { token: employee });

    // Wait for the replay to stop moving while the client does not poll.
    let previous = -1;
    let current = await notYetSent(channel.channel_id);
    for (let i = 0; i < 40 && (current === seqs.length || current !== previous); i++) {
      await new Promise((r) => setTimeout(r, 700));
      previous = current;
      current = await notYetSent(channel.channel_id);
    }
    const queued = seqs.length - current;
    // Each event is over 1 KB, so the limit holds a few dozen of them.
    expect(queued).toBeGreaterThan(0);
    expect(queued).toBeLessThan(100);

    const first = await client.poll();
    expect(first.length).toBeLessThan(2 * LIMIT);
    const replayed = () => client.events.filter((e) => e.event === 'status_changed');
    for (let i = 0; i < 200 && replayed().length < seqs.length; i++) await client.poll();
    expect(client.events[0]).toMatchObject({ event: 'welcome', payload: { complete: true, from_seq: seqs[0] } });
    expect(replayed().map((e) => Number(e.payload.sequence))).toEqual(seqs);
  });
});

describe('seed 000: attaching from before the retention window', () => {
  let t: TestApp;
  let app: string;
  let employee: string;
  const sockets: Socket[] = [];
  const conns: WsConnection[] = [];

  beforeAll(async () => {
    t = await startTestApp({ env: { DISPATCH_POLL_INTERVAL: '50ms' } });
    app = await mintKey(t, { org: 'org_ret', scopes: ['events:publish', 'events:read'] });
    employee = await mintKey(t, { org: 'org_ret', user: 'usr_ret', scopes: ['events:read'] });
  });
  afterAll(async () => {
    for (const s of sockets) s.close();
    for (const c of conns) c.ws.terminate();
    await t?.close();
  });

  it('the welcome says the replay is incomplete when retention pruned part of the range, over both transports', async () => {
    const channel = (
      await request(t.url)
        .post(`${BASE}/user`)
        .set('X-Api-Key', employee)
        .send({ user_id: 'usr_ret', event_types: ['status_changed'] })
    ).body;
    const old: number[] = [];
    for (let i = 0; i < 3; i++)
      old.push((await publish(t.url, app, { type: 'status_changed', user_id: 'usr_ret', data: { i } })).body.seq);
    // Everything so far is past a 7-day retention as seen from 8 days on (retention never
    // prunes what the dispatcher has not processed yet).
    await dispatchedThrough(t.url, old[2]);
    expect(await t.app.get(EventLog).prune(Date.now() + 8 * 24 * 3600 * 1000)).toBeGreaterThanOrEqual(3);
    const kept = (await publish(t.url, app, { type: 'status_changed', user_id: 'usr_ret', data: { kept: true } })).body
      .seq;
    const wsUrl = channel.websocket_url.replace(/^ws/, 'http');

    const behind = await connectWs(`${wsUrl}?last_seq=${old[0]}`, { headers: { 'X-Api-Key': employee } });
    conns.push(behind);
    expect(await behind.next((f) => f.type === 'welcome')).toEqual({
      type: 'welcome',
      channel_id: channel.channel_id,
      resume_after: old[0],
      from_seq: kept,
      complete: false,
    });
    await behind.next((f) => f.type === 'event', 'the retained event');
    expect(behind.frames.map((f) => f.type)).toEqual(['welcome', 'event']);
    expect(Number(behind.frames[1].event.sequence)).toBe(kept);

    const socket = await attachSocket(channel.websocket_url, employee, { last_seq: old[0] }, [
      'welcome',
      'status_changed',
    ]);
    sockets.push(socket.socket);
    await waitFor('the retained event over Socket.IO', () => socket.seen.length >= 2);
    expect(socket.seen.map((m) => m.event)).toEqual(['welcome', 'status_changed']);
    expect(socket.seen[0].payload).toEqual({
      channel_id: channel.channel_id,
      resume_after: old[0],
      from_seq: kept,
      complete: false,
    });

    // Resuming from the last pruned seq loses nothing.
    const current = await connectWs(`${wsUrl}?last_seq=${old[2]}`, { headers: { 'X-Api-Key': employee } });
    conns.push(current);
    expect(await current.next((f) => f.type === 'welcome')).toEqual({
      type: 'welcome',
      channel_id: channel.channel_id,
      resume_after: old[2],
      from_seq: kept,
      complete: true,
    });
  });
});
