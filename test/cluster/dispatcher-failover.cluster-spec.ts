import { jest } from '@jest/globals';
import request from 'supertest';
import { BusRpc } from '../../src/core/bus/bus-rpc';
import { Database } from '../../src/core/database/database.service';
import { DispatcherLeaseStore, LeaseLostError } from '../../src/core/event-log/dispatcher-lease.store';
import { Dispatcher } from '../../src/core/event-log/dispatcher.service';
import { DISPATCHER_CONSUMER, EventLog } from '../../src/core/event-log/event-log.service';
import { MetricsService } from '../../src/core/health/metrics.service';
import { mintKey } from '../support/credentials';
import { dispatchedThrough, publish } from '../support/events';
import { captureLogs, Gate, holdCalls } from '../support/freeze';
import { clusterAvailable } from '../support/services';
import { waitFor } from '../support/sockets';
import { startTwoNodes, type TestApp } from '../support/test-app';
import type { TestDatabase } from '../support/test-database';
import { WebhookReceiver } from '../support/webhook-receiver';

// Needs a shared Postgres and Redis (see pipeline.cluster-spec.ts).
const describeCluster = clusterAvailable ? describe : describe.skip;

const LEASE_MS = 2000;
const ENV = {
  DISPATCHER_LEASE: `${LEASE_MS / 1000}s`,
  DISPATCH_POLL_INTERVAL: '50ms',
  WEBHOOK_ALLOW_PRIVATE: 'true',
  WEBHOOK_POLL_INTERVAL: '50ms',
};
const ORG = 'org_failover';
const USER = 'usr_failover';
const CLAIM = 'clm_failover';

async function metric(node: TestApp, name: string, labels: Record<string, string> = {}): Promise<number> {
  const found = await node.app.get(MetricsService).registry.getSingleMetric(name)?.get();
  if (!found) throw new Error(`metric ${name} missing`);
  return found.values.find((v) => Object.entries(labels).every(([k, want]) => v.labels[k] === want))?.value ?? 0;
}

