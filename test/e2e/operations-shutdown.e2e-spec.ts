import request from 'supertest';
import { Manager, type Socket } from 'socket.io-client';
import { Database } from '../../src/core/database/database.service';
import { mintKey } from '../support/credentials';
import { connectSocket, waitFor } from '../support/sockets';
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
    expect(complete).toBe(logged.length - 1);
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
