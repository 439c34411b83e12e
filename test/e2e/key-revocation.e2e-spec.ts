import request from 'supertest';
import { io, Socket } from 'socket.io-client';
import { mintKey } from '../support/credentials';
import { publish } from '../support/events';
import { connectSocket, record, waitFor } from '../support/sockets';
import { startTestApp, TestApp } from '../support/test-app';
import { connectWs, WsConnection } from '../support/ws-client';

const REVOKED = { reason: 'API key revoked', code: 'credential_revoked' };

describe('revoking an API key closes the connections it opened', () => {
  let t: TestApp;
  let publisher: string;
  const sockets: Socket[] = [];
  const conns: WsConnection[] = [];

  beforeAll(async () => {
    t = await startTestApp({ env: { DISPATCH_POLL_INTERVAL: '50ms' } });
    publisher = await mintKey(t, { org: 'org_rev', scopes: ['events:publish', 'events:read'] });
  });
  afterAll(async () => {
    for (const s of sockets) s.close();
    for (const c of conns) c.ws.terminate();
    await t?.close();
  });

  async function userKey(): Promise<{ key_id: string; token: string }> {
    const res = await request(t.url)
      .post('/api/v1/api-keys')
      .set('X-Api-Key', t.operatorToken)
      .send({ kind: 'user', organisation_id: 'org_rev', user_id: 'usr_rev', scopes: ['events:read'] });
    expect(res.status).toBe(201);
    return res.body;
  }

  function attachChannel(websocketUrl: string, token: string): Promise<Socket> {
    return new Promise((resolve, reject) => {
      const socket = io(websocketUrl, {
        transports: ['websocket'],
        reconnection: false,
        forceNew: true,
        auth: { token },
      });
      socket.once('connect', () => resolve(socket));
      socket.once('connect_error', reject);
    });
  }

  /** One connection of each kind Herald accepts, all opened with `token`. */
  async function connectAll(token: string, channelUrl: string) {
    const socket = await connectSocket(t.url, token);
    const channelSocket = await attachChannel(channelUrl, token);
    sockets.push(socket, channelSocket);
    const ws = await connectWs(`${t.url}/api/v1/ws/subscribe`, { headers: { 'X-Api-Key': token } });
    const channelWs = await connectWs(channelUrl.replace(/^ws/, 'http'), { headers: { 'X-Api-Key': token } });
    conns.push(ws, channelWs);
    await ws.next((f) => f.type === 'welcome', 'ws welcome');
    await channelWs.next((f) => f.type === 'welcome', 'channel welcome');
    const seen = { socket: record(socket, 'status_changed'), channelSocket: record(channelSocket, 'status_changed') };
    return { socket, channelSocket, ws, channelWs, seen };
  }

  function ending(socket: Socket) {
    const closing = record(socket, 'closing');
    const reason = new Promise<string>((r) => socket.once('disconnect', (why) => r(why)));
    return { closing, reason };
  }

  it('Socket.IO sockets (default and channel namespaces) and raw WebSockets (seed 001 and channels) of the key close with a reason; another key’s stay open', async () => {
    const doomed = await userKey();
    const kept = await userKey();
    const channel = await request(t.url)
      .post('/api/v1/realtime-subscriptions/user')
      .set('X-Api-Key', kept.token)
      .send({ user_id: 'usr_rev' });
    expect(channel.status).toBe(201);
    const d = await connectAll(doomed.token, channel.body.websocket_url);
    const k = await connectAll(kept.token, channel.body.websocket_url);
    const socketEnd = ending(d.socket);
    const channelSocketEnd = ending(d.channelSocket);

    const revoked = await request(t.url).delete(`/api/v1/api-keys/${doomed.key_id}`).set('X-Api-Key', t.operatorToken);
    expect(revoked.status).toBe(200);

    expect(await socketEnd.reason).toBe('io server disconnect');
    expect(socketEnd.closing.map((m) => m.payload)).toEqual([REVOKED]);
    expect(await channelSocketEnd.reason).toBe('io server disconnect');
    expect(channelSocketEnd.closing.map((m) => m.payload)).toEqual([REVOKED]);
    expect(await d.ws.closed).toEqual({ code: 1008, reason: 'API key revoked' });
    expect(d.ws.frames.at(-1)).toEqual({ type: 'closed', reason: 'API key revoked' });
    expect(await d.channelWs.closed).toEqual({ code: 1008, reason: 'API key revoked' });
    expect(d.channelWs.frames.at(-1)).toEqual({ type: 'closed', reason: 'API key revoked' });

    // The other key's connections are untouched and still deliver.
    const event = await publish(t.url, publisher, { type: 'status_changed', user_id: 'usr_rev' });
    expect(event.status).toBe(201);
    await waitFor(
      'the event on every connection of the other key',
      () =>
        k.seen.socket.length === 1 &&
        k.seen.channelSocket.length === 1 &&
        k.ws.frames.some((f) => f.type === 'event') &&
        k.channelWs.frames.some((f) => f.type === 'event'),
    );
    expect([k.socket.connected, k.channelSocket.connected, k.ws.ws.readyState, k.channelWs.ws.readyState]).toEqual([
      true,
      true,
      1,
      1,
    ]);
    expect(d.seen.socket).toEqual([]);

    // And the revoked key cannot open a new one.
    await expect(connectSocket(t.url, doomed.token)).rejects.toMatchObject({ data: { code: 401 } });
    await expect(
      connectWs(`${t.url}/api/v1/ws/subscribe`, { headers: { 'X-Api-Key': doomed.token } }),
    ).rejects.toMatchObject({ status: 401 });
  });
});
