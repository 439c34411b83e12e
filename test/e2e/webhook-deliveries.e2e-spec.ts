import request from 'supertest';
import { Webhook } from 'standardwebhooks';
import { Database } from '../../src/core/database/database.service';
import { mintKey } from '../support/credentials';
import { dispatchedThrough, publish } from '../support/events';
import { waitFor } from '../support/sockets';
import { startTestApp, TestApp } from '../support/test-app';
import { WebhookReceiver } from '../support/webhook-receiver';

const ORG = 'org_dlv';
const OTHER_ORG = 'org_dlv_other';
const LOG = '/api/v1/webhook-deliveries';
const CLAIMS = '/api/v1/approval-notifications/subscriptions';

interface Delivery {
  id: string;
  subscription_id: string;
  event_id: string;
  status: string;
  attempt_count: number;
  next_attempt_at: string | null;
  created_at: string;
}

/**
 * The delivery log API, resend and recover, through the real app, real HTTP and real local
 * receivers: claim webhooks (002) and workspace subscriptions (003) in one log.
 */
describe('webhook deliveries: log, attempts, resend, recover', () => {
  let t: TestApp;
  let app: string;
  let appReadOnly: string;
  let userA1: string;
  let userA2: string;
  let otherOrgApp: string;
  const receivers: WebhookReceiver[] = [];

  beforeAll(async () => {
    t = await startTestApp({
      env: {
        WEBHOOK_ALLOW_PRIVATE: 'true',
        DISPATCH_POLL_INTERVAL: '50ms',
        WEBHOOK_POLL_INTERVAL: '50ms',
        WEBHOOK_RETRY_SCHEDULE: '100ms',
        WEBHOOK_RECOVER_RATE: '2',
      },
    });
    app = await mintKey(t, {
      org: ORG,
      scopes: ['events:publish', 'events:read', 'notifications:write', 'subscriptions:write'],
      workspaces: ['ws_dlv'],
    });
    appReadOnly = await mintKey(t, { org: ORG, scopes: ['events:read'] });
    userA1 = await mintKey(t, { org: ORG, user: 'usr_a1', scopes: ['events:read', 'notifications:write'] });
    userA2 = await mintKey(t, { org: ORG, user: 'usr_a2', scopes: ['events:read', 'notifications:write'] });
    otherOrgApp = await mintKey(t, { org: OTHER_ORG, scopes: ['events:read', 'notifications:write'] });
  });
  afterAll(async () => {
    for (const r of receivers) await r.close();
    await t?.close();
  });

  async function receiver(): Promise<WebhookReceiver> {
    const r = await WebhookReceiver.start('whsec_' + Buffer.from('unused-secret-unused-secret').toString('base64'));
    receivers.push(r);
    return r;
  }

  /** A claim webhook subscription of `usr_a1`, made with its own credential. */
  async function subscribe(claim: string, url: string): Promise<{ id: string; secret: string }> {
    const res = await request(t.url)
      .post(CLAIMS)
      .set('X-Api-Key', userA1)
      .send({ claim_id: claim, user_id: 'usr_a1', webhook_url: url });
    expect(res.status).toBe(201);
    return { id: res.body.subscription_id as string, secret: res.body.signing_secret as string };
  }

  async function event(claim: string): Promise<{ id: string; seq: number }> {
    const res = await publish(t.url, app, { type: 'comment_added', claim_id: claim, user_id: 'usr_a1' });
    expect(res.status).toBe(201);
    return { id: res.body.id as string, seq: res.body.seq as number };
  }

  const list = (token: string, query: Record<string, string | number>) =>
    request(t.url).get(LOG).query(query).set('X-Api-Key', token);
  const detail = (token: string, id: string) => request(t.url).get(`${LOG}/${id}`).set('X-Api-Key', token);

  async function deliveriesOf(subscription: string): Promise<Delivery[]> {
    const res = await list(app, { subscription_id: subscription, limit: 100 });
    expect(res.status).toBe(200);
    return res.body.data as Delivery[];
  }

  async function settled(subscription: string, count: number, status: string): Promise<Delivery[]> {
    let found: Delivery[] = [];
    await waitFor(`${count} ${status} deliveries`, async () => {
      found = (await deliveriesOf(subscription)).filter((d) => d.status === status);
      return found.length >= count;
    });
    return found;
  }

  it('lists a claim webhook’s deliveries and shows each attempt: headers sent, response status and body start, never the secret', async () => {
    const r = await receiver();
    r.reply({ status: 200, body: '{"ok":true}' }).otherwise({ status: 200, body: 'x'.repeat(10_000) });
    const sub = await subscribe('clm_dlv_1', r.url);
    const first = await event('clm_dlv_1');
    const second = await event('clm_dlv_1');
    const [newest, older] = await settled(sub.id, 2, 'delivered');
    expect([newest.event_id, older.event_id]).toEqual([second.id, first.id]);
    expect(newest).toEqual({
      id: expect.stringMatching(/^dlv_/),
      subscription_id: sub.id,
      event_id: second.id,
      event_seq: second.seq,
      status: 'delivered',
      attempt_count: 1,
      response_status: 200,
      error: null,
      created_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/),
      delivered_at: expect.any(String),
      duration_ms: expect.any(Number),
      next_attempt_at: null,
    });

    const res = await detail(app, older.id);
    expect(res.status).toBe(200);
    const [attempt] = res.body.attempts;
    expect(res.body.attempts).toHaveLength(1);
    expect(attempt).toEqual({
      attempt: 1,
      attempted_at: expect.any(String),
      outcome: 'delivered',
      request_headers: expect.objectContaining({
        'content-type': 'application/json',
        'webhook-id': older.id,
        'webhook-timestamp': expect.stringMatching(/^\d+$/),
        'webhook-signature': expect.stringMatching(/^v1,/),
      }),
      response_status: 200,
      response_body: '{"ok":true}',
      duration_ms: expect.any(Number),
      error: null,
    });
    // The logged headers are the ones the receiver got, and the signature verifies with the secret.
    const got = r.requests.find((q) => q.id === older.id)!;
    expect(attempt.request_headers['webhook-signature']).toBe(got.headers['webhook-signature']);
    expect(() => new Webhook(sub.secret).verify(got.body, got.headers as Record<string, string>)).not.toThrow();
    const secretBytes = sub.secret.slice('whsec_'.length);
    expect(JSON.stringify(res.body)).not.toContain(secretBytes);

    // Only the first 4 KiB of a response body is kept.
    const big = await detail(app, newest.id);
    expect(big.body.attempts[0].response_body).toBe('x'.repeat(4096));
  });

  it('keeps a response body that is binary (NUL bytes) as text, on every engine, and the delivery completes', async () => {
    const r = await receiver();
    r.otherwise({ status: 200, body: 'ok\u0000\u0001binary' });
    const sub = await subscribe('clm_dlv_nul', r.url);
    await event('clm_dlv_nul');
    const [delivered] = await settled(sub.id, 1, 'delivered');
    const res = await detail(app, delivered.id);
    expect(res.body.attempts[0].response_body).toBe('ok\uFFFD\u0001binary');
    expect(r.requests).toHaveLength(1);
  });

  it('pages newest first with a cursor that never skips or repeats, even while deliveries are logged', async () => {
    const r = await receiver();
    const sub = await subscribe('clm_dlv_page', r.url);
    for (let i = 0; i < 7; i++) await event('clm_dlv_page');
    const all = await settled(sub.id, 7, 'delivered');

    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const res = await list(app, { subscription_id: sub.id, limit: 3, ...(cursor ? { cursor } : {}) });
      expect(res.status).toBe(200);
      seen.push(...(res.body.data as Delivery[]).map((d) => d.id));
      cursor = res.body.next_cursor ?? undefined;
      if (pages++ === 0) {
        // Logged after the first page was read: it belongs on a new first page, not on page two.
        const late = await event('clm_dlv_page');
        await dispatchedThrough(t.url, late.seq);
      }
    } while (cursor);
    expect(pages).toBe(3);
    expect(seen).toEqual(all.map((d) => d.id));

    // Filters: by event, by status, by time range.
    const byEvent = await list(app, { event_id: all[3].event_id });
    expect(byEvent.body.data.map((d: Delivery) => d.id)).toEqual([all[3].id]);
    const failed = await list(app, { subscription_id: sub.id, status: 'failed' });
    expect(failed.body).toEqual({ data: [], next_cursor: null });
    const range = await list(app, { subscription_id: sub.id, since: all[4].created_at, until: all[1].created_at });
    expect(range.body.data.map((d: Delivery) => d.id)).toEqual([all[2].id, all[3].id, all[4].id]);
  });

  it('answers malformed filters, cursors and ids with a 400, unknown deliveries with a 404', async () => {
    const malformed: Record<string, string | number>[] = [
      { since: 'yesterday' },
      { until: '2026-02-30T00:00:00Z' },
      { cursor: 'not-a-cursor' },
      { cursor: Buffer.from('2026-03-26T08:14:22Z').toString('base64url') },
      { status: 'lost' },
      { subscription_id: 'chan_01jd3m7k2q8w6t5v4x3y2z1a0b' },
      { limit: 101 },
    ];
    for (const query of malformed) {
      const res = await list(app, query);
      expect([JSON.stringify(query), res.status]).toEqual([JSON.stringify(query), 400]);
      expect(res.body).toMatchObject({ statusCode: 400, error: 'Bad Request' });
    }
    expect((await detail(app, 'dlv_nope')).status).toBe(400);
    expect((await detail(app, 'dlv_01jd3m7k2q8w6t5v4x3y2z1a0b')).status).toBe(404);
  });

  it('shows a user the deliveries of its own subscriptions, an app its organisation’s, and nobody another organisation’s', async () => {
    const r = await receiver();
    const sub = await subscribe('clm_dlv_tenancy', r.url);
    await event('clm_dlv_tenancy');
    const [delivery] = await settled(sub.id, 1, 'delivered');

    const asOwner = await list(userA1, { subscription_id: sub.id });
    expect(asOwner.body.data.map((d: Delivery) => d.id)).toEqual([delivery.id]);
    expect((await detail(userA1, delivery.id)).status).toBe(200);

    const asOtherUser = await list(userA2, { subscription_id: sub.id });
    expect(asOtherUser.body.data).toEqual([]);
    expect((await detail(userA2, delivery.id)).status).toBe(404);
    expect((await request(t.url).post(`${LOG}/${delivery.id}/resend`).set('X-Api-Key', userA2)).status).toBe(404);

    expect((await list(otherOrgApp, { event_id: delivery.event_id })).body.data).toEqual([]);
    expect((await detail(otherOrgApp, delivery.id)).status).toBe(404);
    expect((await request(t.url).post(`${LOG}/${delivery.id}/resend`).set('X-Api-Key', otherOrgApp)).status).toBe(404);
    // Reading needs events:read; resending a write scope.
    expect((await request(t.url).post(`${LOG}/${delivery.id}/resend`).set('X-Api-Key', appReadOnly)).status).toBe(403);
  });

  it('resends a delivered and a failed delivery under the same webhook-id, each logged as its own attempt', async () => {
    const r = await receiver();
    // The first request is refused with a final answer (400: failed at once, no retry).
    r.reply({ status: 400, body: 'no thanks' }).otherwise({ status: 200 });
    const sub = await subscribe('clm_dlv_resend', r.url);
    await event('clm_dlv_resend');
    const [failed] = await settled(sub.id, 1, 'failed');
    await event('clm_dlv_resend');
    const [delivered] = await settled(sub.id, 1, 'delivered');

    for (const target of [failed, delivered]) {
      const res = await request(t.url).post(`${LOG}/${target.id}/resend`).set('X-Api-Key', userA1);
      expect(res.status).toBe(202);
      expect(res.body).toMatchObject({ id: target.id, status: 'pending', next_attempt_at: expect.any(String) });
    }
    await waitFor('both resent', () => r.requests.length >= 4);
    expect(r.ids().filter((id) => id === failed.id)).toHaveLength(2);
    expect(r.ids().filter((id) => id === delivered.id)).toHaveLength(2);
    for (const target of [failed, delivered]) {
      let attempts: { attempt: number; outcome: string; response_status: number }[] = [];
      await waitFor('resend recorded', async () => {
        const res = await detail(app, target.id);
        attempts = res.body.attempts;
        return res.body.status === 'delivered' && attempts.length === 2;
      });
      expect(attempts.map((a) => a.attempt)).toEqual([1, 2]);
      expect(attempts[1]).toMatchObject({ outcome: 'delivered', response_status: 200 });
    }
    expect((await detail(app, failed.id)).body.attempts[0]).toMatchObject({
      outcome: 'failed',
      response_status: 400,
      response_body: 'no thanks',
    });
  });

  it('refuses to resend a delivery still owed', async () => {
    const r = await receiver();
    r.hold();
    const sub = await subscribe('clm_dlv_owed', r.url);
    await event('clm_dlv_owed');
    await waitFor('request in flight', () => r.requests.length === 1);
    const [owed] = await deliveriesOf(sub.id);
    const res = await request(t.url).post(`${LOG}/${owed.id}/resend`).set('X-Api-Key', app);
    expect(res.status).toBe(409);
    expect(res.body.message).toMatch(/still owed/);
    r.release();
    await settled(sub.id, 1, 'delivered');
  });

  it('recovers a subscription’s failed deliveries oldest first at the recover rate, under their webhook-ids', async () => {
    const r = await receiver();
    r.otherwise({ status: 500 });
    const sub = await subscribe('clm_dlv_recover', r.url);
    const before = new Date().toISOString();
    for (let i = 0; i < 4; i++) await event('clm_dlv_recover');
    // 500, one retry after 100 ms, then given up.
    const failed = await settled(sub.id, 4, 'failed');
    expect(failed.every((d) => d.attempt_count === 2)).toBe(true);

    // The oldest one fails once more: a recovered delivery is retried on the schedule again.
    r.reply({ status: 500 }).otherwise({ status: 200 });
    const sent = r.requests.length;
    const res = await request(t.url)
      .post(`${CLAIMS}/${sub.id}/recover`)
      .set('X-Api-Key', userA1)
      .send({ since: before });
    expect(res.status).toBe(202);
    expect(res.body).toEqual({ subscription_id: sub.id, queued: 4, skipped: 0, more: false });

    // Due oldest first, 1/WEBHOOK_RECOVER_RATE (500 ms) apart (the oldest, due at once, is being retried).
    const oldest = failed[failed.length - 1].id;
    const owed = (await deliveriesOf(sub.id)).filter((d) => d.status === 'pending' && d.id !== oldest);
    expect(owed).toHaveLength(3);
    const due = owed.map((d) => Date.parse(d.next_attempt_at!)).sort((a, b) => a - b);
    for (let i = 1; i < due.length; i++) expect(due[i] - due[i - 1]).toBeGreaterThanOrEqual(499);

    await settled(sub.id, 4, 'delivered');
    const resent = r.requests.slice(sent).map((q) => q.id);
    const oldestFirst = [...failed].reverse().map((d) => d.id);
    expect([...new Set(resent)]).toEqual(oldestFirst);
    expect(resent.filter((id) => id === oldestFirst[0])).toHaveLength(2);
    // Nothing left to recover: a second call queues nothing.
    const again = await request(t.url)
      .post(`${CLAIMS}/${sub.id}/recover`)
      .set('X-Api-Key', app)
      .send({ since: before });
    expect(again.body).toMatchObject({ queued: 0 });
  });

  it('a workspace subscription turned back on says what it did not deliver, sends none of it unasked, and recovers it on request', async () => {
    const r = await receiver();
    const owner = await mintKey(t, {
      org: ORG,
      user: 'usr_a1',
      scopes: ['events:read', 'subscriptions:write'],
      workspaces: ['ws_dlv'],
    });
    const colleague = await mintKey(t, {
      org: ORG,
      user: 'usr_a2',
      scopes: ['events:read', 'subscriptions:write'],
      workspaces: ['ws_dlv'],
    });
    const created = await request(t.url)
      .post('/api/v1/subscriptions')
      .set('X-Api-Key', owner)
      .send({
        rules: [{ trigger: 'comment_added', conditions: {} }],
        resources: ['claims/clm_dlv_ws'],
        actions: [{ type: 'webhook', url: r.url, headers: { 'x-team': 'finance-secret-value' } }],
      });
    expect(created.status).toBe(201);
    const id = created.body.id as string;
    const since = new Date().toISOString();
    const blocked = await request(t.url)
      .post(`/api/v1/subscriptions/${id}/state`)
      .set('X-Api-Key', owner)
      .send({ state: 'blocked', issue: 'receiver down' });
    expect(blocked.status).toBe(200);
    expect(blocked.body.undelivered).toBeUndefined();
    for (let i = 0; i < 2; i++) await event('clm_dlv_ws');
    await settled(id, 2, 'blocked');

    // The owner (a user) sees them in the delivery log; a colleague in the same workspace does not.
    expect((await list(owner, { subscription_id: id })).body.data).toHaveLength(2);
    expect((await list(colleague, { subscription_id: id })).body.data).toEqual([]);

    const on = await request(t.url)
      .post(`/api/v1/subscriptions/${id}/state`)
      .set('X-Api-Key', owner)
      .send({ state: 'on' });
    expect(on.status).toBe(200);
    expect(on.body).toMatchObject({ state: 'on', undelivered: { failed: 0, blocked: 2 } });
    const last = await event('clm_dlv_ws');
    await dispatchedThrough(t.url, last.seq);
    await settled(id, 1, 'delivered');
    // Only the event after turning on was sent.
    expect(r.requests).toHaveLength(1);

    const recoverAs = (token: string, body: object) =>
      request(t.url).post(`/api/v1/subscriptions/${id}/recover`).set('X-Api-Key', token).send(body);
    expect((await recoverAs(colleague, { since, include_blocked: true })).status).toBe(403);
    const withoutBlocked = await recoverAs(owner, { since });
    expect(withoutBlocked.body).toEqual({ subscription_id: id, queued: 0, skipped: 0, more: false });
    const recovered = await recoverAs(owner, { since, include_blocked: true });
    expect(recovered.status).toBe(202);
    expect(recovered.body).toEqual({ subscription_id: id, queued: 2, skipped: 0, more: false });
    await settled(id, 3, 'delivered');
    expect(r.requests).toHaveLength(3);

    // The extra header's value went to the receiver, and is masked in the log.
    const [newest] = await deliveriesOf(id);
    const attempt = (await detail(owner, newest.id)).body.attempts[0];
    expect(r.requests[0].headers['x-team']).toBe('finance-secret-value');
    expect(attempt.request_headers['x-team']).toBe('********');

    // Workspace subscriptions' deliveries stay in their workspace, as the subscriptions do.
    const otherWorkspaceApp = await mintKey(t, {
      org: ORG,
      scopes: ['events:read', 'subscriptions:write', 'notifications:write'],
      workspaces: ['ws_elsewhere'],
    });
    expect((await list(otherWorkspaceApp, { subscription_id: id })).body.data).toEqual([]);
    expect((await detail(otherWorkspaceApp, newest.id)).status).toBe(404);
    expect((await request(t.url).post(`${LOG}/${newest.id}/resend`).set('X-Api-Key', otherWorkspaceApp)).status).toBe(
      404,
    );
    // An org-wide reader of the workspace sees them, but only the owner, an app or admin may send them again.
    const orgReader = await mintKey(t, {
      org: ORG,
      user: 'usr_a3',
      scopes: ['events:read', 'claims:read:org', 'subscriptions:write', 'notifications:write'],
      workspaces: ['ws_dlv'],
    });
    expect((await detail(orgReader, newest.id)).status).toBe(200);
    const refused = await request(t.url).post(`${LOG}/${newest.id}/resend`).set('X-Api-Key', orgReader);
    expect(refused.status).toBe(403);
    expect((await request(t.url).post(`${LOG}/${newest.id}/resend`).set('X-Api-Key', owner)).status).toBe(202);
  });

  it('skips deliveries whose event is past retention, and refuses to resend to a removed subscription', async () => {
    const r = await receiver();
    r.otherwise({ status: 400 });
    const sub = await subscribe('clm_dlv_gone', r.url);
    const since = new Date().toISOString();
    const kept = await event('clm_dlv_gone');
    const pruned = await event('clm_dlv_gone');
    const failed = await settled(sub.id, 2, 'failed');
    const db = t.app.get(Database);
    await db.transaction((m) =>
      db.query(m, 'DELETE FROM events WHERE organisation_id = $1 AND id = $2', [ORG, pruned.id]),
    );
    r.otherwise({ status: 200 });
    const res = await request(t.url).post(`${CLAIMS}/${sub.id}/recover`).set('X-Api-Key', app).send({ since });
    expect(res.body).toEqual({ subscription_id: sub.id, queued: 1, skipped: 1, more: false });
    await settled(sub.id, 1, 'delivered');
    const prunedDelivery = failed.find((d) => d.event_id === pruned.id)!;
    const resend = await request(t.url).post(`${LOG}/${prunedDelivery.id}/resend`).set('X-Api-Key', app);
    expect(resend.status).toBe(409);
    expect(resend.body.message).toMatch(/no longer in the log/);
    expect(failed.map((d) => d.event_id)).toContain(kept.id);

    const removed = await request(t.url).delete(`${CLAIMS}/${sub.id}`).set('X-Api-Key', userA1);
    expect(removed.status).toBe(200);
    const delivered = (await deliveriesOf(sub.id)).find((d) => d.status === 'delivered')!;
    const gone = await request(t.url).post(`${LOG}/${delivered.id}/resend`).set('X-Api-Key', app);
    expect(gone.status).toBe(409);
    expect(gone.body.message).toMatch(/was removed/);
  });

  it('refuses to recover for another user or organisation, with a bad time, or without the write scope', async () => {
    const r = await receiver();
    const sub = await subscribe('clm_dlv_recover_denied', r.url);
    const body = { since: '2026-01-01T00:00:00Z' };
    const post = (token: string, payload: unknown = body) =>
      request(t.url)
        .post(`${CLAIMS}/${sub.id}/recover`)
        .set('X-Api-Key', token)
        .send(payload as object);
    expect((await post(userA2)).status).toBe(404);
    expect((await post(otherOrgApp)).status).toBe(404);
    expect((await post(appReadOnly)).status).toBe(403);
    const bad = await post(app, { since: 'last week' });
    expect(bad.status).toBe(400);
    expect(bad.body.message).toMatch(/since must be an RFC 3339 date-time/);
    expect((await post(app, {})).status).toBe(400);
    expect((await post(app, { since: body.since, extra: 1 })).status).toBe(400);
  });
});
