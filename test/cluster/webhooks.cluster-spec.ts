import request from 'supertest';
import { RouterRegistry } from '../../src/core/bus/router-registry';
import { Database } from '../../src/core/database/database.service';
import { MetricsService } from '../../src/core/health/metrics.service';
import { newId } from '../../src/core/http/ids';
import { WebhooksService } from '../../src/core/webhooks/webhooks.service';
import { mintKey } from '../support/credentials';
import { clusterAvailable } from '../support/services';
import { waitFor } from '../support/sockets';
import { startTwoNodes, type TestApp } from '../support/test-app';
import type { TestDatabase } from '../support/test-database';
import { WebhookReceiver } from '../support/webhook-receiver';

// Two nodes need a shared Postgres and Redis; without TEST_DATABASE_URL and TEST_REDIS_URL
// there is no cluster to test (CI sets both, and REQUIRE_SERVICES=1 fails a run without them).
const describeCluster = clusterAvailable ? describe : describe.skip;

const ORG = 'org_wh_cluster';
const EVENTS = 200;
const ENV = {
  WEBHOOK_ALLOW_PRIVATE: 'true',
  WEBHOOK_POLL_INTERVAL: '50ms',
  DISPATCH_POLL_INTERVAL: '50ms',
  // Few slots per node and a slow receiver, so neither node can take the whole queue alone.
  WEBHOOK_CONCURRENCY: '4',
};

async function delivered(node: TestApp): Promise<number> {
  const metric = await node.app.get(MetricsService).registry.getSingleMetric('herald_webhook_deliveries_total')!.get();
  return metric.values.find((v) => v.labels.status === 'delivered')?.value ?? 0;
}

describeCluster('cluster: two nodes share the webhook queue', () => {
  let database: TestDatabase;
  let a: TestApp;
  let b: TestApp;
  let receiver: WebhookReceiver;
  let publisher: string;
  const endpointId = newId('sub');

  beforeAll(async () => {
    ({ a, b, database } = await startTwoNodes(ENV));
    // Whichever node runs the dispatcher routes events to the one endpoint.
    for (const node of [a, b]) {
      const webhooks = node.app.get(WebhooksService);
      node.app.get(RouterRegistry).addAtRuntime('durable', {
        name: 'webhooks-cluster',
        route: async (events, manager) => {
          const requests = events
            .filter((e) => e.data.endpoint === endpointId)
            .map((event) => ({ endpoint_id: endpointId, event }));
          if (requests.length) await webhooks.enqueue(manager, requests);
        },
      });
    }
    const secret = a.app.get(WebhooksService).generateSecret();
    receiver = await WebhookReceiver.start(secret);
    receiver.otherwise({ status: 200, delayMs: 20 });
    await a.app
      .get(Database)
      .transaction((m) =>
        a.app
          .get(WebhooksService)
          .saveEndpoint(m, { id: endpointId, kind: 'test', organisation_id: ORG, url: receiver.url, secret }),
      );
    publisher = await mintKey(b, { org: ORG, scopes: ['events:publish'] });
  });
  afterAll(async () => {
    await receiver?.close();
    await a?.close();
    await b?.close();
    await database?.drop();
  });

  it(`${EVENTS} events: every delivery arrives exactly once, sent by both nodes`, async () => {
    const res = await request(b.url)
      .post('/api/v1/events/batch')
      .set('X-Api-Key', publisher)
      .send({
        events: Array.from({ length: EVENTS }, (_, i) => ({
          type: 'claim_approved',
          data: { endpoint: endpointId, i },
        })),
      });
    expect(res.status).toBe(201);

    await waitFor('every delivery received', () => new Set(receiver.ids()).size === EVENTS, 30_000);
    // Time for a second copy of any delivery to show up, if there were one.
    await new Promise((r) => setTimeout(r, 500));
    expect(receiver.requests).toHaveLength(EVENTS);
    expect(receiver.requests.every((r) => r.verified)).toBe(true);

    const log = await a.app
      .get(WebhooksService)
      .listDeliveries({ organisation_id: ORG, endpoint_id: endpointId, limit: 500 });
    expect(log).toHaveLength(EVENTS);
    expect(log.every((d) => d.status === 'delivered' && d.attempts === 1)).toBe(true);
    expect(new Set(log.map((d) => d.id))).toEqual(new Set(receiver.ids()));
    expect(new Set(log.map((d) => d.event_id))).toEqual(new Set(res.body.events.map((e: { id: string }) => e.id)));

    const [byA, byB] = [await delivered(a), await delivered(b)];
    expect(byA + byB).toBe(EVENTS);
    expect(byA).toBeGreaterThan(0);
    expect(byB).toBeGreaterThan(0);
  });
});
