import request from 'supertest';
import type { Socket } from 'socket.io-client';
import { mintKey } from '../support/credentials';
import { publish } from '../support/events';
import { clusterAvailable } from '../support/services';
import { connectSocket, record, waitFor } from '../support/sockets';
import { startTwoNodes, type TestApp } from '../support/test-app';
import type { TestDatabase } from '../support/test-database';
import { connectWs, WsConnection } from '../support/ws-client';

// Needs a shared Postgres and Redis (see pipeline.cluster-spec.ts).
const describeCluster = clusterAvailable ? describe : describe.skip;

describeCluster('cluster: seeds 001, 002 and 004 across two nodes', () => {
  let database: TestDatabase;
  let a: TestApp;
  let b: TestApp;
  let producer: string;
  let alice: string;
  let approvals: string;
  const sockets: Socket[] = [];
  const conns: WsConnection[] = [];

  beforeAll(async () => {
    ({ a, b, database } = await startTwoNodes());
    producer = await mintKey(a, { org: 'org_k', scopes: ['events:publish'] });
    alice = await mintKey(a, { org: 'org_k', user: 'usr_alice', scopes: ['users.read', 'events:read'] });
    approvals = await mintKey(a, { org: 'org_k', scopes: ['notifications:write'] });
  });
  afterAll(async () => {
    for (const s of sockets) s.close();
    for (const c of conns) c.ws.terminate();
    await a?.close();
    await b?.close();
    await database?.drop();
  });

  it('a session on node A is subscribed by a REST call on node B and receives events published on B', async () => {
    const socket = await connectSocket(a.url, alice);
    sockets.push(socket);
    const seen = record(socket, 'channel.follow');
    const sub = { type: 'channel.follow', sessionId: socket.id, condition: { channelId: 'chan-x' } };
    const res = await request(b.url).post('/v1/events/subscriptions').set('Authorization', `Bearer ${alice}`).send(sub);
    expect(res.status).toBe(200);
    const listed = await request(b.url)
      .get(`/v1/events/${socket.id}/subscriptions`)
      .set('Authorization', `Bearer ${alice}`);
    expect(listed.body.data).toEqual([{ type: 'channel.follow', version: '1', condition: { channelId: 'chan-x' } }]);
    const event = await publish(b.url, producer, { type: 'channel.follow', channel_id: 'chan-x' });
    await waitFor('event on A', () => seen.length === 1);
    expect(seen[0].payload.id).toBe(event.body.id);

    const del = await request(b.url)
      .delete('/v1/events/subscriptions')
      .set('Authorization', `Bearer ${alice}`)
      .send(sub);
    expect(del.status).toBe(200);
    const after = await request(b.url)
      .get(`/v1/events/${socket.id}/subscriptions`)
      .set('Authorization', `Bearer ${alice}`);
    expect(after.body.data).toEqual([]);
  });

  it('a WebSocket client on node A is unsubscribed by a REST call on node B', async () => {
    const conn = await connectWs(`${a.url}/api/v1/ws/subscribe?event_types=claim_approved,comment_added`, {
      headers: { 'X-Api-Key': alice },
    });
    conns.push(conn);
    const welcome = await conn.next((f) => f.type === 'welcome');
    const res = await request(b.url)
      .post('/api/v1/ws/unsubscribe')
      .set('X-Api-Key', alice)
      .send({ client_id: welcome.client_id, event_types: ['claim_approved'] });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ client_id: welcome.client_id, user_id: 'usr_alice', event_types: ['comment_added'] });
    const unknown = await request(b.url)
      .post('/api/v1/ws/unsubscribe')
      .set('X-Api-Key', alice)
      .send({ client_id: 'wsc_00000000000000000000000000', event_types: [] });
    expect(unknown.status).toBe(404);

    // Its last type taken away on node B: it receives nothing, not everything, until it subscribes again.
    const emptied = await request(b.url)
      .post('/api/v1/ws/unsubscribe')
      .set('X-Api-Key', alice)
      .send({ client_id: welcome.client_id, event_types: ['comment_added'] });
    expect(emptied.body.event_types).toEqual([]);
    await conn.next((f) => f.type === 'subscriptions' && f.event_types.length === 0);
    await publish(b.url, producer, { type: 'claim_rejected', user_id: 'usr_alice' });
    conn.ws.send(JSON.stringify({ action: 'subscribe', event_types: ['comment_added'] }));
    await conn.next((f) => f.type === 'subscriptions' && f.event_types.length === 1);
    const sentinel = await publish(b.url, producer, { type: 'comment_added', user_id: 'usr_alice' });
    await conn.next((f) => f.type === 'event' && f.event.id === sentinel.body.id);
    expect(conn.frames.filter((f) => f.type === 'event').map((f) => f.event.type)).toEqual(['comment_added']);
  });

  it('a notification sent through node A reaches its recipient’s socket on node B, as GET shows it', async () => {
    const socket = await connectSocket(b.url, alice);
    sockets.push(socket);
    const seen = record(socket, 'notification');
    const sent = await request(a.url)
      .post('/api/v1/approval-notifications')
      .set('X-Api-Key', approvals)
      .send({ claim_id: 'clm_k', new_status: 'rejected', recipient_user_id: 'usr_alice', comment: 'No receipt.' });
    expect(sent.status).toBe(201);
    await waitFor('the notification on B', () => seen.length === 1);
    const detail = await request(b.url)
      .get(`/api/v1/approval-notifications/${sent.body.notification_id}`)
      .set('X-Api-Key', alice);
    expect(JSON.stringify(seen[0].payload)).toBe(JSON.stringify(detail.body));
    expect(seen[0].payload).toMatchObject({ notification_id: sent.body.notification_id, read: false });
  });

  it('the same producer id published on both nodes at once is stored once, and every answer is that event', async () => {
    const ids = Array.from({ length: 10 }, (_, i) => `race-${i}`);
    const answers = await Promise.all(
      ids.flatMap((id) =>
        [a, b].map((node) =>
          request(node.url)
            .post('/api/v1/events')
            .set('X-Api-Key', producer)
            .send({ type: 'claim_submitted', id, data: { id } }),
        ),
      ),
    );
    for (const [i, id] of ids.entries()) {
      const [first, second] = [answers[2 * i], answers[2 * i + 1]];
      // One of the two created it (201), the other got the original (200).
      expect([first.status, second.status].sort()).toEqual([200, 201]);
      expect(first.body).toEqual(second.body);
      expect(first.body.id).toBe(id);
    }
    // One seq each.
    const seqs = answers.filter((r) => r.status === 201).map((r) => r.body.seq as number);
    expect(new Set(seqs).size).toBe(ids.length);
  });
});
