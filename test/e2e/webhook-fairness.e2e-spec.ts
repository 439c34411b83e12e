import request from 'supertest';
import { Webhook } from 'standardwebhooks';
import { WebhooksService } from '../../src/core/webhooks/webhooks.service';
import { mintKey } from '../support/credentials';
import { waitFor } from '../support/sockets';
import { startTestApp, TestApp } from '../support/test-app';
import { WebhookReceiver } from '../support/webhook-receiver';

const SUBSCRIPTIONS = '/api/v1/approval-notifications/subscriptions';
const SLOTS = 4;
const ENDPOINT_CAP = 2;
const OWED = 12;

/** One organisation with a claim webhook subscription (seed 002) to a local receiver of its own. */
interface Tenant {
  org: string;
  claim: string;
  publisher: string;
  receiver: WebhookReceiver;
  verifier: Webhook;
}

/**
 * Noisy neighbour: one organisation's receiver that never answers must not hold up another
 * organisation's webhooks, nor get more than its endpoint's share of the delivery slots.
 */
describe('webhook fairness across organisations', () => {
  let t: TestApp;
  const receivers: WebhookReceiver[] = [];

  beforeAll(async () => {
    t = await startTestApp({
      env: {
        WEBHOOK_ALLOW_PRIVATE: 'true',
        WEBHOOK_CONCURRENCY: String(SLOTS),
        WEBHOOK_ENDPOINT_CONCURRENCY: String(ENDPOINT_CAP),
        // Held requests must stay held for the whole test rather than time out.
        WEBHOOK_TIMEOUT: '60s',
        // Far longer than the test: every claim here must come from a wake-up (new work, or a
        // finished request freeing an endpoint's slot), never from the poll.
        WEBHOOK_POLL_INTERVAL: '60s',
        DISPATCH_POLL_INTERVAL: '50ms',
      },
    });
  });
  afterAll(async () => {
    for (const r of receivers) await r.close();
    await t?.close();
  });

  async function tenant(org: string, claim: string): Promise<Tenant> {
    // The receiver's own check uses a throwaway secret; requests are verified with the subscription's.
    const receiver = await WebhookReceiver.start(
      'whsec_' + Buffer.from('unused-secret-unused-secret').toString('base64'),
    );
    receivers.push(receiver);
    const reader = await mintKey(t, { org, scopes: ['events:read'] });
    const created = await request(t.url)
      .post(SUBSCRIPTIONS)
      .set('X-Api-Key', reader)
      .send({ claim_id: claim, user_id: 'usr_ops', webhook_url: receiver.url });
    expect(created.status).toBe(201);
    const publisher = await mintKey(t, { org, scopes: ['events:publish'] });
    return { org, claim, publisher, receiver, verifier: new Webhook(created.body.signing_secret) };
  }

  async function publish(to: Tenant, count: number): Promise<string[]> {
    const res = await request(t.url)
      .post('/api/v1/events/batch')
      .set('X-Api-Key', to.publisher)
      .send({
        events: Array.from({ length: count }, (_, i) => ({ type: 'comment_added', claim_id: to.claim, data: { i } })),
      });
    expect(res.status).toBe(201);
    return res.body.events.map((e: { id: string }) => e.id);
  }

  /** The event ids the receiver got, each request's signature checked with the subscription's secret. */
  function eventsAt(to: Tenant): string[] {
    return to.receiver.requests.map(
      (r) => (to.verifier.verify(r.body, r.headers as Record<string, string>) as { id: string }).id,
    );
  }

  it('a receiver that holds every request open gets at most its cap; another organisation’s webhook still arrives; after release all arrive once', async () => {
    const slow = await tenant('org_fair_slow', 'clm_fair_slow');
    const other = await tenant('org_fair_other', 'clm_fair_other');
    slow.receiver.hold({ status: 200 });

    const owed = await publish(slow, OWED);
    await waitFor('the slow endpoint holding its cap of requests', () => slow.receiver.inFlight >= ENDPOINT_CAP);

    const [otherEvent] = await publish(other, 1);
    await waitFor('the other organisation’s webhook', () => other.receiver.requests.length === 1);
    expect(eventsAt(other)).toEqual([otherEvent]);
    // …while the slow endpoint's first requests are still held, and no more were sent to it.
    expect(slow.receiver.inFlight).toBe(ENDPOINT_CAP);
    expect(slow.receiver.requests).toHaveLength(ENDPOINT_CAP);
    expect(slow.receiver.maxInFlight).toBe(ENDPOINT_CAP);

    slow.receiver.release();
    await waitFor('every owed delivery at the slow endpoint', () => slow.receiver.requests.length >= OWED, 20_000);
    // Time for a duplicate to show up, if there were one.
    await new Promise((r) => setTimeout(r, 300));

    expect(slow.receiver.maxInFlight).toBeLessThanOrEqual(ENDPOINT_CAP);
    expect([...eventsAt(slow)].sort()).toEqual([...owed].sort());
    const log = await t.app.get(WebhooksService).listDeliveries({ organisation_id: slow.org, limit: 100 });
    expect(log).toHaveLength(OWED);
    expect(log.every((d) => d.status === 'delivered' && d.attempts === 1)).toBe(true);
    // Each delivery arrived once, under the webhook-id the log shows for it (the held ones too).
    expect([...slow.receiver.ids()].sort()).toEqual(log.map((d) => d.id).sort());
    const idOf = new Map(log.map((d) => [d.event_id, d.id]));
    expect(slow.receiver.requests.every((r, i) => r.id === idOf.get(eventsAt(slow)[i]))).toBe(true);
  });

  it('a freed slot goes to an organisation with nothing in flight before an older backlog; backlogs drain on wake-ups alone', async () => {
    const first = await tenant('org_fair_first', 'clm_fair_first');
    const second = await tenant('org_fair_second', 'clm_fair_second');
    const quick = await tenant('org_fair_quick', 'clm_fair_quick');
    first.receiver.hold();
    second.receiver.hold();

    const firstOwed = await publish(first, OWED);
    await waitFor('the first endpoint at its cap', () => first.receiver.inFlight >= ENDPOINT_CAP);
    const secondOwed = await publish(second, OWED);
    await waitFor('the second endpoint at its cap', () => second.receiver.inFlight >= ENDPOINT_CAP);
    // Every slot is held now (2 + 2 of 4), so the quick organisation's webhooks wait for one.
    const quickOwed = await publish(quick, 3);
    await waitFor(
      'the quick organisation’s deliveries queued',
      async () =>
        (await t.app.get(WebhooksService).listDeliveries({ organisation_id: quick.org, limit: 10 })).length === 3,
    );
    expect(quick.receiver.requests).toHaveLength(0);

    // The second endpoint answers the two it holds, then holds again whatever it gets next. Its
    // backlog is older than the quick organisation's, but the freed slots go to the organisation
    // with fewer requests in flight; a global FIFO would hand both straight back to the backlog.
    second.receiver.release();
    second.receiver.hold();
    await waitFor('the quick organisation’s webhooks', () => quick.receiver.requests.length === 3);
    expect([...eventsAt(quick)].sort()).toEqual([...quickOwed].sort());
    expect(first.receiver.requests).toHaveLength(ENDPOINT_CAP);
    expect(first.receiver.inFlight).toBe(ENDPOINT_CAP);

    second.receiver.release();
    first.receiver.release();
    await waitFor(
      'both backlogs',
      () => first.receiver.requests.length >= OWED && second.receiver.requests.length >= OWED,
      20_000,
    );
    await new Promise((r) => setTimeout(r, 300));
    expect([...eventsAt(first)].sort()).toEqual([...firstOwed].sort());
    expect([...eventsAt(second)].sort()).toEqual([...secondOwed].sort());
    expect(quick.receiver.requests).toHaveLength(3);
    for (const r of [first, second, quick]) expect(r.receiver.maxInFlight).toBeLessThanOrEqual(ENDPOINT_CAP);
  });
});
