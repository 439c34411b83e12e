import request from 'supertest';
import { io, Socket } from 'socket.io-client';
import { mintKey } from '../support/credentials';
import { publish } from '../support/events';
import { clusterAvailable } from '../support/services';
import { record, waitFor } from '../support/sockets';
import { startTwoNodes, type TestApp } from '../support/test-app';
import type { TestDatabase } from '../support/test-database';

// Needs a shared Postgres and Redis (see pipeline.cluster-spec.ts).
const describeCluster = clusterAvailable ? describe : describe.skip;

describeCluster('cluster: seed 000 channels across two nodes', () => {
  let database: TestDatabase;
  let a: TestApp;
  let b: TestApp;
  let app: string;
  let employee: string;
  const sockets: Socket[] = [];

  beforeAll(async () => {
    ({ a, b, database } = await startTwoNodes({ DISPATCH_POLL_INTERVAL: '50ms' }));
    app = await mintKey(a, { org: 'org_rt', scopes: ['events:publish', 'events:read'] });
    employee = await mintKey(a, { org: 'org_rt', user: 'usr_e', scopes: ['events:read'] });
  });
  afterAll(async () => {
    for (const s of sockets) s.close();
    await a?.close();
    await b?.close();
    await database?.drop();
  });

  function attach(port: number, channelId: string) {
    return new Promise<{ socket: Socket; seen: { event: string; payload: any }[] }>((resolve, reject) => {
      const socket = io(`ws://127.0.0.1:${port}/channels/${channelId}`, {
        transports: ['websocket'],
        reconnection: false,
        forceNew: true,
        autoConnect: false,
        auth: { token: employee },
      });
      const seen = record(socket, 'status_changed', 'comment_added');
      sockets.push(socket);
      socket.once('connect', () => resolve({ socket, seen }));
      socket.once('connect_error', reject);
      socket.connect();
    });
  }

  it('a channel attached on node A gets events published on node B; after a drop, reconnect on B replays the gap on A', async () => {
    const created = await request(b.url)
      .post('/api/v1/realtime-subscriptions/user')
      .set('X-Api-Key', employee)
      .send({ user_id: 'usr_e' });
    expect(created.status).toBe(201);
    const id = created.body.channel_id;

    const first = await attach(a.port, id);
    await waitFor(
      'connected, seen from node B',
      async () =>
        (await request(b.url).get(`/api/v1/realtime-subscriptions/${id}`).set('X-Api-Key', employee)).body.status ===
        'connected',
    );
    const live = await publish(b.url, app, { type: 'status_changed', user_id: 'usr_e' });
    await waitFor('live event on A', () => first.seen.length === 1);
    expect(first.seen[0].payload.id).toBe(live.body.id);

    first.socket.close();
    await waitFor(
      'disconnected, seen from node B',
      async () =>
        (await request(b.url).get(`/api/v1/realtime-subscriptions/${id}`).set('X-Api-Key', employee)).body.status ===
        'disconnected',
    );
    const missed: number[] = [];
    for (let i = 0; i < 4; i++)
      missed.push((await publish(b.url, app, { type: 'comment_added', user_id: 'usr_e', data: { i } })).body.seq);

    const reconnect = await request(b.url)
      .put(`/api/v1/realtime-subscriptions/${id}/reconnect`)
      .set('X-Api-Key', employee);
    expect(reconnect.body).toMatchObject({ missed_events: 4, from_seq: missed[0], to_seq: missed[3], complete: true });

    const second = await attach(a.port, id);
    await waitFor('the gap on A', () => second.seen.length === 4);
    expect(second.seen.map((m) => Number(m.payload.sequence))).toEqual(missed);
    await waitFor(
      'event_count on B',
      async () =>
        (await request(b.url).get(`/api/v1/realtime-subscriptions/${id}`).set('X-Api-Key', employee)).body
          .event_count === 5,
    );
  });
});
