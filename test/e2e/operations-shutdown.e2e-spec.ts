import request from 'supertest';
import { Manager, type Socket } from 'socket.io-client';
import { Database } from '../../src/core/database/database.service';
import { mintKey } from '../support/credentials';
import { connectSocket, waitFor } from '../support/sockets';
import { TcpProxy } from '../support/tcp-proxy';
import { startTestApp, type TestApp } from '../support/test-app';
import { connectWs } from '../support/ws-client';

const ORG = 'org_ops_shutdown';
const SHUTDOWN_NOTICE = { reason: 'server shutting down', code: 'server_shutdown' };

type Line = Record<string, any>;

/** Everything a Socket.IO socket was told, in order, ending with how it disconnected. */
function follow(socket: Socket): { event: string; payload: unknown }[] {
  const seen: { event: string; payload: unknown }[] = [];
  socket.on('closing', (payload: unknown) => seen.push({ event: 'closing', payload }));
  socket.on('disconnect', (reason: string) => seen.push({ event: 'disconnect', payload: reason }));
  return seen;
}

function connected(socket: Socket): Promise<Socket> {
  return new Promise((resolve, reject) => {
    if (socket.connected) return resolve(socket);
    socket.once('connect', () => resolve(socket));
    socket.once('connect_error', reject);
  });
}

/**
 * Shutdown as clients and operators see it, through the real app: every Socket.IO client gets the
 * `closing` notice revocation sends, with `code: "server_shutdown"` (also when the default and a
 * channel namespace share one connection), raw WebSockets their `closed` frame and 1001, and the
 * log shows when shutdown started and when it was over.
 */
describe('operations: shutdown', () => {
  let t: TestApp;
  let raw = '';
  const write = process.stdout.write;
  /** Whether the database was still open when "shutdown complete" was written. */
  let databaseOpenAtEnd: boolean | undefined;

  beforeAll(async () => {
    // pino writes to process.stdout itself when its write has been replaced before the logger is made.
    process.stdout.write = ((chunk: string | Uint8Array) => {
      const text = chunk.toString();
      if (text.includes('"shutdown complete"')) databaseOpenAtEnd = t?.app.get(Database).dataSource.isInitialized;
      raw += text;
      return true;
    }) as typeof process.stdout.write;
    t = await startTestApp({ env: { LOG_LEVEL: 'info' } });
  });
  afterAll(async () => {
    await t?.close();
    process.stdout.write = write;
  });

  it('tells every client why before it closes, and logs the start and end of shutdown', async () => {
    const reader = await mintKey(t, { org: ORG, scopes: ['events:read'] });
    const created = await request(t.url)
      .post('/api/v1/realtime-subscriptions/organisation')
      .set('X-Api-Key', reader)
      .send({ organisation_id: ORG });
    expect(created.status).toBe(201);
    const channelPath = new URL(created.body.websocket_url as string).pathname;

    // A client of the default namespace alone.
    const alone = await connectSocket(t.url, reader);
    const aloneSaw = follow(alone);
    // One connection carrying the default namespace and a channel namespace (socket.io-client
    // multiplexes namespaces of one origin by default).
    const manager = new Manager(t.url, { transports: ['websocket'], reconnection: false });
    const shared = await connected(manager.socket('/', { auth: { token: reader } }));
    const channel = await connected(manager.socket(channelPath, { auth: { token: reader } }));
    const sharedSaw = follow(shared);
    const channelSaw = follow(channel);
    // A channel client on a connection of its own.
    const lone = await connectSocket(created.body.websocket_url as string, reader);
    const loneSaw = follow(lone);
    const rawChannel = await connectWs(created.body.websocket_url as string, { headers: { 'X-Api-Key': reader } });
    await rawChannel.next((f) => f.type === 'welcome', 'the raw welcome');

    const mark = raw.length;
    await t.close();

    await waitFor('every socket told and closed', () =>
      [aloneSaw, sharedSaw, channelSaw, loneSaw].every((seen) => seen.some((s) => s.event === 'disconnect')),
    );
    // The default namespace's connection is dropped, not disconnected by the server, so
    // socket.io-client reconnects by itself (to whichever node answers).
    expect(aloneSaw).toEqual([
      { event: 'closing', payload: SHUTDOWN_NOTICE },
      { event: 'disconnect', payload: 'transport close' },
    ]);
    expect(sharedSaw).toEqual([
      { event: 'closing', payload: SHUTDOWN_NOTICE },
      { event: 'disconnect', payload: 'transport close' },
    ]);
    // A channel client is told the same; only its namespace is left, and it resumes with last_seq.
    for (const seen of [channelSaw, loneSaw]) {
      expect(seen).toEqual([
        { event: 'closing', payload: SHUTDOWN_NOTICE },
        { event: 'disconnect', payload: 'io server disconnect' },
      ]);
    }
    expect(await rawChannel.closed).toEqual({ code: 1001, reason: 'server shutting down' });
    expect(rawChannel.frames.at(-1)).toEqual({ type: 'closed', reason: 'server shutting down' });

    const logged = raw
      .slice(mark)
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Line);
    const started = logged.findIndex((l) => l.context === 'Shutdown' && l.msg.startsWith('shutdown started'));
    const complete = logged.findIndex((l) => l.context === 'Shutdown' && l.msg === 'shutdown complete');
    expect(started).toBeGreaterThanOrEqual(0);
    expect(complete).toBeGreaterThanOrEqual(0);
    // Nothing after the end line (shown whole if something is).
    expect(logged.slice(complete + 1)).toEqual([]);
    expect(logged[started]).toMatchObject({ level: 30, grace_ms: t.config.shutdownGraceMs });
    expect(logged[complete]).toMatchObject({ level: 30, duration_ms: expect.any(Number) });
    // Between the two: the clients closing, each with who it was.
    const closed = logged.slice(started + 1, complete).filter((l) => l.msg === 'client disconnected');
    expect(closed.map((l) => l.transport).sort()).toEqual([
      'socket.io',
      'socket.io',
      'socket.io',
      'socket.io',
      'websocket',
    ]);
    // The end line is written once everything, the database included, has closed.
    expect(databaseOpenAtEnd).toBe(false);
    manager.engine?.close();
  });
});

