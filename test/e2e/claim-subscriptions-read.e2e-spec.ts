import request from 'supertest';
import { mintKey } from '../support/credentials';
import { startTestApp, TestApp } from '../support/test-app';
import { WebhookReceiver } from '../support/webhook-receiver';
import { WebhooksService } from '../../src/core/webhooks/webhooks.service';

const BASE = '/api/v1/approval-notifications';
const SUBS = `${BASE}/subscriptions`;

describe('seed 002: reading claim webhook subscriptions back', () => {
  let t: TestApp;
  let receiver: WebhookReceiver;
  let app: string;
  let user: string;
  let otherUser: string;
  let orgReader: string;
  let foreignApp: string;
  let noScope: string;
  /** Subscriptions by who they are for: the user's own, another user's, and one an app made for the user. */
  const ids: Record<'own' | 'other' | 'byApp', string> = { own: '', other: '', byApp: '' };

  beforeAll(async () => {
    t = await startTestApp({ env: { WEBHOOK_ALLOW_PRIVATE: 'true' } });
    receiver = await WebhookReceiver.start('whsec_' + Buffer.from('unused-secret-unused-secret').toString('base64'));
    app = await mintKey(t, { org: 'org_001', scopes: ['events:read'] });
    user = await mintKey(t, { org: 'org_001', user: 'usr_84cd12ef', scopes: ['events:read'] });
    otherUser = await mintKey(t, { org: 'org_001', user: 'usr_other', scopes: ['events:read'] });
    orgReader = await mintKey(t, { org: 'org_001', user: 'usr_lead', scopes: ['events:read', 'claims:read:org'] });
    foreignApp = await mintKey(t, { org: 'org_002', scopes: ['events:read'] });
    noScope = await mintKey(t, { org: 'org_001', scopes: ['notifications:write'] });

    const subscribe = async (token: string, claim: string, userId: string) => {
      const res = await request(t.url)
        .post(SUBS)
        .set('X-Api-Key', token)
        .send({ claim_id: claim, user_id: userId, webhook_url: `${receiver.url}/${claim}` });
      expect(res.status).toBe(201);
      return res.body.subscription_id as string;
    };
    ids.own = await subscribe(user, 'clm_read_a', 'usr_84cd12ef');
    ids.other = await subscribe(otherUser, 'clm_read_b', 'usr_other');
    ids.byApp = await subscribe(app, 'clm_read_b', 'usr_84cd12ef');
  });
  afterAll(async () => {
    await t?.close();
    await receiver?.close();
  });

  const get = (path: string, token: string) => request(t.url).get(path).set('X-Api-Key', token);
  const idsOf = (body: { data: { subscription_id: string }[] }) => body.data.map((s) => s.subscription_id);

  it('reads one subscription back with its webhook and delivery state, never the secret', async () => {
    const res = await get(`${SUBS}/${ids.own}`, user);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      subscription_id: ids.own,
      claim_id: 'clm_read_a',
      user_id: 'usr_84cd12ef',
      webhook_url: `${receiver.url}/clm_read_a`,
      active: true,
      state: 'on',
      issue: null,
      created_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
    });
    expect(JSON.stringify(res.body)).not.toMatch(/whsec_|secret/);
  });

  it('shows a blocked webhook’s state and issue', async () => {
    await t.app.get(WebhooksService).setState('org_001', ids.other, 'blocked', 'Receiver answered 410 Gone');
    const res = await get(`${SUBS}/${ids.other}`, app);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ state: 'blocked', issue: 'Receiver answered 410 Gone', active: true });
    await t.app.get(WebhooksService).setState('org_001', ids.other, 'on');
  });

  it('lists the organisation’s subscriptions, newest first, in the 002 page shape', async () => {
    const res = await get(`${SUBS}?limit=2`, app);
    expect(res.status).toBe(200);
    expect(res.body.pagination).toEqual({ page: 1, limit: 2, total: 3 });
    expect(idsOf(res.body)).toEqual([ids.byApp, ids.other]);
    const second = await get(`${SUBS}?limit=2&page=2`, app);
    expect(second.body).toEqual({
      data: [expect.objectContaining({ subscription_id: ids.own, state: 'on', webhook_url: expect.any(String) })],
      pagination: { page: 2, limit: 2, total: 3 },
    });
    expect(JSON.stringify([res.body, second.body])).not.toMatch(/whsec_|secret/);
  });

  it('filters by claim and user', async () => {
    const byClaim = await get(`${SUBS}?claim_id=clm_read_b`, app);
    expect(idsOf(byClaim.body).sort()).toEqual([ids.byApp, ids.other].sort());
    const byUser = await get(`${SUBS}?user_id=usr_other`, orgReader);
    expect(idsOf(byUser.body)).toEqual([ids.other]);
  });

  it('shows a plain user only the subscriptions for its own user', async () => {
    const mine = await get(SUBS, user);
    expect(idsOf(mine.body).sort()).toEqual([ids.own, ids.byApp].sort());
    expect(mine.body.pagination.total).toBe(2);
    const asking = await get(`${SUBS}?user_id=usr_other`, user);
    expect(asking.body).toEqual({ data: [], pagination: { page: 1, limit: 20, total: 0 } });
    expect((await get(`${SUBS}/${ids.other}`, user)).status).toBe(404);
    expect((await get(`${SUBS}/${ids.own}`, otherUser)).status).toBe(404);
    expect((await get(`${SUBS}/${ids.own}`, orgReader)).status).toBe(200);
  });

  it('hides them from another organisation', async () => {
    const list = await get(SUBS, foreignApp);
    expect(list.body).toEqual({ data: [], pagination: { page: 1, limit: 20, total: 0 } });
    const one = await get(`${SUBS}/${ids.own}`, foreignApp);
    expect(one.status).toBe(404);
    expect(one.body).toEqual({ statusCode: 404, error: 'Not Found', message: `Subscription ${ids.own} not found` });
  });

  it('needs events:read, like subscribing', async () => {
    for (const path of [SUBS, `${SUBS}/${ids.own}`]) {
      const res = await get(path, noScope);
      expect(res.status).toBe(403);
      expect(res.body).toEqual({ statusCode: 403, error: 'Forbidden', message: 'Missing scope: events:read' });
    }
    expect((await request(t.url).get(SUBS)).status).toBe(401);
  });

  it('is not taken for a notification id, and refuses malformed ids and paging', async () => {
    // `/subscriptions` must not reach `/:notification_id`, which answers 400 for a non-notif_ id.
    expect((await get(SUBS, app)).status).toBe(200);
    expect((await get(`${SUBS}/notif_01jd3m7k2q8w6t5v4x3y2z1a0b`, app)).status).toBe(400);
    expect((await get(`${SUBS}/sub_01jd3m7k2q8w6t5v4x3y2z1a0b`, app)).status).toBe(404);
    expect((await get(`${SUBS}?limit=0`, app)).status).toBe(400);
    expect((await get(`${SUBS}?page=abc`, app)).status).toBe(400);
  });

  it('forgets an unsubscribed subscription, as DELETE does', async () => {
    const created = await request(t.url)
      .post(SUBS)
      .set('X-Api-Key', user)
      .send({ claim_id: 'clm_read_gone', user_id: 'usr_84cd12ef', webhook_url: receiver.url });
    const id = created.body.subscription_id as string;
    expect((await get(`${SUBS}/${id}`, user)).status).toBe(200);
    expect((await request(t.url).delete(`${SUBS}/${id}`).set('X-Api-Key', user)).status).toBe(200);
    expect((await get(`${SUBS}/${id}`, user)).status).toBe(404);
    const list = await get(`${SUBS}?claim_id=clm_read_gone`, app);
    expect(list.body).toEqual({ data: [], pagination: { page: 1, limit: 20, total: 0 } });
  });
});
