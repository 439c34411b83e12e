import request from 'supertest';
import type { Socket } from 'socket.io-client';
import { Dispatcher } from '../../src/core/event-log/dispatcher.service';
import { EventsGateway } from '../../src/core/gateway/events.gateway';
import { RealtimeService } from '../../src/core/gateway/realtime.service';
import { mintKey } from '../support/credentials';
import { publish } from '../support/events';
import { clusterAvailable } from '../support/services';
import { connectSocket, record, waitFor } from '../support/sockets';
import { startTwoNodes, type TestApp } from '../support/test-app';
import type { TestDatabase } from '../support/test-database';

// Two nodes need a shared Postgres and Redis; without TEST_DATABASE_URL and TEST_REDIS_URL
// there is no cluster to test (CI sets both, and REQUIRE_SERVICES=1 fails a run without them).
const describeCluster = clusterAvailable ? describe : describe.skip;

describeCluster('cluster: two nodes on Postgres + Redis', () => {
  let database: TestDatabase;
  let a: TestApp;
  let b: TestApp;
  let publisher: string;
  let user: string;
  const sockets: Socket[] = [];

  beforeAll(async () => {
    ({ a, b, database } = await startTwoNodes());
    publisher = await mintKey(b, { org: 'org_c', scopes: ['events:publish'] });
    user = await mintKey(a, { org: 'org_c', user: 'usr_c', scopes: ['events:read'] });
  });
  afterAll(async () => {
    for (const s of sockets) s.close();
    await a?.close();
    await b?.close();
    await database?.drop();
  });

  it('a socket on node A receives an event published on node B exactly once', async () => {
    const socket = await connectSocket(a.url, user);
    sockets.push(socket);
    const seen = record(socket, 'claim_approved', 'claim_rejected');
    const event = await publish(b.url, publisher, { user_id: 'usr_c' });
    expect(event.status).toBe(201);
    const marker = await publish(b.url, publisher, { type: 'claim_rejected', user_id: 'usr_c' });
    await waitFor('marker on node A', () => seen.some((m) => m.payload.id === marker.body.id));
    // Give a duplicate (e.g. a re-broadcast through the adapter) time to show up if there were one.
    await new Promise((r) => setTimeout(r, 300));
    expect(seen.map((m) => m.payload.id)).toEqual([event.body.id, marker.body.id]);
  });

  it('node B makes a socket held by node A join a room, and sees it there', async () => {
    const socket = await connectSocket(a.url, user);
    sockets.push(socket);
    await waitFor('socket registered on A', () => a.app.get(EventsGateway).server.sockets.sockets.has(socket.id!));
    const fromB = b.app.get(RealtimeService);
    expect(b.app.get(EventsGateway).server.sockets.sockets.has(socket.id!)).toBe(false);

    await fromB.joinRoom(socket.id!, 'room:managed-from-b');
    await waitFor('room joined on A', () =>
      a.app.get(EventsGateway).server.sockets.sockets.get(socket.id!)!.rooms.has('room:managed-from-b'),
    );
    const session = await fromB.findSession(socket.id!);
    expect(session).toMatchObject({ id: socket.id, principal: { organisation_id: 'org_c', user_id: 'usr_c' } });
    expect(session!.rooms).toContain('room:managed-from-b');

    await fromB.leaveRoom(socket.id!, 'room:managed-from-b');
    await waitFor(
      'room left on A',
      () => !a.app.get(EventsGateway).server.sockets.sockets.get(socket.id!)!.rooms.has('room:managed-from-b'),
    );
  });

  it('a key revoked on node B stops working on node A at once, though A had it cached', async () => {
    const created = await request(a.url)
      .post('/api/v1/api-keys')
      .set('X-Api-Key', a.operatorToken)
      .send({ kind: 'app', organisation_id: 'org_c', scopes: ['events:read'] });
    const token = created.body.token;
    expect((await request(a.url).get('/api/v1/events').set('X-Api-Key', token)).status).toBe(200);
    expect(
      (await request(b.url).delete(`/api/v1/api-keys/${created.body.key_id}`).set('X-Api-Key', a.operatorToken)).status,
    ).toBe(200);
    await waitFor(
      'revocation on A',
      async () => (await request(a.url).get('/api/v1/events').set('X-Api-Key', token)).status === 401,
      2000,
    );
  });

  it('exactly one node runs the dispatcher', async () => {
    await waitFor('a leader', () => a.app.get(Dispatcher).isLeader || b.app.get(Dispatcher).isLeader);
    expect([a.app.get(Dispatcher).isLeader, b.app.get(Dispatcher).isLeader].filter(Boolean)).toHaveLength(1);
  });
});
