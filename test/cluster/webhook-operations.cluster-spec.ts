import request from 'supertest';
import { DeliveryWorker } from '../../src/core/webhooks/delivery-worker.service';
import { MetricsService } from '../../src/core/health/metrics.service';
import { mintKey } from '../support/credentials';
import { publish } from '../support/events';
import { clusterAvailable } from '../support/services';
import { waitFor } from '../support/sockets';
import { startTwoNodes, type TestApp } from '../support/test-app';
import type { TestDatabase } from '../support/test-database';
import { WebhookReceiver } from '../support/webhook-receiver';

// Two nodes need a shared Postgres and Redis; CI sets both (REQUIRE_SERVICES=1 fails a run without them).
const describeCluster = clusterAvailable ? describe : describe.skip;

const ORG = 'org_ops_cluster';
const LOG = '/api/v1/webhook-deliveries';

async function deliveredBy(node: TestApp): Promise<number> {
  const metric = await node.app.get(MetricsService).registry.getSingleMetric('herald_webhook_deliveries_total')!.get();
  return metric.values.filter((v) => v.labels.status === 'delivered').reduce((n, v) => n + v.value, 0);
}

/**
 * Resend and recover are asked of node A, whose worker is stopped; node B's worker, which nobody
 * wakes, must find the requeued deliveries in the shared database and send them under their ids.
 */
describeCluster('cluster: resend and recover on one node, delivered by the other', () => {
  let database: TestDatabase;
  let a: TestApp;
  let b: TestApp;
  let receiver: WebhookReceiver;
  let app: string;

  beforeAll(async () => {
    ({ a, b, database } = await startTwoNodes({
      WEBHOOK_ALLOW_PRIVATE: 'true',
      WEBHOOK_POLL_INTERVAL: '50ms',
      DISPATCH_POLL_INTERVAL: '50ms',
      WEBHOOK_RETRY_SCHEDULE: '100ms',
      WEBHOOK_RECOVER_RATE: '20',
    }));
    // Node A takes requests but sends nothing: its worker stops claiming.
    await a.app.get(DeliveryWorker).beforeApplicationShutdown();
    receiver = await WebhookReceiver.start('whsec_' + Buffer.from('unused-secret-unused-secret').toString('base64'));
    app = await mintKey(a, { org: ORG, scopes: ['events:publish', 'events:read', 'notifications:write'] });
  });
  afterAll(async () => {
    await receiver?.close();
    await a?.close();
    await b?.close();
    await database?.drop();
  });

  it('recovers failed deliveries and resends a delivered one; node B sends them under the same webhook-ids', async () => {
    const sub = await request(a.url)
      .post('/api/v1/approval-notifications/subscriptions')
      .set('X-Api-Key', app)
      .send({ claim_id: 'clm_ops', user_id: 'usr_ops', webhook_url: receiver.url });
    expect(sub.status).toBe(201);
    const id = sub.body.subscription_id as string;
    const since = new Date().toISOString();

    receiver.otherwise({ status: 503 });
    for (let i = 0; i < 3; i++)
      expect(
        (await publish(a.url, app, { type: 'comment_added', claim_id: 'clm_ops', user_id: 'usr_ops' })).status,
      ).toBe(201);
    let failed: { id: string }[] = [];
    await waitFor('three failed deliveries', async () => {
      const res = await request(a.url).get(LOG).query({ subscription_id: id, status: 'failed' }).set('X-Api-Key', app);
      failed = res.body.data;
      return failed.length === 3;
    });
    const firstTries = receiver.ids();
    expect(firstTries).toHaveLength(6);

    receiver.otherwise({ status: 200 });
    const deliveredBefore = await deliveredBy(b);
    const recovered = await request(a.url)
      .post(`/api/v1/approval-notifications/subscriptions/${id}/recover`)
      .set('X-Api-Key', app)
      .send({ since });
    expect(recovered.status).toBe(202);
    expect(recovered.body).toMatchObject({ queued: 3, skipped: 0 });
    await waitFor('three recovered deliveries', () => receiver.requests.length === 9);
    expect(receiver.ids().slice(6)).toEqual(failed.map((d) => d.id).reverse());
    await waitFor('recorded by node B', async () => (await deliveredBy(b)) === deliveredBefore + 3);

    const target = failed[0].id;
    const resent = await request(a.url).post(`${LOG}/${target}/resend`).set('X-Api-Key', app);
    expect(resent.status).toBe(202);
    await waitFor('resent', () => receiver.requests.length === 10);
    expect(receiver.requests[9].id).toBe(target);
    await waitFor('resend recorded by node B', async () => (await deliveredBy(b)) === deliveredBefore + 4);
    const detail = await request(a.url).get(`${LOG}/${target}`).set('X-Api-Key', app);
    expect(detail.body.attempts.map((x: { outcome: string }) => x.outcome)).toEqual([
      'retrying',
      'failed',
      'delivered',
      'delivered',
    ]);
    // Node A sent nothing.
    expect(await deliveredBy(a)).toBe(0);
  });
});
