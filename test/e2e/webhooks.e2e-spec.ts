import request from 'supertest';
import { In } from 'typeorm';
import { RouterRegistry } from '../../src/core/bus/router-registry';
import { Database } from '../../src/core/database/database.service';
import type { StoredEvent } from '../../src/core/event-log/event.types';
import { newId } from '../../src/core/http/ids';
import { isoNow, toIso } from '../../src/core/http/time';
import { DeliveryStore } from '../../src/core/webhooks/delivery.store';
import { WebhookDeliveryEntity } from '../../src/core/webhooks/webhook-delivery.entity';
import type { DeliveryLogEntry, SaveEndpoint } from '../../src/core/webhooks/webhook.types';
import { UndeliverableWebhookUrlException } from '../../src/core/webhooks/webhooks.exceptions';
import { WebhooksService } from '../../src/core/webhooks/webhooks.service';
import { mintKey } from '../support/credentials';
import { pendingDelivery } from '../support/deliveries';
import { publish } from '../support/events';
import { waitFor } from '../support/sockets';
import { startTestApp, TestApp } from '../support/test-app';
import { WebhookReceiver } from '../support/webhook-receiver';

const ORG = 'org_wh';
const ENV = {
  WEBHOOK_ALLOW_PRIVATE: 'true',
  WEBHOOK_RETRY_SCHEDULE: '200ms,200ms,200ms',
  // The receiver runs in this process: a stall of the process on a busy machine delays its answer
  // as well. At 500 ms, CI once timed out a request the receiver had answered, and the retry made
  // two requests where the test counts one.
  WEBHOOK_TIMEOUT: '2s',
  WEBHOOK_POLL_INTERVAL: '50ms',
  DISPATCH_POLL_INTERVAL: '50ms',
  WEBHOOK_BLOCK_AFTER_FAILURES: '3',
};
/** The shortest backoff the schedule above allows (200 ms less 20 % jitter). */
const MIN_BACKOFF_MS = 160;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The delivery engine through the real app: events published over HTTP reach a durable router
 * (standing in for the subscription modules) that enqueues them for endpoints saved through the
 * engine, and a real local receiver answers as scripted.
 */
