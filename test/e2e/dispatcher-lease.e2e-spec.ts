import { jest } from '@jest/globals';
import { BusRpc } from '../../src/core/bus/bus-rpc';
import { Database } from '../../src/core/database/database.service';
import { DispatcherLeaseStore } from '../../src/core/event-log/dispatcher-lease.store';
import { Dispatcher } from '../../src/core/event-log/dispatcher.service';
import { DISPATCHER_CONSUMER, EventLog } from '../../src/core/event-log/event-log.service';
import { MetricsService } from '../../src/core/health/metrics.service';
import { mintKey } from '../support/credentials';
import { dispatchedThrough, publish } from '../support/events';
import { captureLogs, Gate, holdCalls } from '../support/freeze';
import { waitFor } from '../support/sockets';
import { startTestApp, type TestApp } from '../support/test-app';
import { createTestDatabase } from '../support/test-database';

async function metric(t: TestApp, name: string, labels: Record<string, string> = {}): Promise<number> {
  const found = await t.app.get(MetricsService).registry.getSingleMetric(name)?.get();
  if (!found) throw new Error(`metric ${name} missing`);
  return found.values.find((v) => Object.entries(labels).every(([k, want]) => v.labels[k] === want))?.value ?? 0;
}

describe('the dispatcher lease on one node', () => {
  let t: TestApp;
  let logs: ReturnType<typeof captureLogs>;
  const renewals = new Gate();

  beforeAll(async () => {
    logs = captureLogs();
    t = await startTestApp({ env: { DISPATCH_POLL_INTERVAL: '50ms', DISPATCHER_LEASE: '3s' } });
  });
  afterEach(() => {
    renewals.reopen();
    jest.restoreAllMocks();
  });
  afterAll(async () => {
    logs?.restore();
    await t?.close();
  });

  it('a batch under a lease another node has taken rolls back; the node stands by and takes the lease again once released', async () => {
    const node = t.app.get(BusRpc).nodeId;
    const dispatcher = t.app.get(Dispatcher);
    const log = t.app.get(EventLog);
    const leases = new DispatcherLeaseStore(t.app.get(Database));
    const publisher = await mintKey(t, { org: 'org_lease', scopes: ['events:publish'] });

    await waitFor('the lease', () => dispatcher.isLeader);
    const first = await publish(t.url, publisher, { data: { n: 1 } });
    await dispatchedThrough(t.url, first.body.seq);

    // Its renewals stall (a slow database, a paused process) while another node takes the lease.
    renewals.shut();
    void holdCalls(DispatcherLeaseStore.prototype, 'renew', renewals, (args) => args[0] === node);
    const taken = await leases.acquire('node-elsewhere', 60_000, { evenUnexpired: true });

    // The next event wakes the dispatcher, whose own view still says it holds the lease.
    const second = await publish(t.url, publisher, { data: { n: 2 } });
    await waitFor('the lease lost', () => !dispatcher.isLeader, 2000);
    expect(taken).toMatchObject({ acquired: true, previous: { holder: node } });
    const term = (taken as { term: number }).term - 1;
    const lost = logs.lines.filter((l) => l.message === 'dispatcher lease lost' && l.fields.node === node);
    expect(lost).toEqual([
      {
        level: 'warn',
        message: 'dispatcher lease lost',
        fields: { node, term, reason: 'another node took the lease; the batch was rolled back' },
      },
    ]);
    await new Promise((r) => setTimeout(r, 300));
    expect(await log.checkpoint(DISPATCHER_CONSUMER)).toBe(first.body.seq);
    expect(await metric(t, 'herald_dispatcher_active')).toBe(0);
    expect(await metric(t, 'herald_dispatcher_term')).toBe(0);
    expect(await metric(t, 'herald_dispatcher_leadership_changes_total', { change: 'lost' })).toBe(1);
    renewals.reopen();

    // Released, it comes back to this node within a retry interval, under a new term, and the event is processed.
    expect(await leases.release('node-elsewhere', term + 1)).toBe(true);
    await waitFor('the lease back', () => dispatcher.isLeader, 5000);
    await dispatchedThrough(t.url, second.body.seq);
    expect(await leases.current()).toMatchObject({ holder: node, term: term + 2 });
    const acquired = logs.lines.filter((l) => l.message === 'dispatcher lease acquired' && l.fields.node === node);
    expect(acquired.at(-1)).toMatchObject({
      level: 'log',
      fields: { term: term + 2, previousHolder: 'node-elsewhere', previousTerm: term + 1 },
    });
    expect(await metric(t, 'herald_dispatcher_term')).toBe(term + 2);
  });

  it('after a crash that left the lease held, a restarted SQLite process (the only one) takes it at once; on Postgres it runs out first', async () => {
    const database = createTestDatabase();
    const env = { DISPATCH_POLL_INTERVAL: '50ms', DISPATCHER_LEASE: '60s' };
    const crashed = await startTestApp({ database, env });
    const crashedNode = crashed.app.get(BusRpc).nodeId;
    await waitFor('the lease', () => crashed.app.get(Dispatcher).isLeader);
    // A crash releases nothing.
    jest.spyOn(DispatcherLeaseStore.prototype, 'release').mockResolvedValue(false);
    await crashed.close();
    jest.restoreAllMocks();

    const restarted = await startTestApp({ database, env });
    try {
      const publisher = await mintKey(restarted, { org: 'org_restart', scopes: ['events:publish'] });
      const event = await publish(restarted.url, publisher, {});
      if (database.engine === 'sqlite') {
        await dispatchedThrough(restarted.url, event.body.seq, 2000);
        expect(restarted.app.get(Dispatcher).isLeader).toBe(true);
      } else {
        await new Promise((r) => setTimeout(r, 500));
        expect(restarted.app.get(Dispatcher).isLeader).toBe(false);
        expect(await new DispatcherLeaseStore(restarted.app.get(Database)).current()).toMatchObject({
          holder: crashedNode,
        });
      }
    } finally {
      await restarted.close();
      await database.drop();
    }
  });

  it('nodes racing for an expired lease: exactly one gets it', async () => {
    await t.app.get(Dispatcher).beforeApplicationShutdown();
    const leases = new DispatcherLeaseStore(t.app.get(Database));
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => leases.acquire(`racer-${i}`, 60_000)));
    const winners = results.filter((r) => r.acquired);
    expect(winners).toHaveLength(1);
    const holder = (await leases.current())!;
    expect(holder.holder).toMatch(/^racer-/);
    expect(winners[0]).toMatchObject({ term: holder.term });
  });
});
