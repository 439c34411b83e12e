import { jest } from '@jest/globals';
import request from 'supertest';
import { io, Socket } from 'socket.io-client';
import { EventLog } from '../../src/core/event-log/event-log.service';
import type { EventFilter } from '../../src/core/event-log/event.types';
import { REPLAY_BATCH } from '../../src/core/gateway/cursor-stream';
import { mintKey } from '../support/credentials';
import { publish } from '../support/events';
import { Gate, holdCalls } from '../support/freeze';
import { record, waitFor } from '../support/sockets';
import { startTestApp, TestApp } from '../support/test-app';
import { connectWs, WsConnection } from '../support/ws-client';

const BASE = '/api/v1/realtime-subscriptions';
const ORG = 'org_seam';
const USER = 'usr_seam';
const TYPE = 'status_changed';

/** An attached channel client, whichever transport: the seqs it was sent, in arrival order. */
interface ChannelClient {
  welcome(): Promise<Record<string, unknown>>;
  seqs(): number[];
  close(): void;
}

/**
 * The seam between a channel client's replay and the live stream, raced on purpose: the log read
 * the replay makes is held while live events are published and fanned out to the client (so they
 * are buffered), then let go (so the read returns them too). Every seq must arrive exactly once,
 * in order. On SQLite the race cannot happen by itself: a replay finishes before the next
 * publish is even read off the socket.
 */
describe('seed 000: the replay/live seam of a channel client, forced', () => {
  let t: TestApp;
  let app: string;
  let employee: string;
  const clients: ChannelClient[] = [];
  const gate = new Gate();

  beforeAll(async () => {
    t = await startTestApp({ env: { DISPATCH_POLL_INTERVAL: '50ms' } });
    app = await mintKey(t, { org: ORG, scopes: ['events:publish', 'events:read'] });
    employee = await mintKey(t, { org: ORG, user: USER, scopes: ['events:read'] });
  });
  afterEach(() => {
    gate.reopen();
    jest.restoreAllMocks();
    for (const c of clients.splice(0)) c.close();
  });
  afterAll(async () => {
    await t?.close();
  });

  async function userChannel(): Promise<{ channel_id: string; websocket_url: string }> {
    const res = await request(t.url)
      .post(`${BASE}/user`)
      .set('X-Api-Key', employee)
      .send({ user_id: USER, event_types: [TYPE] });
    expect(res.status).toBe(201);
    return res.body;
  }

  async function publishMany(count: number, tag: string): Promise<number[]> {
    const seqs: number[] = [];
    while (seqs.length < count) {
      const size = Math.min(500, count - seqs.length);
      const res = await request(t.url)
        .post('/api/v1/events/batch')
        .set('X-Api-Key', app)
        .send({ events: Array.from({ length: size }, (_, i) => ({ type: TYPE, user_id: USER, data: { tag, i } })) });
      expect(res.status).toBe(201);
      seqs.push(...res.body.events.map((e: { seq: number }) => e.seq));
    }
    return seqs;
  }

  async function publishOne(tag: string): Promise<number> {
    const res = await publish(t.url, app, { type: TYPE, user_id: USER, data: { tag } });
    expect(res.status).toBe(201);
    return res.body.seq;
  }

  async function attachWebSocket(websocketUrl: string, lastSeq: number): Promise<ChannelClient> {
    const conn: WsConnection = await connectWs(`${websocketUrl.replace(/^ws/, 'http')}?last_seq=${lastSeq}`, {
      headers: { 'X-Api-Key': employee },
    });
    const client: ChannelClient = {
      welcome: () => conn.next((f) => f.type === 'welcome', 'the welcome').then(({ type: _type, ...rest }) => rest),
      seqs: () => conn.frames.filter((f) => f.type === 'event').map((f) => Number(f.event.sequence)),
      close: () => conn.ws.terminate(),
    };
    clients.push(client);
    return client;
  }

  /** Listeners go on before connecting, as a real client's would: replayed events may come with the connect packet. */
  async function attachSocketIo(websocketUrl: string, lastSeq: number): Promise<ChannelClient> {
    const socket: Socket = io(websocketUrl, {
      transports: ['websocket'],
      reconnection: false,
      forceNew: true,
      autoConnect: false,
      auth: { token: employee, last_seq: lastSeq },
    });
    const seen = record(socket, 'welcome', TYPE);
    const client: ChannelClient = {
      welcome: async () => {
        await waitFor('the welcome', () => seen.some((m) => m.event === 'welcome'));
        return seen.find((m) => m.event === 'welcome')!.payload;
      },
      seqs: () => seen.filter((m) => m.event === TYPE).map((m) => Number(m.payload.sequence)),
      close: () => socket.close(),
    };
    clients.push(client);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('connect_error', reject);
      socket.connect();
    });
    return client;
  }

  /**
   * Holds the `nth` (0-based) replay read of this organisation's channel made from now on. The
   * replay reads through EventLog.readAfter, whatever class drives it.
   */
  function holdReplayRead(nth: number): Promise<unknown>[] {
    let seen = 0;
    gate.shut();
    return holdCalls(EventLog.prototype, 'readAfter', gate, (args) => {
      const filter = args[1] as EventFilter;
      if (filter.organisation_id !== ORG || filter.user_id !== USER) return false;
      return seen++ === nth;
    });
  }

  describe.each([
    ['a raw WebSocket', attachWebSocket],
    ['a Socket.IO client', attachSocketIo],
  ] as const)('%s', (_name, attach) => {
    it.each([
      ['before its first batch', 0],
      ['between two batches', 1],
    ] as const)(
      'live events published while the replay is held %s arrive once each, in order, with no gap',
      async (_when, nth) => {
        const channel = await userChannel();
        // Enough history that the replay reads more than one batch.
        const history = await publishMany(REPLAY_BATCH + 100, 'history');
        const resumeAfter = history[0];
        const replayed = history.slice(1);

        // A client that attaches at the head, so it is live at once: when it has an event, the
        // node has fanned that event out to every attachment, the held one included.
        const observer = await attachWebSocket(channel.websocket_url, history[history.length - 1]);
        await observer.welcome();

        const held = holdReplayRead(nth);
        const client = await attach(channel.websocket_url, resumeAfter);
        await waitFor('the replay read to be held', () => gate.waiting === 1);
        expect(held).toHaveLength(1);
        // Held between batches: the first batch went out, and nothing after it.
        if (nth === 1) await waitFor('the first batch', () => client.seqs().length === REPLAY_BATCH);
        expect(client.seqs()).toEqual(replayed.slice(0, nth * REPLAY_BATCH));

        // Live events while the read waits: the client buffers them; the read, once it runs,
        // returns them as well.
        const live = [...(await publishMany(3, 'live batch')), await publishOne('live 1'), await publishOne('live 2')];
        await waitFor('the live events to be fanned out', () => observer.seqs().includes(live[live.length - 1]));
        expect(client.seqs()).toEqual(replayed.slice(0, nth * REPLAY_BATCH));

        gate.reopen();
        await Promise.all(held);
        const after = await publishOne('after the seam');
        // Delivery is in seq order, so once this is in, a duplicate or a late event would be too.
        const sentinel = await publishOne('sentinel');
        await waitFor('the sentinel', () => client.seqs().includes(sentinel), 20_000);

        expect(client.seqs()).toEqual([...replayed, ...live, after, sentinel]);
        expect(await client.welcome()).toEqual({
          channel_id: channel.channel_id,
          resume_after: resumeAfter,
          from_seq: replayed[0],
          complete: true,
        });
      },
    );
  });
});
