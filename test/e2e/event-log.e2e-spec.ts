import request from 'supertest';
import { RouterRegistry } from '../../src/core/bus/router-registry';
import { Dispatcher } from '../../src/core/event-log/dispatcher.service';
import { DISPATCHER_CONSUMER, EventLog } from '../../src/core/event-log/event-log.service';
import { mintKey } from '../support/credentials';
import { dispatchedThrough, publish } from '../support/events';
import { startTestApp, TestApp } from '../support/test-app';

/** The log's guarantees, exercised through the real app and its real database. */
describe('event log', () => {
  let t: TestApp;
  let log: EventLog;
  let publisher: string;

  beforeAll(async () => {
    t = await startTestApp();
    log = t.app.get(EventLog);
    publisher = await mintKey(t, { org: 'org_log', scopes: ['events:publish', 'events:read'] });
  });
  afterAll(() => t?.close());

  it('finds every branch of the data flow through @EventRouter, each once', () => {
    const routers = t.app.get(RouterRegistry);
    expect(routers.live.map((r) => r.name)).toEqual([
      'approval-notification-sockets',
      'organisation-and-user-sockets',
      'raw-websocket-clients',
      'realtime-channels',
      'socket-session-subscriptions',
      'workspace-subscription-sockets',
    ]);
    expect(routers.durable.map((r) => r.name)).toEqual([
      'claim-webhook-subscriptions',
      'realtime-channel-counts',
      'workspace-subscription-webhooks',
    ]);
  });

  it('20 concurrent publishers while a tailer reads: the tailer sees every seq exactly once, in order', async () => {
    const start = await log.head();
    const PUBLISHERS = 20;
    const PER_PUBLISHER = 15;
    const acknowledged: number[] = [];
    const seen: number[] = [];
    let publishing = true;

    const tailer = (async () => {
      let cursor = start;
      for (;;) {
        const done = !publishing;
        const batch = await log.readAfter(cursor, { organisation_id: 'org_log' }, 50);
        for (const e of batch) seen.push(e.seq);
        if (batch.length) cursor = batch[batch.length - 1].seq;
        if (done && batch.length === 0) return;
        // SQLite answers synchronously; yield so the server's I/O keeps flowing.
        await new Promise((r) => setTimeout(r, 2));
      }
    })();

    await Promise.all(
      Array.from({ length: PUBLISHERS }, async (_, p) => {
        for (let i = 0; i < PER_PUBLISHER; i++) {
          const res = await publish(t.url, publisher, { type: 'status_changed', data: { p, i } });
          expect(res.status).toBe(201);
          acknowledged.push(res.body.seq);
        }
      }),
    );
    publishing = false;
    await tailer;

    const expected = [...acknowledged].sort((a, b) => a - b);
    expect(expected).toHaveLength(PUBLISHERS * PER_PUBLISHER);
    expect(seen).toEqual(expected);
    // No gaps: the org's seqs are contiguous because nothing else published meanwhile.
    expect(expected[expected.length - 1] - expected[0]).toBe(expected.length - 1);
  });

  it('streams a range in batches without skipping', async () => {
    const before = await log.head();
    const res = await request(t.url)
      .post('/api/v1/events/batch')
      .set('X-Api-Key', publisher)
      .send({ events: Array.from({ length: 120 }, (_, i) => ({ type: 'comment_added', data: { i } })) });
    expect(res.status).toBe(201);
    const batches: number[] = [];
    const seqs: number[] = [];
    for await (const batch of log.stream(before, { organisation_id: 'org_log' }, 50)) {
      batches.push(batch.length);
      seqs.push(...batch.map((e) => e.seq));
    }
    expect(batches).toEqual([50, 50, 20]);
    expect(seqs).toEqual(res.body.events.map((e: { seq: number }) => e.seq));
  });

  it('a consumer batch and its checkpoint commit together or not at all', async () => {
    const consumer = `test-consumer-${Date.now()}`;
    const head = await log.head();
    await expect(
      log.processBatch(consumer, 10, async () => {
        throw new Error('handler failed');
      }),
    ).rejects.toThrow('handler failed');
    expect(await log.checkpoint(consumer)).toBe(0);

    let processed: number[] = [];
    let n: number;
    do {
      n = await log.processBatch(consumer, 100, async (events) => {
        processed = processed.concat(events.map((e) => e.seq));
      });
    } while (n > 0);
    expect(await log.checkpoint(consumer)).toBe(head);
    expect(processed).toEqual([...new Set(processed)].sort((a, b) => a - b));
    expect(processed[processed.length - 1]).toBe(head);
  });

  it('concurrent batches of a new consumer: the checkpoint row is made once and no seq is handled twice', async () => {
    const consumer = `test-consumer-race-${Date.now()}`;
    const head = await log.head();
    const handled: number[] = [];
    const drain = async () => {
      while (
        (await log.processBatch(consumer, 7, async (events) => void handled.push(...events.map((e) => e.seq)))) > 0
      );
    };
    await Promise.all([drain(), drain(), drain()]);
    expect(await log.checkpoint(consumer)).toBe(head);
    expect(handled).toHaveLength(new Set(handled).size);
    expect(handled).toEqual([...handled].sort((a, b) => a - b));
    expect(handled[handled.length - 1]).toBe(head);
  });

  it('prunes past retention and then refuses to replay from before it', async () => {
    const head = await log.head();
    await dispatchedThrough(t.url, head);
    const removed = await log.prune(Date.now() + 8 * 24 * 3600 * 1000);
    expect(removed).toBeGreaterThan(0);
    expect(await log.prunedThrough()).toBe(head);
    const gone = await request(t.url).get('/api/v1/events?after=0').set('X-Api-Key', publisher);
    expect(gone.status).toBe(410);
    expect(gone.body.message).toContain(`Events up to seq ${head} are past retention`);
    const fresh = await publish(t.url, publisher, {});
    const after = await request(t.url).get(`/api/v1/events?after=${head}`).set('X-Api-Key', publisher);
    expect(after.status).toBe(200);
    expect(after.body.data.map((e: { id: string }) => e.id)).toEqual([fresh.body.id]);
  });
});

