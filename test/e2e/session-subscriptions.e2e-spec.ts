import request from 'supertest';
import type { Socket } from 'socket.io-client';
import { mintKey } from '../support/credentials';
import { RealtimeService } from '../../src/core/gateway/realtime.service';
import { sessionRoom } from '../../src/events/sessions/session-rooms';
import { publish } from '../support/events';
import { connectSocket, record, waitFor } from '../support/sockets';
import { startTestApp, TestApp } from '../support/test-app';

const CHANNEL = '9b7f3c2a-2f41-4f5e-9f54-6c1d8a2b7e90';

describe('seed 004: socket session event subscriptions', () => {
  let t: TestApp;
  let producer: string;
  let alice: string;
  let bob: string;
  let aliceNoScope: string;
  let appReader: string;
  let foreignAlice: string;
  let aliceSocket: Socket;
  const sockets: Socket[] = [];

  const body = (sessionId: string, extra: Record<string, unknown> = {}) => ({
    type: 'channel.follow',
    version: '1',
    sessionId,
    condition: { channelId: CHANNEL },
    ...extra,
  });

  beforeAll(async () => {
    t = await startTestApp();
    producer = await mintKey(t, { org: 'org_s', scopes: ['events:publish'] });
    alice = await mintKey(t, { org: 'org_s', user: 'usr_alice', scopes: ['users.read'] });
    bob = await mintKey(t, { org: 'org_s', user: 'usr_bob', scopes: ['users.read'] });
    aliceNoScope = await mintKey(t, { org: 'org_s', user: 'usr_alice', scopes: ['events:read'] });
    appReader = await mintKey(t, { org: 'org_s', scopes: ['users.read', 'events:read'] });
    foreignAlice = await mintKey(t, { org: 'org_x', user: 'usr_alice', scopes: ['users.read'] });
    aliceSocket = await connectSocket(t.url, alice);
    sockets.push(aliceSocket);
  });
  afterAll(async () => {
    for (const s of sockets) s.close();
    await t?.close();
  });

  it('subscribes a session, lists it, and delivers matching events under their type', async () => {
    const seen = record(aliceSocket, 'channel.follow');
    const res = await request(t.url)
      .post('/v1/events/subscriptions')
      .set('Authorization', `Bearer ${alice}`)
      .send(body(aliceSocket.id!));
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ success: true, message: 'success' });

    const again = await request(t.url)
      .post('/api/v1/events/subscriptions')
      .set('Authorization', `Bearer ${alice}`)
      .send(body(aliceSocket.id!));
    expect(again.body).toEqual({ success: true, message: 'success' });

    const listed = await request(t.url)
      .get(`/v1/events/${aliceSocket.id}/subscriptions`)
      .set('Authorization', `Bearer ${alice}`);
    expect(listed.status).toBe(200);
    expect(listed.body).toEqual({
      success: true,
      message: 'success',
      data: [{ type: 'channel.follow', version: '1', condition: { channelId: CHANNEL } }],
    });

    const other = await publish(t.url, producer, {
      type: 'channel.follow',
      channel_id: 'another-channel',
      user_id: 'usr_carol',
    });
    const match = await publish(t.url, producer, {
      type: 'channel.follow',
      channel_id: CHANNEL,
      user_id: 'usr_carol',
      data: { follower: 'usr_carol' },
    });
    expect(other.status).toBe(201);
    // Sentinel: one more match, published last; anything else owed to the session arrives before it.
    const sentinel = await publish(t.url, producer, {
      type: 'channel.follow',
      channel_id: CHANNEL,
      user_id: 'usr_carol',
    });
    await waitFor('the sentinel', () => seen.some((m) => m.payload.id === sentinel.body.id));
    expect(seen.map((m) => m.payload.id)).toEqual([match.body.id, sentinel.body.id]);
    expect(seen[0].payload).toMatchObject({
      type: 'channel.follow',
      channelid: CHANNEL,
      data: { follower: 'usr_carol' },
    });
  });

  it('DELETE leaves the room', async () => {
    // events:read too, so the socket also gets the marker below through its user room.
    const aliceReader = await mintKey(t, { org: 'org_s', user: 'usr_alice', scopes: ['users.read', 'events:read'] });
    const socket = await connectSocket(t.url, aliceReader);
    sockets.push(socket);
    const seen = record(socket, 'channel.follow', 'claim_approved');
    await request(t.url)
      .post('/v1/events/subscriptions')
      .set('Authorization', `Bearer ${alice}`)
      .send(body(socket.id!))
      .expect(200);
    const del = await request(t.url)
      .delete('/v1/events/subscriptions')
      .set('Authorization', `Bearer ${alice}`)
      .send(body(socket.id!));
    expect(del.status).toBe(200);
    expect(del.body).toEqual({ success: true, message: 'success' });
    const listed = await request(t.url)
      .get(`/api/v1/events/${socket.id}/subscriptions`)
      .set('Authorization', `Bearer ${alice}`);
    expect(listed.body.data).toEqual([]);
    await publish(t.url, producer, { type: 'channel.follow', channel_id: CHANNEL });
    const marker = await publish(t.url, producer, { type: 'claim_approved', user_id: 'usr_alice' });
    await waitFor('marker', () => seen.some((m) => m.payload.id === marker.body.id));
    expect(seen.map((m) => m.event)).toEqual(['claim_approved']);
  });

  it.each([
    ['an unsupported type', { type: 'channel.unfollow' }, 'Unsupported subscription type channel.unfollow'],
    ['an unsupported version', { version: '7' }, 'Unsupported version 7 of channel.follow'],
    [
      'a missing condition field',
      { condition: {} },
      'Malformed condition: condition.channelId is required for channel.follow: a string of 1-128 characters',
    ],
    [
      'an unknown condition field',
      { condition: { channelId: CHANNEL, colour: 'red' } },
      'Malformed condition: condition.colour is not a condition of channel.follow',
    ],
  ])('400 for %s', async (_name, extra, message) => {
    const res = await request(t.url)
      .post('/v1/events/subscriptions')
      .set('Authorization', `Bearer ${alice}`)
      .send(body(aliceSocket.id!, extra));
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ success: false, message });
  });

  it('400 for a missing condition object or sessionId, naming the field', async () => {
    const res = await request(t.url)
      .post('/v1/events/subscriptions')
      .set('Authorization', `Bearer ${alice}`)
      .send({ type: 'channel.follow' });
    expect(res.status).toBe(400);
    expect(res.body.success).toBe(false);
    expect(res.body.errors.map((e: { field: string }) => e.field)).toEqual(
      expect.arrayContaining(['sessionId', 'condition']),
    );
    // One detail for the missing sessionId, saying it is required.
    expect(res.body.errors.filter((e: { field: string }) => e.field === 'sessionId')).toEqual([
      { field: 'sessionId', message: 'sessionId is required' },
    ]);
    const wrongType = await request(t.url)
      .post('/v1/events/subscriptions')
      .set('Authorization', `Bearer ${alice}`)
      .send({ ...body(''), sessionId: 42 });
    expect(wrongType.status).toBe(400);
    expect(wrongType.body).toEqual({
      success: false,
      message: 'Validation failed: sessionId: sessionId must be a string',
      errors: [{ field: 'sessionId', message: 'sessionId must be a string' }],
    });
  });

  it('400 for a sessionId that is not a Socket.IO socket id, as for an unknown session, without looking it up as a room', async () => {
    const realtime = t.app.get(RealtimeService);
    const original = realtime.findSession;
    const looked: string[] = [];
    realtime.findSession = function (this: RealtimeService, id: string) {
      looked.push(id);
      return original.call(this, id);
    };
    try {
      const roomNames = [
        'org:org_s',
        sessionRoom('org_s', { type: 'channel.follow', version: '1', condition: { channelId: CHANNEL } }),
        `${aliceSocket.id}x`,
        aliceSocket.id!.slice(1),
        'AAAAAAAAAAAAAAAAAAA.',
      ];
      for (const id of roomNames) {
        // Echoed as sent, up to 64 characters.
        const message = `Unknown session ${id.length > 64 ? `${id.slice(0, 64)}…` : id}`;
        const post = await request(t.url)
          .post('/v1/events/subscriptions')
          .set('Authorization', `Bearer ${alice}`)
          .send(body(id));
        expect(post.status).toBe(400);
        expect(post.body).toEqual({ success: false, message });
        const del = await request(t.url)
          .delete('/api/v1/events/subscriptions')
          .set('Authorization', `Bearer ${alice}`)
          .send(body(id));
        expect(del.status).toBe(400);
        expect(del.body).toEqual({ success: false, message });
        const get = await request(t.url)
          .get(`/v1/events/${encodeURIComponent(id)}/subscriptions`)
          .set('Authorization', `Bearer ${alice}`);
        expect(get.status).toBe(400);
        expect(get.body).toEqual({ success: false, message });
      }
      // A long one is echoed only in part.
      const long = await request(t.url)
        .get(`/v1/events/${'A'.repeat(500)}/subscriptions`)
        .set('Authorization', `Bearer ${alice}`);
      expect(long.status).toBe(400);
      expect(long.body).toEqual({ success: false, message: `Unknown session ${'A'.repeat(64)}…` });
      expect(looked).toEqual([]);
      // A well-formed id is still looked up (and still works).
      const ok = await request(t.url)
        .get(`/v1/events/${aliceSocket.id}/subscriptions`)
        .set('Authorization', `Bearer ${alice}`);
      expect(ok.status).toBe(200);
      expect(looked).toEqual([aliceSocket.id]);
    } finally {
      realtime.findSession = original;
    }
  });

  it('400 for an unknown session, on every endpoint', async () => {
    for (const id of ['no-such-session', 'AAAAAAAAAAAAAAAAAAAA']) {
      const post = await request(t.url)
        .post('/v1/events/subscriptions')
        .set('Authorization', `Bearer ${alice}`)
        .send(body(id));
      expect(post.status).toBe(400);
      expect(post.body).toEqual({ success: false, message: `Unknown session ${id}` });
      const get = await request(t.url).get(`/v1/events/${id}/subscriptions`).set('Authorization', `Bearer ${alice}`);
      expect(get.status).toBe(400);
      const del = await request(t.url)
        .delete('/v1/events/subscriptions')
        .set('Authorization', `Bearer ${alice}`)
        .send(body(id));
      expect(del.status).toBe(400);
    }
  });

  it('401 without a credential, in the 004 envelope', async () => {
    for (const req of [
      request(t.url).post('/v1/events/subscriptions').send(body(aliceSocket.id!)),
      request(t.url).get(`/v1/events/${aliceSocket.id}/subscriptions`),
      request(t.url).delete('/v1/events/subscriptions').send(body(aliceSocket.id!)),
    ]) {
      const res = await req;
      expect(res.status).toBe(401);
      expect(res.body).toEqual({ success: false, message: expect.stringContaining('Missing credential') });
    }
  });

  it('403 when the session is another user’s, for an app token on channel.follow, and without users.read', async () => {
    const asBob = await request(t.url)
      .post('/v1/events/subscriptions')
      .set('Authorization', `Bearer ${bob}`)
      .send(body(aliceSocket.id!));
    expect(asBob.status).toBe(403);
    expect(asBob.body).toEqual({ success: false, message: `Session ${aliceSocket.id} belongs to another user` });
    const bobList = await request(t.url)
      .get(`/v1/events/${aliceSocket.id}/subscriptions`)
      .set('Authorization', `Bearer ${bob}`);
    expect(bobList.status).toBe(403);
    const bobDelete = await request(t.url)
      .delete('/v1/events/subscriptions')
      .set('Authorization', `Bearer ${bob}`)
      .send(body(aliceSocket.id!));
    expect(bobDelete.status).toBe(403);

    const asApp = await request(t.url)
      .post('/v1/events/subscriptions')
      .set('Authorization', `Bearer ${appReader}`)
      .send(body(aliceSocket.id!));
    expect(asApp.status).toBe(403);
    expect(asApp.body).toEqual({ success: false, message: 'channel.follow requires a user access token' });

    const noScope = await request(t.url)
      .post('/v1/events/subscriptions')
      .set('Authorization', `Bearer ${aliceNoScope}`)
      .send(body(aliceSocket.id!));
    expect(noScope.status).toBe(403);
    expect(noScope.body).toEqual({ success: false, message: 'Missing scope: users.read' });

    // Another organisation cannot even learn that the session exists.
    const foreign = await request(t.url)
      .post('/v1/events/subscriptions')
      .set('Authorization', `Bearer ${foreignAlice}`)
      .send(body(aliceSocket.id!));
    expect(foreign.status).toBe(400);

    const stillOne = await request(t.url)
      .get(`/v1/events/${aliceSocket.id}/subscriptions`)
      .set('Authorization', `Bearer ${alice}`);
    expect(stillOne.body.data).toHaveLength(1);
  });

  it('an app token may subscribe sessions of its organisation to types that accept app tokens, if the socket may read what the room carries', async () => {
    // A room without a condition carries the whole organisation: not for a plain user's socket.
    const plain = await connectSocket(t.url, alice);
    sockets.push(plain);
    const refused = await request(t.url)
      .post('/v1/events/subscriptions')
      .set('X-Api-Key', appReader)
      .send({ type: 'claim_approved', sessionId: plain.id, condition: {} });
    expect(refused.status).toBe(403);
    expect(refused.body.message).toContain('was opened with a credential');

    const socket = await connectSocket(t.url, appReader);
    sockets.push(socket);
    const res = await request(t.url)
      .post('/v1/events/subscriptions')
      .set('X-Api-Key', appReader)
      .send({ type: 'claim_approved', sessionId: socket.id, condition: {} });
    expect(res.status).toBe(200);
    const listed = await request(t.url).get(`/v1/events/${socket.id}/subscriptions`).set('X-Api-Key', appReader);
    expect(listed.body.data).toEqual([{ type: 'claim_approved', version: '1', condition: {} }]);
  });

  it('403 for a user token on a type without a condition: that room would carry the whole organisation', async () => {
    const reader = await mintKey(t, { org: 'org_s', user: 'usr_alice', scopes: ['users.read', 'events:read'] });
    const res = await request(t.url)
      .post('/v1/events/subscriptions')
      .set('Authorization', `Bearer ${reader}`)
      .send({ type: 'claim_approved', sessionId: aliceSocket.id, condition: {} });
    expect(res.status).toBe(403);
    expect(res.body).toEqual({ success: false, message: expect.stringContaining('whole organisation') });
  });

  it('subscriptions vanish when the socket disconnects', async () => {
    const socket = await connectSocket(t.url, alice);
    const id = socket.id!;
    await request(t.url)
      .post('/v1/events/subscriptions')
      .set('Authorization', `Bearer ${alice}`)
      .send(body(id))
      .expect(200);
    socket.close();
    await waitFor(
      'session gone',
      async () =>
        (await request(t.url).get(`/v1/events/${id}/subscriptions`).set('Authorization', `Bearer ${alice}`)).status ===
        400,
    );
  });
});
