import request from 'supertest';
import { io, Socket } from 'socket.io-client';
import { clusterAvailable } from '../support/services';
import { connectSocket, record } from '../support/sockets';
import { startTwoNodes, type TestApp } from '../support/test-app';
import type { TestDatabase } from '../support/test-database';
import { connectWs, WsConnection } from '../support/ws-client';

// Needs a shared Postgres and Redis (see pipeline.cluster-spec.ts).
const describeCluster = clusterAvailable ? describe : describe.skip;

describeCluster('cluster: a key revoked on one node closes its connections on the other', () => {
  let database: TestDatabase;
  let a: TestApp;
  let b: TestApp;
  const sockets: Socket[] = [];
  const conns: WsConnection[] = [];

  beforeAll(async () => {
    ({ a, b, database } = await startTwoNodes());
  });
  afterAll(async () => {
    for (const s of sockets) s.close();
    for (const c of conns) c.ws.terminate();
    await a?.close();
    await b?.close();
    await database?.drop();
  });

  it('sockets and WebSockets held by node A close when node B revokes the key', async () => {
    const key = await request(a.url)
      .post('/api/v1/api-keys')
      .set('X-Api-Key', a.operatorToken)
      .send({ kind: 'user', organisation_id: 'org_crev', user_id: 'usr_crev', scopes: ['events:read'] });
    expect(key.status).toBe(201);
    const channel = await request(a.url)
      .post('/api/v1/realtime-subscriptions/user')
      .set('X-Api-Key', key.body.token)
      .send({ user_id: 'usr_crev' });
    expect(channel.status).toBe(201);

    const socket = await connectSocket(a.url, key.body.token);
    const channelSocket = await new Promise<Socket>((resolve, reject) => {
      const s = io(channel.body.websocket_url, {
        transports: ['websocket'],
        reconnection: false,
        forceNew: true,
        auth: { token: key.body.token },
      });
      s.once('connect', () => resolve(s));
      s.once('connect_error', reject);
    });
    sockets.push(socket, channelSocket);
    const ws = await connectWs(`${a.url}/api/v1/ws/subscribe`, { headers: { 'X-Api-Key': key.body.token } });
    const channelWs = await connectWs(channel.body.websocket_url.replace(/^ws/, 'http'), {
      headers: { 'X-Api-Key': key.body.token },
    });
    conns.push(ws, channelWs);
    await channelWs.next((f) => f.type === 'welcome', 'channel welcome');
    const closing = [record(socket, 'closing'), record(channelSocket, 'closing')];
    const disconnects = [socket, channelSocket].map(
      (s) => new Promise<string>((r) => s.once('disconnect', (why) => r(why))),
    );

    expect(
      (await request(b.url).delete(`/api/v1/api-keys/${key.body.key_id}`).set('X-Api-Key', a.operatorToken)).status,
    ).toBe(200);

    expect(await Promise.all(disconnects)).toEqual(['io server disconnect', 'io server disconnect']);
    expect(closing.map((seen) => seen.map((m) => m.payload))).toEqual([
      [{ reason: 'API key revoked', code: 'credential_revoked' }],
      [{ reason: 'API key revoked', code: 'credential_revoked' }],
    ]);
    expect(await ws.closed).toEqual({ code: 1008, reason: 'API key revoked' });
    expect(await channelWs.closed).toEqual({ code: 1008, reason: 'API key revoked' });
  });
});