describeCluster('cluster: the dispatcher fails over from a frozen node', () => {
  let database: TestDatabase;
  let a: TestApp;
  let b: TestApp;
  let receiver: WebhookReceiver;
  let logs: ReturnType<typeof captureLogs>;
  const gates: Gate[] = [];

  beforeAll(async () => {
    logs = captureLogs();
    ({ a, b, database } = await startTwoNodes(ENV));
    receiver = await WebhookReceiver.start('whsec_' + Buffer.from('unused-secret-unused-secret').toString('base64'));
  });
  afterAll(async () => {
    for (const gate of gates) gate.reopen();
    jest.restoreAllMocks();
    logs?.restore();
    await receiver?.close();
    await a?.close();
    await b?.close();
    await database?.drop();
  });

  it('the other node takes the lease and carries on; the frozen one, woken, cannot commit its stale batch', async () => {
    const publisher = await mintKey(a, { org: ORG, scopes: ['events:publish'] });
    const employee = await mintKey(a, { org: ORG, user: USER, scopes: ['events:read'] });
    const subscription = await request(a.url)
      .post('/api/v1/approval-notifications/subscriptions')
      .set('X-Api-Key', employee)
      .send({ claim_id: CLAIM, user_id: USER, webhook_url: receiver.url });
    expect(subscription.status).toBe(201);
    const channel = await request(a.url)
      .post('/api/v1/realtime-subscriptions/user')
      .set('X-Api-Key', employee)
      .send({ user_id: USER });
    expect(channel.status).toBe(201);
    const eventCount = async () =>
      (await request(a.url).get(`/api/v1/realtime-subscriptions/${channel.body.channel_id}`).set('X-Api-Key', employee))
        .body.event_count as number;
    const deliveredIds = () => receiver.requests.map((r) => JSON.parse(r.body).id as string);
    const send = async (n: number) => {
      const res = await publish(a.url, publisher, {
        type: 'comment_added',
        claim_id: CLAIM,
        user_id: USER,
        data: { n },
      });
      expect(res.status).toBe(201);
      return res.body as { id: string; seq: number };
    };

    await waitFor('one active dispatcher', () => a.app.get(Dispatcher).isLeader !== b.app.get(Dispatcher).isLeader);
    const [frozen, other] = a.app.get(Dispatcher).isLeader ? [a, b] : [b, a];
    const frozenNode = frozen.app.get(BusRpc).nodeId;
    const otherNode = other.app.get(BusRpc).nodeId;
    expect(await metric(frozen, 'herald_dispatcher_active')).toBe(1);
    expect(await metric(other, 'herald_dispatcher_active')).toBe(0);

    const before = await send(1);
    await waitFor('the first webhook', () => deliveredIds().includes(before.id));
    await waitFor('the first count', async () => (await eventCount()) === 1);

    // Freeze the active node: its dispatch loop and its lease calls stop where they are, its
    // database sessions stay open. (Its HTTP side and webhook worker keep going: they are not
    // what this test is about, and events are published through either node alike.)
    const frozenBatches = new Gate();
    const frozenLease = new Gate();
    gates.push(frozenBatches, frozenLease);
    frozenBatches.shut();
    frozenLease.shut();
    const staleBatches = holdCalls(frozen.app.get(EventLog), 'processBatch', frozenBatches);
    for (const method of ['acquire', 'renew', 'release'] as const)
      void holdCalls(DispatcherLeaseStore.prototype, method, frozenLease, (args) => args[0] === frozenNode);
    await waitFor('the frozen node stopped with a batch in hand', () => frozenBatches.waiting === 1);

    const during = await send(2);
    await waitFor('the other node takes the lease', () => other.app.get(Dispatcher).isLeader, LEASE_MS * 3);
    const leases = new DispatcherLeaseStore(other.app.get(Database));
    const lease = (await leases.current())!;
    expect(lease.holder).toBe(otherNode);
    const firstTerm = lease.term - 1;
    expect(firstTerm).toBeGreaterThan(0);
    expect(await metric(other, 'herald_dispatcher_active')).toBe(1);
    expect(await metric(other, 'herald_dispatcher_term')).toBe(firstTerm + 1);
    expect(await metric(other, 'herald_dispatcher_leadership_changes_total', { change: 'acquired' })).toBe(1);
    const takeover = logs.lines.filter((l) => l.message === 'dispatcher lease acquired' && l.fields.node === otherNode);
    expect(takeover).toEqual([
      {
        level: 'log',
        message: 'dispatcher lease acquired',
        fields: expect.objectContaining({ term: firstTerm + 1, previousHolder: frozenNode, previousTerm: firstTerm }),
      },
    ]);

    // Webhooks and channel counts carry on.
    await waitFor('the webhook of an event published during the freeze', () => deliveredIds().includes(during.id));
    await waitFor('its count', async () => (await eventCount()) === 2);

    // Hold the new dispatcher's loop for a moment (its lease renewals go on), so an event is
    // waiting in the log when the frozen node wakes with the batch it had in hand.
    const otherBatches = new Gate();
    gates.push(otherBatches);
    otherBatches.shut();
    void holdCalls(other.app.get(EventLog), 'processBatch', otherBatches);
    await waitFor('the new dispatcher between batches', () => otherBatches.waiting === 1);
    const waking = await send(3);
    const checkpoint = await other.app.get(EventLog).checkpoint(DISPATCHER_CONSUMER);
    expect(checkpoint).toBe(during.seq);

    // The frozen node wakes. Its batch reads the waiting event, but the fencing check in the
    // batch's transaction finds the lease under another term: the batch rolls back.
    frozenBatches.reopen();
    expect(staleBatches).toHaveLength(1);
    await expect(staleBatches[0]).rejects.toBeInstanceOf(LeaseLostError);
    expect(await other.app.get(EventLog).checkpoint(DISPATCHER_CONSUMER)).toBe(checkpoint);
    const rows = async () =>
      (await other.app
        .get(Database)
        .read((m) => m.query('SELECT event_id, COUNT(*) AS n FROM webhook_deliveries GROUP BY event_id'))) as {
        event_id: string;
        n: number | string;
      }[];
    expect((await rows()).find((r) => r.event_id === waking.id)).toBeUndefined();
    await waitFor('the woken node steps down', () =>
      logs.lines.some((l) => l.message === 'dispatcher lease lost' && l.fields.node === frozenNode),
    );
    expect(logs.lines.filter((l) => l.message === 'dispatcher lease lost' && l.fields.node === frozenNode)).toEqual([
      {
        level: 'warn',
        message: 'dispatcher lease lost',
        fields: { node: frozenNode, term: firstTerm, reason: 'another node took the lease; the batch was rolled back' },
      },
    ]);
    expect(frozen.app.get(Dispatcher).isLeader).toBe(false);
    expect(await metric(frozen, 'herald_dispatcher_active')).toBe(0);
    expect(await metric(frozen, 'herald_dispatcher_leadership_changes_total', { change: 'lost' })).toBe(1);

    // The rest of the node wakes too: its renewal and retries find the lease held elsewhere.
    frozenLease.reopen();
    otherBatches.reopen();
    await waitFor('the waiting event delivered by the new dispatcher', () => deliveredIds().includes(waking.id));
    await dispatchedThrough(other.url, waking.seq);
    await waitFor('its count', async () => (await eventCount()) === 3);

    // Exactly once on the durable path: one delivery row per event, one webhook per event, one count per event.
    await new Promise((r) => setTimeout(r, LEASE_MS));
    const perEvent = new Map((await rows()).map((r) => [r.event_id, Number(r.n)]));
    expect(perEvent).toEqual(new Map([before.id, during.id, waking.id].map((id) => [id, 1])));
    expect(deliveredIds().sort()).toEqual([before.id, during.id, waking.id].sort());
    expect(await eventCount()).toBe(3);
    expect(other.app.get(Dispatcher).isLeader).toBe(true);
    expect(frozen.app.get(Dispatcher).isLeader).toBe(false);
    expect(await leases.current()).toMatchObject({ holder: otherNode, term: firstTerm + 1 });
  });
});
