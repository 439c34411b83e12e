import request from 'supertest';
import { RouterRegistry } from '../../src/core/bus/router-registry';
import { Database } from '../../src/core/database/database.service';
import { newId } from '../../src/core/http/ids';
import type { DeliveryLogEntry } from '../../src/core/webhooks/webhook.types';
import { WebhooksService } from '../../src/core/webhooks/webhooks.service';
import { mintKey } from '../support/credentials';
import { sample } from '../support/metrics';
import { publish } from '../support/events';
import { waitFor } from '../support/sockets';
import { startTestApp, TestApp } from '../support/test-app';
import { WebhookReceiver } from '../support/webhook-receiver';

const ORG = 'org_signals';
const GAVE_UP = 'webhook delivery gave up';

/**
 * Operator signals of the delivery engine, through the real app and real receivers: the counters
 * and gauges on /metrics, and the one warn line per delivery that is given up.
 */
describe('webhook delivery signals', () => {
  let t: TestApp;
  let webhooks: WebhooksService;
  let publisher: string;
  let log = '';
  const write = process.stdout.write;
  const receivers: WebhookReceiver[] = [];

  beforeAll(async () => {
    // pino writes to process.stdout itself when its write has been replaced before the logger is made.
    process.stdout.write = ((chunk: string | Uint8Array) => {
      log += chunk.toString();
      return true;
    }) as typeof process.stdout.write;
    t = await startTestApp({
      env: {
        LOG_LEVEL: 'info',
        WEBHOOK_ALLOW_PRIVATE: 'true',
        WEBHOOK_RETRY_SCHEDULE: '100ms,100ms',
        WEBHOOK_POLL_INTERVAL: '50ms',
        DISPATCH_POLL_INTERVAL: '50ms',
      },
    });
    webhooks = t.app.get(WebhooksService);
    t.app.get(RouterRegistry).addAtRuntime('durable', {
      name: 'webhook-signals-e2e',
      route: async (events, manager) => {
        const requests = events
          .filter((e) => typeof e.data.endpoint === 'string')
          .map((event) => ({ endpoint_id: event.data.endpoint as string, event }));
        if (requests.length) await webhooks.enqueue(manager, requests);
      },
    });
    publisher = await mintKey(t, { org: ORG, scopes: ['events:publish'] });
  });
  afterAll(async () => {
    for (const r of receivers) await r.close();
    await t?.close();
    process.stdout.write = write;
  });

  async function endpoint(kind: string): Promise<{ id: string; receiver: WebhookReceiver }> {
    const secret = webhooks.generateSecret();
    const receiver = await WebhookReceiver.start(secret);
    receivers.push(receiver);
    const id = newId('sub');
    await t.app
      .get(Database)
      .transaction((m) => webhooks.saveEndpoint(m, { id, kind, organisation_id: ORG, url: receiver.url, secret }));
    return { id, receiver };
  }

  async function send(endpointId: string): Promise<string> {
    const res = await publish(t.url, publisher, {
      type: 'claim_approved',
      claim_id: 'clm_1',
      data: { endpoint: endpointId },
    });
    expect(res.status).toBe(201);
    return res.body.id as string;
  }

  async function settled(endpointId: string, eventId: string, status: DeliveryLogEntry['status']) {
    let found: DeliveryLogEntry | undefined;
    await waitFor(`${status} delivery of ${eventId}`, async () => {
      found = (await webhooks.listDeliveries({ organisation_id: ORG, endpoint_id: endpointId, limit: 10 })).find(
        (d) => d.event_id === eventId,
      );
      return found?.status === status;
    });
    return found!;
  }

  it('counts deliveries by final status and owner kind, attempts by outcome, and warns once per delivery given up', async () => {
    const ok = await endpoint('claim');
    const refused = await endpoint('workspace');
    // One retry before success, so the attempts counter sees a retry that is not a give-up.
    ok.receiver.reply({ status: 503 }).otherwise({ status: 200 });
    // 400 is a final answer: given up at once, no retries.
    refused.receiver.otherwise({ status: 400 });

    const okEvent = await send(ok.id);
    const refusedEvent = await send(refused.id);
    const delivered = await settled(ok.id, okEvent, 'delivered');
    const failed = await settled(refused.id, refusedEvent, 'failed');
    expect(delivered.attempts).toBe(2);
    expect(failed.attempts).toBe(1);

    const res = await request(t.url).get('/metrics');
    expect(res.status).toBe(200);
    const text = res.text;
    expect(sample(text, 'herald_webhook_deliveries_total', { status: 'delivered', kind: 'claim' })).toBe(1);
    expect(sample(text, 'herald_webhook_deliveries_total', { status: 'failed', kind: 'workspace' })).toBe(1);
    expect(sample(text, 'herald_webhook_deliveries_total', { status: 'failed', kind: 'claim' })).toBeUndefined();
    expect(sample(text, 'herald_webhook_attempt_duration_seconds_count', { outcome: 'delivered' })).toBe(1);
    expect(sample(text, 'herald_webhook_attempt_duration_seconds_count', { outcome: 'retrying' })).toBe(1);
    expect(sample(text, 'herald_webhook_attempt_duration_seconds_count', { outcome: 'failed' })).toBe(1);
    // Nothing is owed any more: the per-state age gauges are read and show 0, and none is stale.
    for (const name of [
      'herald_webhook_oldest_first_attempt_age_seconds',
      'herald_webhook_oldest_retrying_age_seconds',
    ]) {
      expect(text).toContain(`# HELP ${name} `);
      expect(sample(text, name)).toBe(0);
      expect(sample(text, 'herald_metric_stale', { metric: name })).toBe(0);
    }
    // No per-endpoint labels on any webhook series.
    expect(text.split('\n').filter((l) => l.startsWith('herald_webhook_') && /sub_|org_/.test(l))).toEqual([]);

    const gaveUp = log
      .split('\n')
      .filter((l) => l.includes(GAVE_UP))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(gaveUp).toHaveLength(1);
    expect(gaveUp[0]).toMatchObject({
      level: 40,
      endpoint: refused.id,
      event: refusedEvent,
      delivery: failed.id,
      error: failed.error,
    });
    expect(failed.error).toBeTruthy();
  });

  it('reports the age of the oldest owed delivery per state while deliveries wait', async () => {
    const slow = await endpoint('claim');
    // The first attempt hangs until released: the delivery stays owed with no attempt recorded.
    slow.receiver.hold({ status: 200 });
    const eventId = await send(slow.id);
    await waitFor('the first request to arrive', () => slow.receiver.requests.length >= 1);
    await new Promise((r) => setTimeout(r, 300));
    const res = await request(t.url).get('/metrics');
    const age = sample(res.text, 'herald_webhook_oldest_first_attempt_age_seconds');
    expect(age).toBeGreaterThan(0.2);
    expect(sample(res.text, 'herald_webhook_oldest_retrying_age_seconds')).toBe(0);
    slow.receiver.release();
    await settled(slow.id, eventId, 'delivered');
  });
});
