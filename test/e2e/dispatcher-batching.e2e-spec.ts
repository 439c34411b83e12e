import { RouterRegistry } from '../../src/core/bus/router-registry';
import { mintKey } from '../support/credentials';
import { itOnPostgres } from '../support/engines';
import { publish } from '../support/events';
import { Gate } from '../support/freeze';
import { waitFor } from '../support/sockets';
import { startTestApp, type TestApp } from '../support/test-app';

const ORG = 'org_dispatch_batching';

/** A durable router that records the seqs of every batch it is given, and can hold a batch at a gate. */
function recordBatches(t: TestApp, gate?: Gate): number[][] {
  const batches: number[][] = [];
  t.app.get(RouterRegistry).addAtRuntime('durable', {
    name: 'dispatcher-batching-e2e',
    route: async (events) => {
      const mine = events.filter((e) => e.organisation_id === ORG).map((e) => e.seq);
      if (!mine.length) return;
      batches.push(mine);
      await gate?.pass();
    },
  });
  return batches;
}

async function publishOne(t: TestApp, key: string): Promise<number> {
  const res = await publish(t.url, key, { claim_id: 'clm_batching' });
  expect(res.status).toBe(201);
  return res.body.seq as number;
}

/**
 * The dispatcher wakes on live events, and under a steady stream lets events gather between
 * batches (DISPATCH_BATCH_WAIT). The poll is an hour here, so whatever is dispatched was woken.
 */
describe('dispatcher wake-ups and batching', () => {
  describe('with a short gathering wait', () => {
    let t: TestApp;
    let key: string;
    const gate = new Gate();
    let batches: number[][];

    beforeAll(async () => {
      // The in-process bus: a wake-up arrives as the append commits, inside the held batch (through
      // Redis it could arrive after the batch, and the first case would not test anything).
      t = await startTestApp({ env: { DISPATCH_POLL_INTERVAL: '1h', DISPATCH_BATCH_WAIT: '2s' }, redis: false });
      key = await mintKey(t, { org: ORG, scopes: ['events:publish'] });
      batches = recordBatches(t, gate);
    });
    afterAll(async () => {
      gate.reopen();
      await t?.close();
    });
    beforeEach(() => batches.splice(0));

    // On SQLite an append cannot commit while the batch's transaction is open.
    itOnPostgres(
      'an event committed while a batch runs is dispatched right after it, not at the next poll',
      async () => {
        gate.shut();
        const first = await publishOne(t, key);
        await waitFor('the first batch held in the router', () => gate.waiting === 1);
        // Its wake-up arrives while the dispatcher is busy with the first batch.
        const second = await publishOne(t, key);
        gate.reopen();
        await waitFor('the second event dispatched', () => batches.flat().includes(second), 10_000);
        expect(batches.flat()).toEqual([first, second]);
      },
    );

    it('a burst of events is dispatched in a few batches, not one per event', async () => {
      const seqs: number[] = [];
      for (let i = 0; i < 10; i++) seqs.push(await publishOne(t, key));
      await waitFor('the whole burst dispatched', () => batches.flat().length === seqs.length, 10_000);
      expect(batches.flat()).toEqual(seqs);
      // Events gather while the dispatcher waits between batches (2 s): ten sequential publishes
      // span at most a couple of such waits, where without it each is a batch of its own.
      expect(batches.length).toBeLessThanOrEqual(3);
    });
  });

  describe('with a long gathering wait', () => {
    let t: TestApp;
    let key: string;
    let batches: number[][];

    beforeAll(async () => {
      t = await startTestApp({ env: { DISPATCH_POLL_INTERVAL: '1h', DISPATCH_BATCH_WAIT: '1h' } });
      key = await mintKey(t, { org: ORG, scopes: ['events:publish'] });
      batches = recordBatches(t);
    });
    afterAll(async () => {
      // Shutdown ends the wait between batches: this would otherwise hang for the hour.
      await t?.close();
    });

    it('the first event after a quiet spell is dispatched at once', async () => {
      const seq = await publishOne(t, key);
      await waitFor('the event dispatched', () => batches.flat().includes(seq), 10_000);
      expect(batches).toEqual([[seq]]);
    });
  });
});
