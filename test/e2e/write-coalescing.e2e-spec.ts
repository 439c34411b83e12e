import type { Socket as TcpSocket } from 'node:net';
import request from 'supertest';
import { io, Socket } from 'socket.io-client';
import { mintKey } from '../support/credentials';
import { record, waitFor } from '../support/sockets';
import { startTestApp, TestApp } from '../support/test-app';
import { connectWs, WsConnection } from '../support/ws-client';

const ORG = 'org_coalesce';
const USER = 'usr_coalesce';
const TYPE = 'status_changed';
const EVENTS = 300;

/**
 * A replay sends a batch of events to one client in a row; they must leave the node in a few
 * writes to its TCP socket, not one write per event (see write-coalescing.ts). Every accepted
 * socket of the app's HTTP server counts the writes it hands to the kernel, and each transport
 * replays EVENTS events: every event must arrive, in order, through far fewer writes.
 */
describe('replayed events leave in a few writes per batch', () => {
  let t: TestApp;
  let app: string;
  let employee: string;
  const writes = new Map<TcpSocket, number>();

  beforeAll(async () => {
    t = await startTestApp();
    app = await mintKey(t, { org: ORG, scopes: ['events:publish', 'events:read'] });
    employee = await mintKey(t, { org: ORG, user: USER, scopes: ['events:read'] });
    (t.app.getHttpServer() as import('node:http').Server).on('connection', (socket: TcpSocket) => {
      writes.set(socket, 0);
      const counted = socket as unknown as { _write: (...a: unknown[]) => void; _writev: (...a: unknown[]) => void };
      const write = counted._write.bind(socket);
      const writev = counted._writev.bind(socket);
      counted._write = (...args) => (writes.set(socket, writes.get(socket)! + 1), write(...args));
      counted._writev = (...args) => (writes.set(socket, writes.get(socket)! + 1), writev(...args));
    });
  });
  afterAll(async () => {
    await t?.close();
  });

  /** A fresh user channel with EVENTS events published after it was made. */
  async function channelWithBacklog(): Promise<string> {
    const res = await request(t.url)
      .post('/api/v1/realtime-subscriptions/user')
      .set('X-Api-Key', employee)
      .send({ user_id: USER, event_types: [TYPE] });
    expect(res.status).toBe(201);
    const published = await request(t.url)
      .post('/api/v1/events/batch')
      .set('X-Api-Key', app)
      .send({ events: Array.from({ length: EVENTS }, (_, i) => ({ type: TYPE, user_id: USER, data: { i } })) });
    expect(published.status).toBe(201);
    return res.body.websocket_url;
  }

  /** Writes made by the sockets accepted while `work` ran. */
  async function writesDuring(work: () => Promise<void>): Promise<number> {
    const before = new Set(writes.keys());
    await work();
    return [...writes].filter(([socket]) => !before.has(socket)).reduce((sum, [, n]) => sum + n, 0);
  }

  it('Socket.IO: one engine.io flush is one write', async () => {
    const url = await channelWithBacklog();
    let socket: Socket | undefined;
    let seqs: number[] = [];
    const count = await writesDuring(async () => {
      socket = io(url, { transports: ['websocket'], reconnection: false, forceNew: true, auth: { token: employee } });
      const seen = record(socket, TYPE);
      await waitFor('the replay', () => seen.length === EVENTS);
      seqs = seen.map((m) => Number(m.payload.sequence));
    });
    socket?.close();
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(new Set(seqs).size).toBe(EVENTS);
    // Handshake, connect, welcome, then the batch: a few flushes, never one per event.
    expect(count).toBeLessThan(EVENTS / 10);
  });

  it('raw WebSocket: the frames sent in one pass of the event loop are one write', async () => {
    const url = await channelWithBacklog();
    let conn: WsConnection | undefined;
    let seqs: number[] = [];
    const count = await writesDuring(async () => {
      conn = await connectWs(url.replace(/^ws/, 'http'), { headers: { 'X-Api-Key': employee } });
      const events = () => conn!.frames.filter((f) => f.type === 'event');
      await waitFor('the replay', () => events().length === EVENTS);
      seqs = events().map((f) => Number(f.event.sequence));
    });
    conn?.ws.terminate();
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(new Set(seqs).size).toBe(EVENTS);
    expect(count).toBeLessThan(EVENTS / 10);
  });
});

/**
 * Frames held for coalescing are not a backlog: with the per-client limit at 64 KiB, a burst of
 * events that together exceed it but that the client reads at once must all arrive, and the
 * client must stay connected (held bytes are written before the slow-client rule measures).
 */
describe('coalescing and the slow-client limit', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp({ env: { WS_MAX_BUFFERED_BYTES: String(64 * 1024) } });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('a raw WebSocket client that reads keeps up with a burst larger than its limit', async () => {
    const app = await mintKey(t, { org: ORG, scopes: ['events:publish', 'events:read'] });
    const employee = await mintKey(t, { org: ORG, user: USER, scopes: ['events:read'] });
    const channel = await request(t.url)
      .post('/api/v1/realtime-subscriptions/user')
      .set('X-Api-Key', employee)
      .send({ user_id: USER, event_types: [TYPE] });
    expect(channel.status).toBe(201);
    const conn = await connectWs(channel.body.websocket_url.replace(/^ws/, 'http'), {
      headers: { 'X-Api-Key': employee },
    });
    await conn.next((f) => f.type === 'welcome', 'the welcome');
    // 100 events of about 1.5 KB: 150 KB fanned out to the client in one pass of the event loop.
    const published = await request(t.url)
      .post('/api/v1/events/batch')
      .set('X-Api-Key', app)
      .send({
        events: Array.from({ length: 100 }, (_, i) => ({
          type: TYPE,
          user_id: USER,
          data: { i, pad: 'x'.repeat(1500) },
        })),
      });
    expect(published.status).toBe(201);
    const events = () => conn.frames.filter((f) => f.type === 'event');
    await waitFor('the burst', () => events().length === 100 || conn.ws.readyState !== conn.ws.OPEN);
    expect(conn.frames.filter((f) => f.type === 'closed')).toEqual([]);
    expect(events().map((f) => f.event.data.i)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    conn.ws.terminate();
  });
});
