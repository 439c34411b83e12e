import request from 'supertest';
import { Webhook } from 'standardwebhooks';
import { WebhooksService } from '../../src/core/webhooks/webhooks.service';
import { mintKey } from '../support/credentials';
import { clusterAvailable } from '../support/services';
import { waitFor } from '../support/sockets';
import { startTwoNodes, type TestApp } from '../support/test-app';
import type { TestDatabase } from '../support/test-database';
import { WebhookReceiver } from '../support/webhook-receiver';

// Two nodes need a shared Postgres and Redis (see webhooks.cluster-spec.ts).
const describeCluster = clusterAvailable ? describe : describe.skip;

const ORG = 'org_fair_cluster';
const CLAIM = 'clm_fair_cluster';
const ENDPOINT_CAP = 3;
const OWED = 20;
const ENV = {
  WEBHOOK_ALLOW_PRIVATE: 'true',
  WEBHOOK_POLL_INTERVAL: '50ms',
  DISPATCH_POLL_INTERVAL: '50ms',
  WEBHOOK_TIMEOUT: '60s',
  // Each node alone has slots for more than the cap: only a count over both nodes holds it.
  WEBHOOK_CONCURRENCY: '8',
  WEBHOOK_ENDPOINT_CONCURRENCY: String(ENDPOINT_CAP),
};

describeCluster('cluster: the per-endpoint cap holds across nodes', () => {
  let database: TestDatabase;
  let a: TestApp;
  let b: TestApp;
  let receiver: WebhookReceiver;

  beforeAll(async () => {
    ({ a, b, database } = await startTwoNodes(ENV));
    receiver = await WebhookReceiver.start('whsec_' + Buffer.from('unused-secret-unused-secret').toString('base64'));
  });
  afterAll(async () => {
    await receiver?.close();
    await a?.close();
    await b?.close();
    await database?.drop();
  });

  it(`an endpoint holding every request open has at most ${ENDPOINT_CAP} in flight from both nodes together; after release all arrive once`, async () => {
    const reader = await mintKey(a, { org: ORG, scopes: ['events:read'] });
    const created = await request(b.url)
      .post('/api/v1/approval-notifications/subscriptions')
      .set('X-Api-Key', reader)
      .send({ claim_id: CLAIM, user_id: 'usr_ops', webhook_url: receiver.url });
    expect(created.status).toBe(201);
    const verifier = new Webhook(created.body.signing_secret);
    receiver.hold();

    const publisher = await mintKey(a, { org: ORG, scopes: ['events:publish'] });
    const res = await request(a.url)
      .post('/api/v1/events/batch')
      .set('X-Api-Key', publisher)
      .send({
        events: Array.from({ length: OWED }, (_, i) => ({ type: 'comment_added', claim_id: CLAIM, data: { i } })),
      });
    expect(res.status).toBe(201);

    await waitFor('the endpoint at its cap', () => receiver.inFlight >= ENDPOINT_CAP);
    // Both nodes poll every 50 ms with free slots: time for either to send more, if it would.
    await new Promise((r) => setTimeout(r, 1000));
    expect(receiver.inFlight).toBe(ENDPOINT_CAP);
    expect(receiver.requests).toHaveLength(ENDPOINT_CAP);

    receiver.release();
    await waitFor('every owed delivery', () => receiver.requests.length >= OWED, 20_000);
    await new Promise((r) => setTimeout(r, 500));
    expect(receiver.maxInFlight).toBe(ENDPOINT_CAP);
    const events = receiver.requests.map(
      (r) => (verifier.verify(r.body, r.headers as Record<string, string>) as { id: string }).id,
    );
    expect([...events].sort()).toEqual(res.body.events.map((e: { id: string }) => e.id).sort());
    const log = await b.app.get(WebhooksService).listDeliveries({ organisation_id: ORG, limit: 100 });
    expect(log.every((d) => d.status === 'delivered' && d.attempts === 1)).toBe(true);
    expect([...receiver.ids()].sort()).toEqual(log.map((d) => d.id).sort());
  });
});