describe('webhook delivery', () => {
  let t: TestApp;
  let webhooks: WebhooksService;
  let publisher: string;
  const receivers: WebhookReceiver[] = [];

  beforeAll(async () => {
    t = await startTestApp({ env: ENV });
    webhooks = t.app.get(WebhooksService);
    // Events name the endpoint they are for in `data.endpoint`.
    t.app.get(RouterRegistry).addAtRuntime('durable', {
      name: 'webhooks-e2e',
      route: async (events, manager) => {
        const requests = events
          .filter((e) => typeof e.data.endpoint === 'string')
          .map((event) => ({
            endpoint_id: event.data.endpoint as string,
            event,
            rule_index: 0,
            match_hash: `m_${event.seq}`,
            match_index: 0,
          }));
        if (requests.length) await webhooks.enqueue(manager, requests);
      },
    });
    publisher = await mintKey(t, { org: ORG, scopes: ['events:publish'] });
  });
  afterAll(async () => {
    for (const r of receivers) await r.close();
    await t?.close();
  });

  async function endpoint(extra: Partial<SaveEndpoint> = {}): Promise<{ id: string; receiver: WebhookReceiver }> {
    const secret = webhooks.generateSecret();
    const receiver = await WebhookReceiver.start(secret);
    receivers.push(receiver);
    const id = newId('sub');
    await t.app
      .get(Database)
      .transaction((m) =>
        webhooks.saveEndpoint(m, { id, kind: 'test', organisation_id: ORG, url: receiver.url, secret, ...extra }),
      );
    return { id, receiver };
  }

  async function send(endpointId: string, data: Record<string, unknown> = {}): Promise<string> {
    const res = await publish(t.url, publisher, {
      type: 'claim_approved',
      claim_id: 'clm_1',
      data: { endpoint: endpointId, ...data },
    });
    expect(res.status).toBe(201);
    return res.body.id as string;
  }

  async function sendBatch(endpointId: string, count: number): Promise<string[]> {
    const res = await request(t.url)
      .post('/api/v1/events/batch')
      .set('X-Api-Key', publisher)
      .send({
        events: Array.from({ length: count }, (_, i) => ({
          type: 'claim_approved',
          data: { endpoint: endpointId, i },
        })),
      });
    expect(res.status).toBe(201);
    return res.body.events.map((e: { id: string }) => e.id);
  }

  async function deliveries(endpointId: string): Promise<DeliveryLogEntry[]> {
    return webhooks.listDeliveries({ organisation_id: ORG, endpoint_id: endpointId, limit: 500 });
  }

  async function settled(
    endpointId: string,
    eventId: string,
    status: DeliveryLogEntry['status'],
  ): Promise<DeliveryLogEntry> {
    let found: DeliveryLogEntry | undefined;
    await waitFor(`${status} delivery of ${eventId}`, async () => {
      found = (await deliveries(endpointId)).find((d) => d.event_id === eventId);
      return found?.status === status;
    });
    return found!;
  }

  it('signs every request so a Standard Webhooks library verifies it; the body is the event envelope', async () => {
    const { id, receiver } = await endpoint({ headers: { 'X-Tenant': 'acme', 'Webhook-Id': 'forged' } });
    const eventId = await send(id, { amount: 4850 });
    const delivery = await settled(id, eventId, 'delivered');

    expect(receiver.requests).toHaveLength(1);
    const [received] = receiver.requests;
    expect(received.verified).toBe(true);
    expect(received.id).toBe(delivery.id);
    expect(received.headers).toMatchObject({
      'content-type': 'application/json',
      'user-agent': 'Herald-Webhooks/1',
      'x-tenant': 'acme',
    });
    expect(JSON.parse(received.body)).toMatchObject({
      specversion: '1.0',
      id: eventId,
      type: 'claim_approved',
      subject: 'claims/clm_1',
      sequence: String(delivery.event_seq),
      organisationid: ORG,
      data: { endpoint: id, amount: 4850 },
    });
    expect(delivery).toMatchObject({
      endpoint_id: id,
      attempts: 1,
      response_status: 200,
      error: null,
      rule_index: 0,
      match_hash: `m_${delivery.event_seq}`,
      match_index: 0,
    });
    expect(delivery.delivered_at).not.toBeNull();
    expect(await webhooks.listAttempts(ORG, delivery.id)).toEqual([
      expect.objectContaining({ attempt: 1, outcome: 'delivered', response_status: 200, error: null }),
    ]);
    // Another organisation cannot read this log.
    expect(await webhooks.listDeliveries({ organisation_id: 'org_other', endpoint_id: id, limit: 50 })).toEqual([]);
    expect(await webhooks.listAttempts('org_other', delivery.id)).toEqual([]);
  });

  it('500 then 200: delivered on the second attempt, after a backoff, under the same webhook-id', async () => {
    const { id, receiver } = await endpoint();
    receiver.reply({ status: 500 });
    const eventId = await send(id);
    const delivery = await settled(id, eventId, 'delivered');

    expect(delivery).toMatchObject({ attempts: 2, response_status: 200, error: null });
    expect(receiver.requests.map((r) => r.answered)).toEqual([500, 200]);
    expect(receiver.ids()).toEqual([delivery.id, delivery.id]);
    expect(receiver.requests.every((r) => r.verified)).toBe(true);
    expect(receiver.requests[1].at - receiver.requests[0].at).toBeGreaterThanOrEqual(MIN_BACKOFF_MS);
    expect(await webhooks.listAttempts(ORG, delivery.id)).toEqual([
      expect.objectContaining({
        attempt: 1,
        outcome: 'retrying',
        response_status: 500,
        error: 'HTTP 500 Internal Server Error',
      }),
      expect.objectContaining({ attempt: 2, outcome: 'delivered', response_status: 200 }),
    ]);
  });

  it('400: failed at once and never retried', async () => {
    const { id, receiver } = await endpoint();
    receiver.reply({ status: 400 });
    const eventId = await send(id);
    const delivery = await settled(id, eventId, 'failed');
    expect(delivery).toMatchObject({
      attempts: 1,
      response_status: 400,
      error: 'HTTP 400 Bad Request',
      delivered_at: null,
    });
    await sleep(700);
    expect(receiver.requests).toHaveLength(1);
    expect((await deliveries(id))[0]).toMatchObject({ status: 'failed', attempts: 1 });
  });

  it('a redirect is a failure and is not followed', async () => {
    const { id, receiver } = await endpoint();
    const elsewhere = await WebhookReceiver.start(webhooks.generateSecret());
    receivers.push(elsewhere);
    receiver.reply({ status: 302, headers: { location: elsewhere.url } });
    const eventId = await send(id);
    // Following the redirect would have been part of the attempt, which has settled.
    expect(await settled(id, eventId, 'failed')).toMatchObject({ attempts: 1, response_status: 302 });
    expect(elsewhere.requests).toHaveLength(0);
  });

  it('410 Gone blocks the endpoint; later events are logged blocked and not sent; turning it on sends again', async () => {
    const { id, receiver } = await endpoint();
    receiver.reply({ status: 410 });
    const first = await send(id);
    expect(await settled(id, first, 'failed')).toMatchObject({ attempts: 1, response_status: 410 });
    await waitFor('endpoint blocked', async () => (await webhooks.getEndpoint(ORG, id))?.state === 'blocked');
    expect((await webhooks.getEndpoint(ORG, id))!.issue).toMatch(
      /^Receiver answered 410 Gone on \d{4}-\d\d-\d\dT[\d:.]+Z; deliveries stopped/,
    );

    const later = await send(id);
    expect(await settled(id, later, 'blocked')).toMatchObject({
      attempts: 0,
      error: expect.stringMatching(/410 Gone/),
    });
    expect(receiver.requests).toHaveLength(1);

    // `again` is the sentinel: sent after `later` was logged blocked, it is the only request since.
    const turnedOn = await webhooks.setState(ORG, id, 'on');
    expect(turnedOn).toMatchObject({ state: 'on', issue: null });
    const again = await send(id);
    await settled(id, again, 'delivered');
    expect(receiver.requests.map((r) => JSON.parse(r.body).id)).toEqual([first, again]);
  });

  it('blocks an endpoint whose deliveries keep failing (WEBHOOK_BLOCK_AFTER_FAILURES=3), naming the streak and the last error', async () => {
    const { id, receiver } = await endpoint();
    receiver.otherwise({ status: 422 });
    for (let i = 0; i < 3; i++) await settled(id, await send(id), 'failed');
    await waitFor('endpoint blocked', async () => (await webhooks.getEndpoint(ORG, id))?.state === 'blocked');
    expect((await webhooks.getEndpoint(ORG, id))!.issue).toMatch(
      /Blocked automatically on .*: every attempt since .* has failed \(.*3 failed attempts, 3 failed deliveries\); last error: HTTP 422 Unprocessable Entity/,
    );
    await settled(id, await send(id), 'blocked');
    expect(receiver.requests).toHaveLength(3);
  });

  it('a hanging receiver times out and the delivery is retried', async () => {
    const { id, receiver } = await endpoint();
    receiver.reply({ hang: true });
    const eventId = await send(id);
    const delivery = await settled(id, eventId, 'delivered');
    expect(delivery).toMatchObject({ attempts: 2, response_status: 200 });
    const attempts = await webhooks.listAttempts(ORG, delivery.id);
    expect(attempts[0]).toMatchObject({ outcome: 'retrying', response_status: null, error: 'Timed out after 2000 ms' });
    expect(attempts[0].duration_ms).toBeGreaterThanOrEqual(1950);
    expect(receiver.ids()).toEqual([delivery.id, delivery.id]);
  });

  it('429 with Retry-After: 1 waits at least a second before the next attempt', async () => {
    const { id, receiver } = await endpoint();
    receiver.reply({ status: 429, headers: { 'retry-after': '1' } });
    const eventId = await send(id);
    const delivery = await settled(id, eventId, 'delivered');
    expect(delivery.attempts).toBe(2);
    expect(receiver.requests[1].at - receiver.requests[0].at).toBeGreaterThanOrEqual(1000);
  });

  it('receiver down for a while, then up: every owed delivery arrives, each webhook-id once', async () => {
    const { id, receiver } = await endpoint();
    await receiver.down();
    // One batch, so every first attempt happens at about the same time.
    const events = await sendBatch(id, 5);
    // Every first attempt has hit a closed port before the receiver comes back.
    await waitFor('first attempts failed', async () => {
      const ds = await deliveries(id);
      return ds.length === 5 && ds.every((d) => d.attempts >= 1);
    });
    const [refused] = await deliveries(id);
    expect(refused).toMatchObject({ status: 'pending', error: expect.stringMatching(/ECONNREFUSED/) });
    await receiver.up();

    await waitFor('all delivered', async () => (await deliveries(id)).every((d) => d.status === 'delivered'));
    const delivered = await deliveries(id);
    expect(delivered.map((d) => d.event_id).sort()).toEqual([...events].sort());
    expect(delivered.every((d) => d.attempts >= 2)).toBe(true);
    // Duplicates would only be acceptable under the same id; there are none at all here.
    expect([...receiver.ids()].sort()).toEqual(delivered.map((d) => d.id).sort());
    expect(receiver.requests.every((r) => r.verified)).toBe(true);
  });

  it('a lease left by a node that died counts against its endpoint’s cap only while its request could still be open', async () => {
    const { id, receiver } = await endpoint();
    const db = t.app.get(Database);
    const rows = Array.from({ length: 12 }, (_, i) =>
      pendingDelivery({
        id: newId('dlv'),
        endpoint_id: id,
        organisation_id: ORG,
        event_id: `evt_dead_node_${i}`,
        event_seq: 900_000 + i,
        body: JSON.stringify({ i }),
        created_at: isoNow(),
      }),
    );
    // Ten rows (the default cap) leased 5 s ago by a node that then died: their requests ended
    // after WEBHOOK_TIMEOUT (2 s), their leases (+60 s) have not.
    const deadLease = toIso(Date.now() - 5000 + 2000 + 60_000);
    await db.transaction(async (m) => {
      await t.app.get(DeliveryStore).insert(m, rows);
      await m.update(WebhookDeliveryEntity, { id: In(rows.slice(0, 10).map((r) => r.id)) }, { lease_until: deadLease });
    });
    // Recorded as delivered, not just received: a row whose result is still being written is pending.
    await waitFor(
      'the two rows not leased delivered',
      async () => (await deliveries(id)).filter((d) => d.status === 'delivered').length === 2,
    );
    expect([...receiver.ids()].sort()).toEqual(
      rows
        .slice(10)
        .map((r) => r.id)
        .sort(),
    );
    const leased = (await deliveries(id)).filter((d) => d.status === 'pending');
    expect(leased.map((d) => d.id).sort()).toEqual(
      rows
        .slice(0, 10)
        .map((r) => r.id)
        .sort(),
    );
  });

  it('deliveries over the endpoint rate limit are logged rate_limited and not sent', async () => {
    const { id, receiver } = await endpoint({ rate_limit_per_minute: 3 });
    const events: string[] = [];
    for (let i = 0; i < 5; i++) events.push(await send(id, { i }));
    await waitFor('five log entries, none pending', async () => {
      const ds = await deliveries(id);
      return ds.length === 5 && ds.every((d) => d.status !== 'pending');
    });
    const ds = await deliveries(id);
    expect(ds.filter((d) => d.status === 'delivered')).toHaveLength(3);
    const limited = ds.filter((d) => d.status === 'rate_limited');
    expect(limited).toHaveLength(2);
    expect(limited[0]).toMatchObject({
      attempts: 0,
      error: "Over the subscription's limit of 3 deliveries per minute; not sent",
    });
    expect(receiver.requests).toHaveLength(3);
  });

  it('removing an endpoint cancels what it still owes', async () => {
    const { id, receiver } = await endpoint();
    await receiver.down();
    const eventId = await send(id);
    await waitFor('first attempt failed', async () => ((await deliveries(id))[0]?.attempts ?? 0) >= 1);
    await t.app.get(Database).transaction((m) => webhooks.removeEndpoint(m, ORG, id));
    await receiver.up();
    const cancelled = await settled(id, eventId, 'cancelled');
    expect(cancelled.error).toMatch(/removed/);
    await sleep(500);
    expect(receiver.requests).toHaveLength(0);
    expect(await webhooks.getEndpoint(ORG, id)).toBeUndefined();
  });

  it('an endpoint turned off records nothing', async () => {
    const { id, receiver } = await endpoint({ state: 'off' });
    const marker = await endpoint();
    await send(id);
    const markerEvent = await send(marker.id);
    await settled(marker.id, markerEvent, 'delivered');
    expect(await deliveries(id)).toEqual([]);
    expect(receiver.requests).toHaveLength(0);
  });

  it('buildRequest shows the exact signed request; sendOnce sends it and records nothing', async () => {
    const secret = webhooks.generateSecret();
    const receiver = await WebhookReceiver.start(secret);
    receivers.push(receiver);
    const event: StoredEvent = {
      seq: 1,
      id: 'evt_preview',
      type: 'claim_approved',
      version: '1',
      organisation_id: ORG,
      user_id: null,
      claim_id: 'clm_9',
      channel_id: null,
      data: { amount: 10 },
      occurred_at: isoNow(),
      received_at: isoNow(),
    };
    const preview = webhooks.buildRequest(
      { url: receiver.url, secret, headers: { 'x-extra': '1' } },
      event,
      'dlv_preview',
    );
    expect(preview).toMatchObject({
      url: receiver.url,
      method: 'POST',
      headers: { 'webhook-id': 'dlv_preview', 'x-extra': '1' },
    });
    expect(JSON.parse(preview.body)).toMatchObject({ id: 'evt_preview', subject: 'claims/clm_9' });

    receiver.reply({ status: 503 });
    const failed = await webhooks.sendOnce({ url: receiver.url, secret, headers: {} }, event);
    expect(failed).toMatchObject({ status: 503, error: 'HTTP 503 Service Unavailable' });
    const ok = await webhooks.sendOnce({ url: receiver.url, secret, headers: {} }, event);
    expect(ok.status).toBe(200);
    expect(ok.error).toBeUndefined();
    expect(receiver.requests.map((r) => r.id)).toEqual([
      failed.request.headers['webhook-id'],
      ok.request.headers['webhook-id'],
    ]);
    expect(receiver.requests.every((r) => r.verified)).toBe(true);
    expect(await webhooks.listDeliveries({ organisation_id: ORG, limit: 500 })).not.toContainEqual(
      expect.objectContaining({ event_id: 'evt_preview' }),
    );
  });

  it('publishes delivery metrics', async () => {
    const res = await request(t.url).get('/metrics');
    expect(res.status).toBe(200);
    expect(res.text).toMatch(/herald_webhook_deliveries_total\{status="delivered",kind="[^"]+"\} [1-9]/);
    expect(res.text).toMatch(/herald_webhook_deliveries_total\{status="rate_limited",kind="[^"]+"\} [1-9]/);
    expect(res.text).toMatch(/herald_webhook_attempt_duration_seconds_count\{outcome="retrying"\} [1-9]/);
    expect(res.text).toMatch(/herald_webhook_queue_depth \d+/);
    expect(res.text).toMatch(/herald_webhook_oldest_pending_age_seconds [\d.]+/);
  });

  describe('delivery log paging', () => {
    const PAGING_ORG = 'org_wh_paging';
    const GROUPS = [3, 1, 7, 2, 5, 1, 4];
    let endpointId: string;
    let all: string[];

    beforeAll(async () => {
      endpointId = newId('sub');
      const db = t.app.get(Database);
      // A blocked endpoint: every enqueued delivery becomes a final `blocked` entry, nothing is sent.
      await db.transaction((m) =>
        webhooks.saveEndpoint(m, {
          id: endpointId,
          kind: 'test',
          organisation_id: PAGING_ORG,
          url: 'http://127.0.0.1:9/never',
          secret: webhooks.generateSecret(),
          state: 'blocked',
          issue: 'paging test',
        }),
      );
      let seq = 0;
      const event = (): StoredEvent => ({
        seq: ++seq,
        id: `evt_page_${seq}`,
        type: 'claim_approved',
        version: '1',
        organisation_id: PAGING_ORG,
        user_id: null,
        claim_id: null,
        channel_id: null,
        data: {},
        occurred_at: isoNow(),
        received_at: isoNow(),
      });
      // One enqueue call writes all its rows within the same millisecond.
      for (const size of GROUPS) {
        await db.transaction((m) =>
          webhooks.enqueue(
            m,
            Array.from({ length: size }, () => ({ endpoint_id: endpointId, event: event() })),
          ),
        );
        await sleep(3);
      }
      all = (await webhooks.listDeliveries({ organisation_id: PAGING_ORG, limit: 500 })).map((d) => d.id);
    });

    async function walk(direction: 'before' | 'after', limit: number): Promise<DeliveryLogEntry[][]> {
      const pages: DeliveryLogEntry[][] = [];
      let datetime: string | undefined;
      for (;;) {
        const page = await webhooks.listDeliveries({
          organisation_id: PAGING_ORG,
          endpoint_id: endpointId,
          limit,
          direction,
          datetime,
        });
        if (!page.length) return pages;
        pages.push(page);
        datetime = page[page.length - 1].created_at;
        expect(pages.length).toBeLessThan(50);
      }
    }

    it('has the entries to page through: several bursts of entries written together', () => {
      expect(all).toHaveLength(GROUPS.reduce((a, b) => a + b, 0));
    });

    it.each([1, 3, 4, 6, 50])('before (newest first), limit %d: every entry exactly once', async (limit) => {
      const pages = await walk('before', limit);
      const seen = pages.flat();
      expect(seen.map((d) => d.id)).toEqual(all);
      expect(seen.every((d) => d.status === 'blocked' && d.error === 'paging test')).toBe(true);
      const times = seen.map((d) => d.created_at);
      expect([...times].sort().reverse()).toEqual(times);
      // Entries written in one call get distinct, ordered times, so every page but the last is exactly `limit` long.
      expect(new Set(times).size).toBe(times.length);
      expect(pages.slice(0, -1).every((p) => p.length === limit)).toBe(true);
    });

    it.each([1, 3, 4, 6, 50])('after (oldest first), limit %d: every entry exactly once', async (limit) => {
      const seen = (await walk('after', limit)).flat();
      expect(seen.map((d) => d.id)).toEqual([...all].reverse());
    });

    it('filters by status and stays within the organisation', async () => {
      expect(await webhooks.listDeliveries({ organisation_id: PAGING_ORG, status: 'delivered', limit: 50 })).toEqual(
        [],
      );
      expect(
        await webhooks.listDeliveries({ organisation_id: PAGING_ORG, status: 'blocked', limit: 500 }),
      ).toHaveLength(all.length);
      expect(await webhooks.listDeliveries({ organisation_id: ORG, endpoint_id: endpointId, limit: 50 })).toEqual([]);
    });

    it('refuses a cursor that is not a date-time', async () => {
      await expect(
        webhooks.listDeliveries({ organisation_id: PAGING_ORG, limit: 50, datetime: 'yesterday' }),
      ).rejects.toThrow(/datetime/);
    });
  });

  // Last: pruning removes every final entry, whichever test made it.
  it('retention prunes final entries and their attempts, and keeps what is still owed', async () => {
    const done = await endpoint();
    const deliveredId = (await settled(done.id, await send(done.id), 'delivered')).id;
    const owing = await endpoint();
    await owing.receiver.down();
    const owedEvent = await send(owing.id);
    await waitFor('first attempt failed', async () => ((await deliveries(owing.id))[0]?.attempts ?? 0) >= 1);

    const pruned = await t.app.get(DeliveryStore).pruneAcrossTenants(toIso(Date.now() + 1000));
    expect(pruned).toBeGreaterThan(0);
    expect(await deliveries(done.id)).toEqual([]);
    expect(await webhooks.listAttempts(ORG, deliveredId)).toEqual([]);
    const [owed] = await deliveries(owing.id);
    expect(owed).toMatchObject({ event_id: owedEvent, status: 'pending' });
    expect((await webhooks.listAttempts(ORG, owed.id)).length).toBeGreaterThanOrEqual(1);
    await owing.receiver.up();
    await settled(owing.id, owedEvent, 'delivered');
  });
});

describe('webhook SSRF guard (WEBHOOK_ALLOW_PRIVATE off)', () => {
  let t: TestApp;
  let webhooks: WebhooksService;
  let receiver: WebhookReceiver;
  const secret = 'whsec_' + Buffer.alloc(24, 7).toString('base64');

  beforeAll(async () => {
    t = await startTestApp();
    webhooks = t.app.get(WebhooksService);
    receiver = await WebhookReceiver.start(secret);
  });
  afterAll(async () => {
    await receiver?.close();
    await t?.close();
  });

  it.each([
    'http://127.0.0.1/hook',
    'http://10.0.0.1/hook',
    'http://192.168.1.1/hook',
    'http://169.254.169.254/latest/meta-data/',
    'http://100.64.0.1/hook',
    'http://[::1]/hook',
    'http://[::ffff:127.0.0.1]/hook',
    'http://localhost/hook',
    'ftp://example.com/hook',
  ])('refuses %s at subscribe time with a readable 400', async (url) => {
    const err = await webhooks.assertDeliverableUrl(url).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UndeliverableWebhookUrlException);
    expect((err as UndeliverableWebhookUrlException).getStatus()).toBe(400);
    expect((err as Error).message).toMatch(/^Webhook URL refused: .*(public addresses|scheme)/);
  });

  it('accepts a public address', async () => {
    await expect(webhooks.assertDeliverableUrl('https://93.184.215.14/hook')).resolves.toBeUndefined();
  });

  it('refuses private targets again at send time, for IP literals and for names resolving to them', async () => {
    const event = {
      seq: 1,
      id: 'evt_ssrf',
      type: 'claim_approved',
      version: '1',
      organisation_id: 'org_ssrf',
      user_id: null,
      claim_id: null,
      channel_id: null,
      data: {},
      occurred_at: isoNow(),
      received_at: isoNow(),
    };
    const byIp = await webhooks.sendOnce({ url: receiver.url, secret, headers: {} }, event);
    expect(byIp.status).toBeUndefined();
    expect(byIp.error).toMatch(/127\.0\.0\.1 is a loopback address/);
    const byName = await webhooks.sendOnce(
      { url: receiver.url.replace('127.0.0.1', 'localhost'), secret, headers: {} },
      event,
    );
    expect(byName.status).toBeUndefined();
    expect(byName.error).toMatch(/localhost resolves to .*loopback/);
    expect(receiver.requests).toHaveLength(0);
  });
});
