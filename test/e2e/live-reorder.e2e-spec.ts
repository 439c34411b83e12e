import { jest } from '@jest/globals';
import type { Socket } from 'socket.io-client';
import { EventBus } from '../../src/core/bus/event-bus';
import { EventLog } from '../../src/core/event-log/event-log.service';
import type { StoredEvent } from '../../src/core/event-log/event.types';
import { mintKey } from '../support/credentials';
import { publish } from '../support/events';
import { connectSocket, record, waitFor } from '../support/sockets';
import { startTestApp, type TestApp } from '../support/test-app';

/**
 * Two nodes publish on the bus independently, so a node often hears seq 11 a moment before seq
 * 10. The live path waits briefly for the bus to bring the missing seq instead of reading the log
 * for every such reordering; a seq the bus really lost is still read from the log.
 */
describe('live fan-out puts reordered bus events back in order without reading the log', () => {
  let t: TestApp;
  let producer: string;
  let reader: string;
  let bus: EventBus;
  let logReads: ReturnType<typeof jest.spyOn>;
  const sockets: Socket[] = [];

  beforeAll(async () => {
    t = await startTestApp();
    producer = await mintKey(t, { org: 'org_reorder', scopes: ['events:publish'] });
    reader = await mintKey(t, { org: 'org_reorder', scopes: ['events:read'] });
    bus = t.app.get(EventBus);
    logReads = jest.spyOn(t.app.get(EventLog), 'readAcrossTenants');
  });
  afterAll(async () => {
    logReads?.mockRestore();
    for (const s of sockets) s.close();
    await t?.close();
  });

  /** Publishes `count` events while the bus holds its messages; returns the held messages and the seqs. */
  async function publishHeld(count: number): Promise<{ held: StoredEvent[][]; seqs: number[] }> {
    const publishEvents = bus.publishEvents.bind(bus);
    const held: StoredEvent[][] = [];
    bus.publishEvents = (events) => void held.push(events);
    const seqs: number[] = [];
    try {
      for (let i = 0; i < count; i++) {
        const res = await publish(t.url, producer, { type: 'claim_approved', claim_id: `clm_r${i}` });
        expect(res.status).toBe(201);
        seqs.push(res.body.seq);
      }
    } finally {
      bus.publishEvents = publishEvents;
    }
    expect(held).toHaveLength(count);
    return { held, seqs };
  }

  async function listen(): Promise<{ event: string; payload: any }[]> {
    const socket = await connectSocket(t.url, reader);
    sockets.push(socket);
    return record(socket, 'claim_approved');
  }

  it('events heard in reverse order reach a socket in seq order, once, with no log read', async () => {
    const seen = await listen();
    const { held, seqs } = await publishHeld(3);
    logReads.mockClear();
    for (const events of [...held].reverse()) bus.publishEvents(events);

    await waitFor('the three events', () => seen.length === 3);
    expect(seen.map((m) => Number(m.payload.sequence))).toEqual(seqs);
    expect(logReads).not.toHaveBeenCalled();
  });

  it('a seq the bus lost is read from the log, and the later events wait for it', async () => {
    const seen = await listen();
    const { held, seqs } = await publishHeld(3);
    logReads.mockClear();
    // The first two are lost; only the third is heard.
    const released = Date.now();
    bus.publishEvents(held[2]);

    await waitFor('the three events', () => seen.length === 3);
    // Filled by the reorder wait (50 ms), not by the periodic catch-up check, which needs two
    // 2-s intervals to notice the same gap.
    expect(Date.now() - released).toBeLessThan(1_500);
    expect(seen.map((m) => Number(m.payload.sequence))).toEqual(seqs);
    expect(logReads).toHaveBeenCalled();
    // Nothing twice: a sentinel over the working bus comes after them.
    const sentinel = await publish(t.url, producer, { type: 'claim_approved', claim_id: 'clm_sentinel' });
    await waitFor('the sentinel', () => seen.length === 4);
    expect(seen.map((m) => Number(m.payload.sequence))).toEqual([...seqs, sentinel.body.seq]);
  });
});