describe('event log retention and the durable dispatcher', () => {
  const EIGHT_DAYS = 8 * 24 * 3600 * 1000;

  it('never prunes an event the dispatcher has not processed, however old; once processed it goes', async () => {
    const t = await startTestApp({ env: { DISPATCH_POLL_INTERVAL: '50ms' } });
    try {
      const log = t.app.get(EventLog);
      const dispatcher = t.app.get(Dispatcher);
      const publisher = await mintKey(t, { org: 'org_retain', scopes: ['events:publish', 'events:read'] });
      const processed = await publish(t.url, publisher, { data: { n: 1 } });
      await dispatchedThrough(t.url, processed.body.seq);

      // The durable consumer falls behind (its node is down, a batch is slow): these stay unprocessed.
      await dispatcher.beforeApplicationShutdown();
      const pending = [
        await publish(t.url, publisher, { data: { n: 2 } }),
        await publish(t.url, publisher, { data: { n: 3 } }),
      ];
      expect(await log.checkpoint(DISPATCHER_CONSUMER)).toBe(processed.body.seq);

      expect(await log.prune(Date.now() + EIGHT_DAYS)).toBe(1);
      expect(await log.prunedThrough()).toBe(processed.body.seq);
      const left = await request(t.url).get(`/api/v1/events?after=${processed.body.seq}`).set('X-Api-Key', publisher);
      expect(left.status).toBe(200);
      expect(left.body.data.map((e: { id: string }) => e.id)).toEqual(pending.map((p) => p.body.id));

      // The dispatcher resumes, works them off, and the next prune may take them.
      dispatcher.onApplicationBootstrap();
      await dispatchedThrough(t.url, pending[1].body.seq);
      expect(await log.prune(Date.now() + EIGHT_DAYS)).toBe(2);
      expect(await log.prunedThrough()).toBe(pending[1].body.seq);
    } finally {
      await t.close();
    }
  });
});
