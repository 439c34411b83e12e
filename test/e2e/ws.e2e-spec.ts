import request from 'supertest';
import { EventCatalog } from '../../src/core/event-log/event-catalog';
import { WsClientsService } from '../../src/events/ws/ws-clients.service';
import { mintKey } from '../support/credentials';
import { publish } from '../support/events';
import { waitFor } from '../support/sockets';
import { startTestApp, TestApp } from '../support/test-app';
import { connectWs, send, WsConnection } from '../support/ws-client';

describe('seed 001: raw WebSocket notifications', () => {
  let t: TestApp;
  let app: string;
  let alice: string;
  let bob: string;
  let otherOrg: string;
  const open: WsConnection[] = [];

  beforeAll(async () => {
    t = await startTestApp({ env: { WS_MAX_BUFFERED_BYTES: '262144' } });
    app = await mintKey(t, { org: 'org_ws', scopes: ['events:publish', 'events:read'] });
    alice = await mintKey(t, { org: 'org_ws', user: 'usr_alice', scopes: ['events:read'] });
    bob = await mintKey(t, { org: 'org_ws', user: 'usr_bob', scopes: ['events:read'] });
    otherOrg = await mintKey(t, { org: 'org_other', user: 'usr_alice', scopes: ['events:read'] });
  });
  afterAll(async () => {
    for (const c of open) c.ws.terminate();
    await t?.close();
  });

  async function connect(token: string, query = '', header: 'bearer' | 'api-key' = 'bearer'): Promise<WsConnection> {
    const headers: Record<string, string> =
      header === 'bearer' ? { Authorization: `Bearer ${token}` } : { 'X-Api-Key': token };
    const conn = await connectWs(`${t.url}/api/v1/ws/subscribe${query}`, { headers });
    open.push(conn);
    await conn.next((f) => f.type === 'welcome', 'welcome');
    return conn;
  }

  const events = (conn: WsConnection) => conn.frames.filter((f) => f.type === 'event').map((f) => f.event);

  describe('handshake', () => {
    it('refuses an upgrade without a credential with HTTP 401 and the 001 body', async () => {
      await expect(connectWs(`${t.url}/api/v1/ws/subscribe`)).rejects.toEqual({
        status: 401,
        body: {
          code: 401,
          message: 'Missing credential: send Authorization: Bearer <token> or X-Api-Key',
          stack: [
            {
              code: 401,
              description: 'Missing credential: send Authorization: Bearer <token> or X-Api-Key',
              error: 'Unauthorized',
              path: '/api/v1/ws/subscribe',
            },
          ],
        },
      });
      await expect(
        connectWs(`${t.url}/api/v1/ws/subscribe`, { headers: { 'X-Api-Key': 'hrld_bad' } }),
      ).rejects.toMatchObject({ status: 401, body: { code: 401 } });
    });

    it('refuses an unknown event type with 400', async () => {
      await expect(
        connectWs(`${t.url}/api/v1/ws/subscribe?event_types=claim_exploded`, { headers: { 'X-Api-Key': alice } }),
      ).rejects.toMatchObject({
        status: 400,
        body: {
          code: 400,
          message: expect.stringContaining('Unknown event type(s) claim_exploded'),
          stack: [{ path: 'event_types' }],
        },
      });
    });

    it('answers a plain GET with 426 (credential) or 401 (none), in the 001 body', async () => {
      const plain = await request(t.url).get('/api/v1/ws/subscribe').set('X-Api-Key', alice);
      expect(plain.status).toBe(426);
      expect(plain.body).toEqual({
        code: 426,
        message: expect.stringContaining('only speaks WebSocket'),
        stack: [
          { code: 426, description: expect.any(String), error: 'Upgrade Required', path: '/api/v1/ws/subscribe' },
        ],
      });
      const anonymous = await request(t.url).get('/api/v1/ws/subscribe');
      expect(anonymous.status).toBe(401);
      expect(anonymous.body).toMatchObject({ code: 401, stack: [{ error: 'Unauthorized' }] });
    });

    it('accepts Bearer, X-Api-Key and access_token, and welcomes with a client id', async () => {
      const viaBearer = await connect(alice, '?event_types=claim_approved,claim_rejected');
      expect(viaBearer.frames[0]).toEqual({
        type: 'welcome',
        client_id: expect.stringMatching(/^wsc_[0-9a-z]{26}$/),
        user_id: 'usr_alice',
        event_types: ['claim_approved', 'claim_rejected'],
      });
      const viaKey = await connect(alice, '?event_types=claim_approved&event_types=comment_added', 'api-key');
      expect(viaKey.frames[0].event_types).toEqual(['claim_approved', 'comment_added']);
      const viaQuery = await connectWs(`${t.url}/api/v1/ws/subscribe?access_token=${alice}`);
      open.push(viaQuery);
      expect((await viaQuery.next((f) => f.type === 'welcome')).user_id).toBe('usr_alice');
    });
  });

  describe('delivery', () => {
    it('a user gets events about itself of the chosen types; an app gets the organisation; other orgs nothing', async () => {
      const mine = await connect(alice, '?event_types=claim_approved');
      const everything = await connect(app);
      const foreign = await connect(otherOrg);
      const a = await publish(t.url, app, { type: 'claim_approved', user_id: 'usr_alice' });
      await publish(t.url, app, { type: 'claim_rejected', user_id: 'usr_alice' });
      await publish(t.url, app, { type: 'claim_approved', user_id: 'usr_bob' });
      const last = await publish(t.url, app, { type: 'comment_added', user_id: 'usr_bob' });
      await everything.next((f) => f.type === 'event' && f.event.id === last.body.id, 'last event on the app client');
      await mine.next((f) => f.type === 'event', 'alice event');
      expect(events(everything)).toHaveLength(4);
      expect(events(mine).map((e) => e.id)).toEqual([a.body.id]);
      expect(events(mine)[0]).toMatchObject({
        specversion: '1.0',
        type: 'claim_approved',
        userid: 'usr_alice',
        sequence: String(a.body.seq),
      });
      send(foreign, { action: 'ping' });
      await foreign.next((f) => f.type === 'pong');
      expect(events(foreign)).toEqual([]);
    });

    it('subscribe and unsubscribe frames change what arrives', async () => {
      const conn = await connect(alice, '?event_types=claim_approved');
      send(conn, { action: 'subscribe', event_types: ['comment_added'] });
      expect(await conn.next((f) => f.type === 'subscriptions')).toEqual({
        type: 'subscriptions',
        event_types: ['claim_approved', 'comment_added'],
      });
      send(conn, { action: 'unsubscribe', event_types: ['claim_approved'] });
      await conn.next((f) => f.type === 'subscriptions' && f.event_types.length === 1);
      await publish(t.url, app, { type: 'claim_approved', user_id: 'usr_alice' });
      const c = await publish(t.url, app, { type: 'comment_added', user_id: 'usr_alice' });
      await conn.next((f) => f.type === 'event' && f.event.id === c.body.id);
      expect(events(conn).map((e) => e.type)).toEqual(['comment_added']);
    });
  });

  describe('client frames', () => {
    it('answers bad JSON, unknown actions, bad subscribe frames and oversized frames with an error frame and keeps the connection', async () => {
      const conn = await connect(alice);
      send(conn, '{not json');
      expect(await conn.next((f) => f.type === 'error')).toEqual({
        type: 'error',
        code: 'bad_json',
        message: 'Frame is not valid JSON',
      });
      send(conn, { action: 'dance' });
      await conn.next((f) => f.type === 'error' && f.code === 'unknown_action');
      send(conn, { action: 'subscribe', event_types: ['nope'] });
      await conn.next((f) => f.type === 'error' && f.code === 'unknown_event_types');
      send(conn, { action: 'subscribe', event_types: 'claim_approved' });
      await conn.next((f) => f.type === 'error' && f.code === 'bad_frame');
      send(conn, JSON.stringify({ action: 'ping', pad: 'x'.repeat(70 * 1024) }));
      await conn.next((f) => f.type === 'error' && f.code === 'frame_too_large');
      send(conn, { action: 'ping' });
      await conn.next((f) => f.type === 'pong');
      expect(conn.ws.readyState).toBe(conn.ws.OPEN);
      // Past the hard limit the frame is not read: the connection is closed with 1009.
      send(conn, 'x'.repeat(1024 * 1024 + 1));
      expect((await conn.closed).code).toBe(1009);
    });
  });

  describe('POST /api/v1/ws/unsubscribe', () => {
    it('removes types from a connected client and returns what remains', async () => {
      const conn = await connect(alice, '?event_types=claim_approved,claim_rejected');
      const clientId = conn.frames[0].client_id;
      const res = await request(t.url)
        .post('/api/v1/ws/unsubscribe')
        .set('Authorization', `Bearer ${alice}`)
        .send({ client_id: clientId, event_types: ['claim_approved'], user_id: 'usr_alice' });
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ client_id: clientId, user_id: 'usr_alice', event_types: ['claim_rejected'] });
      await conn.next((f) => f.type === 'subscriptions');
      await publish(t.url, app, { type: 'claim_approved', user_id: 'usr_alice' });
      const r = await publish(t.url, app, { type: 'claim_rejected', user_id: 'usr_alice' });
      await conn.next((f) => f.type === 'event' && f.event.id === r.body.id);
      expect(events(conn).map((e) => e.type)).toEqual(['claim_rejected']);
    });

    it('a client left with no types receives nothing, by REST or by frame, until it subscribes again; no types at connect means every type, written out', async () => {
      const all = await connect(alice);
      expect(all.frames[0].event_types.sort()).toEqual(t.app.get(EventCatalog).types().sort());

      const viaRest = await connect(alice, '?event_types=claim_approved');
      const viaFrame = await connect(alice, '?event_types=claim_approved');
      const emptied = await request(t.url)
        .post('/api/v1/ws/unsubscribe')
        .set('Authorization', `Bearer ${alice}`)
        .send({ client_id: viaRest.frames[0].client_id, event_types: ['claim_approved'], user_id: 'usr_alice' });
      expect(emptied.body.event_types).toEqual([]);
      send(viaFrame, { action: 'unsubscribe', event_types: ['claim_approved'] });
      expect(await viaFrame.next((f) => f.type === 'subscriptions')).toEqual({
        type: 'subscriptions',
        event_types: [],
      });
      await viaRest.next((f) => f.type === 'subscriptions');

      await publish(t.url, app, { type: 'claim_approved', user_id: 'usr_alice' });
      await publish(t.url, app, { type: 'claim_rejected', user_id: 'usr_alice' });
      // The sentinel: each subscribes to comment_added again; that event is the first to arrive.
      for (const conn of [viaRest, viaFrame]) {
        send(conn, { action: 'subscribe', event_types: ['comment_added'] });
        await conn.next((f) => f.type === 'subscriptions' && f.event_types.length === 1);
      }
      const sentinel = await publish(t.url, app, { type: 'comment_added', user_id: 'usr_alice' });
      for (const conn of [viaRest, viaFrame]) {
        await conn.next((f) => f.type === 'event' && f.event.id === sentinel.body.id);
        expect(events(conn).map((e) => e.type)).toEqual(['comment_added']);
      }
    });

    it('403 for another user’s client, 404 for an unknown one or another organisation’s, 400 and 401 in the 001 body', async () => {
      const conn = await connect(alice);
      const clientId = conn.frames[0].client_id;
      const asBob = await request(t.url)
        .post('/api/v1/ws/unsubscribe')
        .set('X-Api-Key', bob)
        .send({ client_id: clientId, event_types: ['claim_approved'] });
      expect(asBob.status).toBe(403);
      expect(asBob.body).toMatchObject({ code: 403, stack: [{ code: 403, error: 'Forbidden' }] });
      const wrongUser = await request(t.url)
        .post('/api/v1/ws/unsubscribe')
        .set('X-Api-Key', alice)
        .send({ client_id: clientId, event_types: ['claim_approved'], user_id: 'usr_bob' });
      expect(wrongUser.status).toBe(403);
      const foreign = await request(t.url)
        .post('/api/v1/ws/unsubscribe')
        .set('X-Api-Key', otherOrg)
        .send({ client_id: clientId, event_types: ['claim_approved'] });
      expect(foreign.status).toBe(404);
      const unknown = await request(t.url)
        .post('/api/v1/ws/unsubscribe')
        .set('X-Api-Key', alice)
        .send({ client_id: 'wsc_00000000000000000000000000', event_types: ['claim_approved'] });
      expect(unknown.status).toBe(404);
      expect(unknown.body).toMatchObject({ code: 404, message: expect.stringContaining('not connected') });
      const bad = await request(t.url)
        .post('/api/v1/ws/unsubscribe')
        .set('X-Api-Key', alice)
        .send({ client_id: 'nope', event_types: 'claim_approved' });
      expect(bad.status).toBe(400);
      expect(bad.body.stack.map((s: { path: string }) => s.path)).toEqual(
        expect.arrayContaining(['client_id', 'event_types']),
      );
      const anonymous = await request(t.url)
        .post('/api/v1/ws/unsubscribe')
        .send({ client_id: clientId, event_types: [] });
      expect(anonymous.status).toBe(401);
      expect(anonymous.body).toMatchObject({ code: 401, message: expect.stringContaining('Missing credential') });
      // Nothing was removed by the refused calls.
      expect(conn.frames.filter((f) => f.type === 'subscriptions')).toEqual([]);
    });
  });

  describe('slow consumers', () => {
    it('closes a client that stops reading while a fast one on the same stream receives everything', async () => {
      const slow = await connect(app);
      const fast = await connect(app);
      (slow.ws as unknown as { _socket: { pause(): void } })._socket.pause();
      const payload = { blob: 'x'.repeat(100 * 1024) };
      const ids: string[] = [];
      for (let batch = 0; batch < 20; batch++) {
        const res = await request(t.url)
          .post('/api/v1/events/batch')
          .set('X-Api-Key', app)
          .send({ events: Array.from({ length: 8 }, () => ({ type: 'status_changed', data: payload })) });
        expect(res.status).toBe(201);
        ids.push(...res.body.events.map((e: { id: string }) => e.id));
      }
      await waitFor(
        'fast client to receive all 160 events',
        () => events(fast).filter((e) => e.type === 'status_changed').length >= 160,
        30_000,
      );
      expect(
        events(fast)
          .filter((e) => e.type === 'status_changed')
          .map((e) => e.id),
      ).toEqual(ids);
      (slow.ws as unknown as { _socket: { resume(): void } })._socket.resume();
      const closed = await slow.closed;
      expect([1013, 1006]).toContain(closed.code);
      expect(events(slow).length).toBeLessThan(160);
    });

    it('closes a client that keeps pinging but never reads its pongs', async () => {
      const clients = t.app.get(WsClientsService);
      const pinger = await connect(alice);
      const before = clients.size;
      (pinger.ws as unknown as { _socket: { pause(): void } })._socket.pause();
      // Each ping is answered with a pong frame; none is read, so unsent pongs pile up on the server.
      let sent = 0;
      while (clients.size === before && sent < 600_000) {
        for (let i = 0; i < 5000; i++) send(pinger, { action: 'ping' });
        sent += 5000;
        await new Promise((r) => setTimeout(r, 10));
      }
      expect(clients.size).toBe(before - 1);
      (pinger.ws as unknown as { _socket: { resume(): void } })._socket.resume();
      expect([1013, 1006]).toContain((await pinger.closed).code);
    });
  });
});

describe('seed 001: heartbeats', () => {
  it('pings clients and terminates one that stays silent, while one that answers stays connected', async () => {
    const t = await startTestApp({ env: { WS_HEARTBEAT_INTERVAL: '100ms', WS_IDLE_TIMEOUT: '400ms' } });
    try {
      const key = await mintKey(t, { org: 'org_hb', scopes: ['events:read'] });
      const lively = await connectWs(`${t.url}/api/v1/ws/subscribe`, { headers: { 'X-Api-Key': key } });
      const silent = await connectWs(`${t.url}/api/v1/ws/subscribe`, { headers: { 'X-Api-Key': key } });
      let pings = 0;
      lively.ws.on('ping', () => pings++);
      // A paused socket reads nothing, so it never answers the server's pings.
      (silent.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket.pause();
      await new Promise((r) => setTimeout(r, 1000));
      (silent.ws as unknown as { _socket: { resume(): void } })._socket.resume();
      expect((await silent.closed).code).toBe(1006);
      expect(pings).toBeGreaterThanOrEqual(3);
      expect(lively.ws.readyState).toBe(lively.ws.OPEN);
      lively.ws.terminate();
    } finally {
      await t.close();
    }
  });
});
