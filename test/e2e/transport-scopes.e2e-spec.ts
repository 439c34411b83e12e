import request from 'supertest';
import type { Socket } from 'socket.io-client';
import { io } from 'socket.io-client';
import { mintKey } from '../support/credentials';
import { publish } from '../support/events';
import { connectSocket, record, waitFor } from '../support/sockets';
import { startTestApp, type TestApp } from '../support/test-app';
import { connectWs, type UpgradeRefusal, type WsConnection } from '../support/ws-client';

const ORG = 'org_scopes';

async function socketRefusal(url: string, token: string): Promise<{ message: string; data?: { code: number } } | null> {
  try {
    const socket = await connectSocket(url, token);
    socket.close();
    return null;
  } catch (err) {
    return err as { message: string; data?: { code: number } };
  }
}

async function wsRefusal(url: string): Promise<UpgradeRefusal | null> {
  try {
    const conn = await connectWs(url);
    conn.ws.close();
    return null;
  } catch (err) {
    return err as UpgradeRefusal;
  }
}

/**
 * Inside one organisation, the rules REST enforces hold on every transport: receiving events
 * needs events:read, session rooms need users.read, an organisation channel needs an org-wide
 * reader at every attach, and a user credential produces events (and notifications) only about
 * itself.
 */
describe('authorization inside an organisation: scopes on every transport, one producer rule', () => {
  let t: TestApp;
  let producer: string;
  const sockets: Socket[] = [];
  const conns: WsConnection[] = [];

  beforeAll(async () => {
    t = await startTestApp({ env: { DISPATCH_POLL_INTERVAL: '50ms' } });
    producer = await mintKey(t, { org: ORG, scopes: ['events:publish', 'notifications:write'] });
  });
  afterAll(async () => {
    for (const s of sockets) s.close();
    for (const c of conns) c.ws.terminate();
    await t?.close();
  });

  describe('receiving events needs events:read', () => {
    it('refuses a Socket.IO socket holding neither events:read nor users.read (app with only events:publish, user with no scopes)', async () => {
      for (const token of [producer, await mintKey(t, { org: ORG, user: 'usr_bare' })]) {
        const refusal = await socketRefusal(t.url, token);
        expect(refusal?.data).toMatchObject({ code: 403 });
        expect(refusal?.message).toContain('events:read');
      }
    });

    it('refuses a raw WebSocket (001) without events:read with 403 in the 001 body', async () => {
      const bare = await mintKey(t, { org: ORG, user: 'usr_bare' });
      const refusal = await wsRefusal(`${t.url}/api/v1/ws/subscribe?access_token=${bare}`);
      expect(refusal).toMatchObject({
        status: 403,
        body: { code: 403, message: 'Missing scope: events:read', stack: [{ code: 403, error: 'Forbidden' }] },
      });
      const publisherOnly = await wsRefusal(`${t.url}/api/v1/ws/subscribe?access_token=${producer}`);
      expect(publisherOnly?.status).toBe(403);
    });

    it('a socket that connected with users.read only gets its session rooms, never the user’s events', async () => {
      const sessionOnly = await mintKey(t, { org: ORG, user: 'usr_sess', scopes: ['users.read'] });
      const socket = await connectSocket(t.url, sessionOnly);
      sockets.push(socket);
      const seen = record(socket, 'claim_approved', 'status_changed', 'notification', 'channel.follow');
      // The same user with events:read: once its socket has the notification, the message has been
      // emitted to the user's room, and would have reached the session-only socket by then too.
      const reader = await connectSocket(
        t.url,
        await mintKey(t, { org: ORG, user: 'usr_sess', scopes: ['events:read'] }),
      );
      sockets.push(reader);
      const readerSeen = record(reader, 'notification');
      const joined = await request(t.url)
        .post('/api/v1/events/subscriptions')
        .set('Authorization', `Bearer ${sessionOnly}`)
        .send({ type: 'channel.follow', version: '1', sessionId: socket.id, condition: { channelId: 'chan_scopes' } });
      expect(joined.status).toBe(200);
      expect((await publish(t.url, producer, { type: 'claim_approved', user_id: 'usr_sess' })).status).toBe(201);
      expect(
        (
          await request(t.url)
            .post('/api/v1/approval-notifications')
            .set('X-Api-Key', producer)
            .send({ claim_id: 'clm_s', new_status: 'approved', recipient_user_id: 'usr_sess' })
        ).status,
      ).toBe(201);
      await waitFor('the notification on the events:read socket', () => readerSeen.length === 1);
      // The sentinel, published last, reaches the session room: anything owed before it would have come first.
      await publish(t.url, producer, { type: 'channel.follow', channel_id: 'chan_scopes', user_id: 'usr_other' });
      await waitFor('the session sentinel', () => seen.some((s) => s.event === 'channel.follow'));
      expect(seen.map((s) => s.event)).toEqual(['channel.follow']);
    });

    it('a session room (004) needs users.read on the socket’s own credential, not only on the caller’s', async () => {
      const eventsOnly = await mintKey(t, { org: ORG, user: 'usr_ev', scopes: ['events:read'] });
      const socket = await connectSocket(t.url, eventsOnly);
      sockets.push(socket);
      const sameUser = await mintKey(t, { org: ORG, user: 'usr_ev', scopes: ['users.read'] });
      const joined = await request(t.url)
        .post('/api/v1/events/subscriptions')
        .set('Authorization', `Bearer ${sameUser}`)
        .send({ type: 'channel.follow', version: '1', sessionId: socket.id, condition: { channelId: 'chan_scopes' } });
      expect(joined.status).toBe(403);
      expect(joined.body.message).toContain('users.read');
    });

    it('the same user with events:read receives its events on Socket.IO and raw WebSocket', async () => {
      const reader = await mintKey(t, { org: ORG, user: 'usr_sess', scopes: ['events:read'] });
      const socket = await connectSocket(t.url, reader);
      sockets.push(socket);
      const seen = record(socket, 'claim_approved');
      const ws = await connectWs(`${t.url}/api/v1/ws/subscribe?access_token=${reader}`);
      conns.push(ws);
      await ws.next((f) => f.type === 'welcome');
      const published = await publish(t.url, producer, { type: 'claim_approved', user_id: 'usr_sess' });
      await waitFor('the event on Socket.IO', () => seen.length === 1);
      expect(seen[0].payload.id).toBe(published.body.id);
      expect((await ws.next((f) => f.type === 'event')).event.id).toBe(published.body.id);
    });
  });

  describe('channels: the attaching credential’s rights are checked at every attach', () => {
    it('an organisation channel made while holding claims:read:org is refused (403) to the same user once that scope is gone', async () => {
      const orgWide = await mintKey(t, { org: ORG, user: 'usr_lead', scopes: ['events:read', 'claims:read:org'] });
      const narrowed = await mintKey(t, { org: ORG, user: 'usr_lead', scopes: ['events:read'] });
      const created = await request(t.url)
        .post('/api/v1/realtime-subscriptions/organisation')
        .set('X-Api-Key', orgWide)
        .send({ organisation_id: ORG, user_id: 'usr_lead' });
      expect(created.status).toBe(201);
      const id = created.body.channel_id as string;

      const raw = await wsRefusal(`${t.url}/channels/${id}?access_token=${narrowed}`);
      expect(raw).toMatchObject({
        status: 403,
        body: { statusCode: 403, message: expect.stringContaining('claims:read:org') },
      });
      const sio = await new Promise<{ data?: { code: number } }>((resolve) => {
        const s = io(`${t.url}/channels/${id}`, {
          transports: ['websocket'],
          reconnection: false,
          forceNew: true,
          auth: { token: narrowed },
        });
        s.once('connect', () => (s.close(), resolve({})));
        s.once('connect_error', (e) => (s.close(), resolve(e as { data?: { code: number } })));
      });
      expect(sio.data).toMatchObject({ code: 403 });

      const ok = await connectWs(`${t.url}/channels/${id}?access_token=${orgWide}`);
      conns.push(ok);
      expect((await ok.next((f) => f.type === 'welcome')).channel_id).toBe(id);
    });

    it('a user channel is refused (403) to its own user’s credential without events:read', async () => {
      const reader = await mintKey(t, { org: ORG, user: 'usr_chan', scopes: ['events:read'] });
      const bare = await mintKey(t, { org: ORG, user: 'usr_chan' });
      const created = await request(t.url)
        .post('/api/v1/realtime-subscriptions/user')
        .set('X-Api-Key', reader)
        .send({ user_id: 'usr_chan' });
      expect(created.status).toBe(201);
      const refusal = await wsRefusal(`${t.url}/channels/${created.body.channel_id}?access_token=${bare}`);
      expect(refusal).toMatchObject({ status: 403, body: { message: 'Missing scope: events:read' } });
    });
  });

  describe('one producer rule', () => {
    it('a plain user may notify only itself, as it may publish only about itself', async () => {
      const user = await mintKey(t, {
        org: ORG,
        user: 'usr_writer',
        scopes: ['notifications:write', 'events:publish'],
      });
      const forOther = await request(t.url)
        .post('/api/v1/approval-notifications')
        .set('X-Api-Key', user)
        .send({ claim_id: 'clm_p', new_status: 'approved', recipient_user_id: 'usr_victim' });
      expect(forOther.status).toBe(403);
      expect(forOther.body.message).toContain('own user');
      const event = await publish(t.url, user, { type: 'claim_approved', user_id: 'usr_victim' });
      expect(event.status).toBe(403);
      const forSelf = await request(t.url)
        .post('/api/v1/approval-notifications')
        .set('X-Api-Key', user)
        .send({ claim_id: 'clm_p', new_status: 'approved', recipient_user_id: 'usr_writer' });
      expect(forSelf.status).toBe(201);
      const byApp = await request(t.url)
        .post('/api/v1/approval-notifications')
        .set('X-Api-Key', producer)
        .send({ claim_id: 'clm_p', new_status: 'approved', recipient_user_id: 'usr_victim' });
      expect(byApp.status).toBe(201);
      // Nothing of the refused request reached the log.
      const reader = await mintKey(t, { org: ORG, scopes: ['events:read'] });
      const log = await request(t.url).get('/api/v1/events?after=0&limit=500').set('X-Api-Key', reader);
      const aboutVictim = log.body.data.filter(
        (e: { user_id: string | null; data: { claim_id?: string } }) =>
          e.user_id === 'usr_victim' && e.data.claim_id === 'clm_p',
      );
      expect(aboutVictim.map((e: { type: string }) => e.type)).toEqual(['status_changed', 'claim_approved']);
    });
  });
});
