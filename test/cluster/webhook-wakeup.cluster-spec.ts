import request from 'supertest';
import { Dispatcher } from '../../src/core/event-log/dispatcher.service';
import { DeliveryWorker } from '../../src/core/webhooks/delivery-worker.service';
import { mintKey } from '../support/credentials';
import { publish } from '../support/events';
import { clusterAvailable } from '../support/services';
import { waitFor } from '../support/sockets';
import { startTwoNodes, type TestApp } from '../support/test-app';
import type { TestDatabase } from '../support/test-database';
import { WebhookReceiver } from '../support/webhook-receiver';

const describeCluster = clusterAvailable ? describe : describe.skip;

const ORG = 'org_wakeup_cluster';

/**
 * Deliveries committed on one node wake the other nodes' workers through the bus, so they do
 * not wait for their next poll. Here the poll is an hour: the node that dispatches sends
 * nothing (its worker is stopped), and the other one can only have heard of the work.
 */
describeCluster('cluster: owed webhooks wake every node', () => {
  let database: TestDatabase;
  let a: TestApp;
  let b: TestApp;
  let receiver: WebhookReceiver;

  beforeAll(async () => {
    ({ a, b, database } = await startTwoNodes({
      WEBHOOK_ALLOW_PRIVATE: 'true',
      WEBHOOK_POLL_INTERVAL: '1h',
      DISPATCH_POLL_INTERVAL: '50ms',
    }));
    receiver = await WebhookReceiver.start('whsec_' + Buffer.from('wakeup-secret-wakeup-secret').toString('base64'));
  });
  afterAll(async () => {
    await receiver?.close();
    await a?.close();
    await b?.close();
    await database?.drop();
  });

  it('the node that did not dispatch delivers at once', async () => {
    await waitFor('a dispatcher', () => a.app.get(Dispatcher).isLeader || b.app.get(Dispatcher).isLeader);
    const [dispatching, other] = a.app.get(Dispatcher).isLeader ? [a, b] : [b, a];
    await dispatching.app.get(DeliveryWorker).beforeApplicationShutdown();
    const app = await mintKey(dispatching, {
      org: ORG,
      scopes: ['events:publish', 'events:read', 'notifications:write'],
    });
    const sub = await request(dispatching.url)
      .post('/api/v1/approval-notifications/subscriptions')
      .set('X-Api-Key', app)
      .send({ claim_id: 'clm_wake', user_id: 'usr_wake', webhook_url: receiver.url });
    expect(sub.status).toBe(201);

    for (let i = 0; i < 3; i++)
      expect(
        (await publish(dispatching.url, app, { type: 'comment_added', claim_id: 'clm_wake', user_id: 'usr_wake' }))
          .status,
      ).toBe(201);
    // Well inside the hour the other node would otherwise sleep.
    await waitFor('three deliveries from the other node', () => receiver.ids().length === 3, 15_000);
    expect(other.app.get(Dispatcher).isLeader).toBe(false);
  });
});
