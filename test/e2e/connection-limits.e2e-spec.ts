import { connect, type Socket as TcpSocket } from 'node:net';
import request from 'supertest';
import type { Socket } from 'socket.io-client';
import { io } from 'socket.io-client';
import { mintKey } from '../support/credentials';
import { connectSocket, waitFor } from '../support/sockets';
import { startTestApp, type TestApp } from '../support/test-app';
import { connectWs, type UpgradeRefusal, type WsConnection } from '../support/ws-client';

/** Connects a raw TCP socket (optionally from another loopback address) and resolves once it is open. */
type Tcp = TcpSocket & { closedAt?: number; gotData: boolean };

function tcp(port: number, localAddress?: string, opts: { reads?: boolean } = {}): Promise<Tcp> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, localAddress }) as Tcp;
    socket.gotData = false;
    if (opts.reads !== false) socket.on('data', () => (socket.gotData = true));
    socket.on('close', () => (socket.closedAt = Date.now()));
    socket.on('error', () => undefined);
    socket.once('connect', () => resolve(socket));
    socket.once('error', reject);
  });
}

async function refusedWs(url: string, localAddress?: string): Promise<UpgradeRefusal> {
  try {
    const conn = await connectWs(url, { localAddress });
    conn.ws.terminate();
  } catch (err) {
    return err as UpgradeRefusal;
  }
  throw new Error(`expected ${url} to be refused`);
}

async function refusedSocket(
  url: string,
  token: string,
  opts: { localAddress?: string } = {},
): Promise<{ message: string; data?: { code: number } }> {
  try {
    const socket = await connectSocket(url, token, opts);
    socket.close();
  } catch (err) {
    return err as { message: string; data?: { code: number } };
  }
  throw new Error('expected the Socket.IO connection to be refused');
}