/**
 * The notice is worth something only if it is read before the node goes: shutdown waits until
 * each WebSocket client has answered the close that follows its notice, which it does only after
 * reading the notice, and a client that never reads holds shutdown no longer than a bound. The
 * client reaches the node through a proxy that can stop passing on what the node sends.
 */
describe('operations: shutdown and clients that read late', () => {
  let t: TestApp;
  let proxy: TcpProxy;
  let socket: Socket | undefined;

  beforeEach(async () => {
    t = await startTestApp();
    proxy = await TcpProxy.start({ host: '127.0.0.1', port: Number(new URL(t.url).port) });
    const reader = await mintKey(t, { org: ORG, scopes: ['events:read'] });
    socket = await connectSocket(`http://127.0.0.1:${proxy.port}`, reader);
  });
  afterEach(async () => {
    socket?.close();
    await proxy.down();
    await t.close();
  });

  it('waits for a client that is behind on reading until it has read the closing notice', async () => {
    const seen = follow(socket!);
    proxy.hold();
    let over = false;
    const closing = t.close().then(() => (over = true));
    // An order, not a speed: with the client not reading, the node is still waiting for it.
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(seen).toEqual([]);
    expect(over).toBe(false);

    proxy.release();
    await closing;
    await waitFor('the notice and the disconnect', () => seen.length === 2);
    expect(seen).toEqual([
      { event: 'closing', payload: SHUTDOWN_NOTICE },
      { event: 'disconnect', payload: 'transport close' },
    ]);
  });

  // A bound, not a speed: the client never answers, and shutdown must not wait out the
  // WebSocket's own 30 s closing timeout for it.
  it('does not wait for ever for a client that never reads', async () => {
    proxy.hold();
    await t.close();
  }, 15_000);
});
