import type { Socket } from 'socket.io-client';
import { EventBus } from '../../src/core/bus/event-bus';
import { mintKey } from '../support/credentials';
import { publish } from '../support/events';
import { connectSocket, record, waitFor } from '../support/sockets';
import { startTestApp, type TestApp } from '../support/test-app';

/**
 * The live path fills a gap in seqs from the log when a later event shows it. An event the bus
 * loses with nothing after it (the last events before a quiet spell) used to wait for the next
 * publish, however long that took; now each node notices the log is ahead and catches up.
 */
describe('live fan-out catches up from the log without waiting for a later event', () => {
  let t: TestApp;
  let producer: string;
  let reader: string;
  const sockets: Socket[] = [];

  beforeAll(async () => {
    t = await startTestApp();
    producer = await mintKey(t, { org: 'org_catch', scopes: ['events:publish'] });
    reader = await mintKey(t, { org: 'org_catch', scopes: ['events:read'] });
  });
  afterAll(async () => {
    for (const s of sockets) s.close();
    await t?.close();
  });

  it('events whose bus messages were lost reach a socket, in order and once, with no further publish', async () => {
    const socket = await connectSocket(t.url, reader);
    sockets.push(socket);
    const seen = record(socket, 'claim_approved', 'comment_added');

    const first = await publish(t.url, producer, { type: 'comment_added', claim_id: 'clm_0' });
    expect(first.status).toBe(201);
    await waitFor('the first event', () => seen.length === 1);

    // The bus drops what is published now, as Redis pub/sub does while Redis is down.
    const bus = t.app.get(EventBus);
    const publishEvents = bus.publishEvents.bind(bus);
    bus.publishEvents = () => undefined;
    const lost: number[] = [];
    try {
      for (let i = 1; i <= 5; i++) {
        const res = await publish(t.url, producer, { type: 'claim_approved', claim_id: `clm_${i}` });
        expect(res.status).toBe(201);
        lost.push(res.body.seq);
      }
    } finally {
      bus.publishEvents = publishEvents;
    }

    await waitFor('the lost events from the log', () => seen.length === 6, 15_000);
    expect(seen.map((m) => Number(m.payload.sequence))).toEqual([first.body.seq, ...lost]);
    expect(seen.map((m) => m.event)).toEqual(['comment_added', ...Array(5).fill('claim_approved')]);
    // Nothing twice: a sentinel published now, over the working bus, comes after anything still owed.
    const sentinel = await publish(t.url, producer, { type: 'comment_added', claim_id: 'clm_sentinel' });
    await waitFor('the sentinel', () => seen.some((m) => m.payload.id === sentinel.body.id));
    expect(seen.map((m) => Number(m.payload.sequence))).toEqual([first.body.seq, ...lost, sentinel.body.seq]);
  });
});