describe('per-client limits: one client cannot hold a node', () => {
  let t: TestApp;
  const ws: WsConnection[] = [];
  const sockets: Socket[] = [];
  const tcps: Tcp[] = [];

  beforeAll(async () => {
    t = await startTestApp({
      env: {
        WS_MAX_SOCKETS_PER_CREDENTIAL: '3',
        WS_MAX_SOCKETS_PER_ADDRESS: '4',
        CHANNEL_MAX_ATTACHMENTS: '2',
        MAX_CONNECTIONS_PER_ADDRESS: '10',
        HTTP_HEADERS_TIMEOUT: '500ms',
      },
    });
  });
  afterEach(() => {
    for (const c of ws.splice(0)) c.ws.terminate();
    for (const s of sockets.splice(0)) s.close();
    for (const s of tcps.splice(0)) s.destroy();
  });
  afterAll(async () => {
    await t?.close();
  });

  const subscribeUrl = (token: string) => `${t.url}/api/v1/ws/subscribe?access_token=${token}`;
  const settle = () => new Promise((r) => setTimeout(r, 100));

  it('refuses a credential past WS_MAX_SOCKETS_PER_CREDENTIAL on every transport with 429, and takes it again once one closes', async () => {
    const key = await mintKey(t, { org: 'org_cap', scopes: ['events:read'] });
    ws.push(await connectWs(subscribeUrl(key), { localAddress: '127.0.0.2' }));
    ws.push(await connectWs(subscribeUrl(key), { localAddress: '127.0.0.3' }));
    sockets.push(await connectSocket(t.url, key, { localAddress: '127.0.0.4' }));

    const refusal = await refusedWs(subscribeUrl(key), '127.0.0.5');
    expect(refusal.status).toBe(429);
    expect(refusal.body).toMatchObject({
      code: 429,
      message: expect.stringContaining('WS_MAX_SOCKETS_PER_CREDENTIAL is 3'),
    });
    const sio = await refusedSocket(t.url, key, { localAddress: '127.0.0.5' });
    expect(sio.data).toMatchObject({ code: 429 });
    expect(sio.message).toContain('WS_MAX_SOCKETS_PER_CREDENTIAL');

    // Another key of the same organisation is not held back.
    const other = await mintKey(t, { org: 'org_cap', scopes: ['events:read'] });
    ws.push(await connectWs(subscribeUrl(other), { localAddress: '127.0.0.5' }));

    ws.shift()!.ws.close();
    await settle();
    ws.push(await connectWs(subscribeUrl(key), { localAddress: '127.0.0.6' }));
  });

  it('refuses an address past WS_MAX_SOCKETS_PER_ADDRESS whatever keys it uses', async () => {
    const keys = await Promise.all([1, 2, 3, 4, 5].map(() => mintKey(t, { org: 'org_addr', scopes: ['events:read'] })));
    for (const key of keys.slice(0, 4)) ws.push(await connectWs(subscribeUrl(key), { localAddress: '127.0.1.1' }));
    expect((await refusedWs(subscribeUrl(keys[4]), '127.0.1.1')).status).toBe(429);
    expect((await refusedSocket(t.url, keys[4], { localAddress: '127.0.1.1' })).data).toMatchObject({ code: 429 });
    ws.push(await connectWs(subscribeUrl(keys[4]), { localAddress: '127.0.1.2' }));
  });

  it('holds no place for a Socket.IO handshake that a channel refuses', async () => {
    const key = await mintKey(t, { org: 'org_cap3', user: 'usr_a', scopes: ['events:read'] });
    // A channel that does not exist: refused after authentication, before the socket is counted.
    for (let i = 0; i < 5; i++) {
      const err = await new Promise<{ data?: { code: number } }>((resolve) => {
        const s = io(`${t.url}/channels/chan_01hzzzzzzzzzzzzzzzzzzzzzzz`, {
          transports: ['websocket'],
          reconnection: false,
          forceNew: true,
          auth: { token: key },
        });
        s.once('connect_error', (e) => (s.close(), resolve(e as { data?: { code: number } })));
      });
      expect(err.data?.code).toBe(404);
    }
    for (let i = 0; i < 3; i++) sockets.push(await connectSocket(t.url, key, { localAddress: `127.0.2.${i + 1}` }));
  });

  it('refuses a third client on a channel past CHANNEL_MAX_ATTACHMENTS, on both transports', async () => {
    const keys = await Promise.all(
      [1, 2, 3, 4].map(() => mintKey(t, { org: 'org_chan', user: 'usr_c', scopes: ['events:read'] })),
    );
    const channel = await request(t.url)
      .post('/api/v1/realtime-subscriptions/user')
      .set('X-Api-Key', keys[0])
      .send({ user_id: 'usr_c' });
    expect(channel.status).toBe(201);
    const path = `${t.url}/channels/${channel.body.channel_id}`;
    ws.push(await connectWs(`${path}?access_token=${keys[0]}`, { localAddress: '127.0.3.1' }));
    sockets.push(
      await connectSocket(`${t.url}/channels/${channel.body.channel_id}`, keys[1], { localAddress: '127.0.3.2' }),
    );
    const refusal = await refusedWs(`${path}?access_token=${keys[2]}`, '127.0.3.3');
    expect(refusal).toMatchObject({
      status: 429,
      body: { statusCode: 429, message: expect.stringContaining('CHANNEL_MAX_ATTACHMENTS') },
    });
    const sio = await refusedSocket(`${t.url}/channels/${channel.body.channel_id}`, keys[3], {
      localAddress: '127.0.3.4',
    });
    expect(sio.data).toMatchObject({ code: 429 });
  });

  it('closes a connection whose headers trickle in past HTTP_HEADERS_TIMEOUT (slowloris)', async () => {
    // A slowloris client never reads what it is sent, so only the server can end the connection.
    const slow = await tcp(t.port, '127.0.4.1', { reads: false });
    tcps.push(slow);
    slow.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n');
    const drip = setInterval(() => slow.writable && slow.write('X-Drip: 1\r\n'), 100);
    try {
      await waitFor('the server to close the slow connection', () => slow.closedAt !== undefined, 5000);
    } finally {
      clearInterval(drip);
    }
    expect((await fetch(`${t.url}/healthz`)).status).toBe(200);
  });

  it('closes connections past MAX_CONNECTIONS_PER_ADDRESS at once, and serves other addresses meanwhile', async () => {
    for (let i = 0; i < 10; i++) tcps.push(await tcp(t.port, '127.0.5.1'));
    await settle();
    expect(tcps.every((s) => s.closedAt === undefined)).toBe(true);
    const extra = await tcp(t.port, '127.0.5.1');
    tcps.push(extra);
    await waitFor('the extra connection to be closed', () => extra.closedAt !== undefined, 2000);
    expect(extra.gotData).toBe(false);
    expect((await fetch(`${t.url}/healthz`)).status).toBe(200);
    const metrics = await (await fetch(`${t.url}/metrics`)).text();
    expect(metrics).toMatch(/^herald_connections_refused_total\{reason="address_full"\} [1-9]/m);
    expect(metrics).toMatch(/^herald_connections_refused_total\{reason="sockets_per_credential"\} [1-9]/m);
  });
});
