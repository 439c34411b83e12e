import request from 'supertest';
import { Webhook } from 'standardwebhooks';
import { mintKey, signJwt } from '../support/credentials';
import { dispatchedThrough, publish } from '../support/events';
import { waitFor } from '../support/sockets';
import { startTestApp, TestApp } from '../support/test-app';
import { WebhookReceiver } from '../support/webhook-receiver';
import { WebhooksService } from '../../src/core/webhooks/webhooks.service';

const BASE = '/api/v1/approval-notifications';

describe('seed 002: claim webhook subscriptions', () => {
  let t: TestApp;
  let receiver: WebhookReceiver;
  let app: string;
  let user: string;

  beforeAll(async () => {
    t = await startTestApp({
      env: {
        WEBHOOK_ALLOW_PRIVATE: 'true',
        DISPATCH_POLL_INTERVAL: '50ms',
        WEBHOOK_POLL_INTERVAL: '50ms',
        WEBHOOK_RETRY_SCHEDULE: '200ms,200ms',
      },
    });
    // The receiver's own check uses a throwaway secret; these tests verify with the subscription's.
    receiver = await WebhookReceiver.start('whsec_' + Buffer.from('unused-secret-unused-secret').toString('base64'));
    app = await mintKey(t, { org: 'org_001', scopes: ['notifications:write', 'events:publish'] });
    user = await mintKey(t, { org: 'org_001', user: 'usr_84cd12ef', scopes: ['events:read'] });
  });
  afterAll(async () => {
    await t?.close();
    await receiver?.close();
  });

  /**
   * The events the delivery log holds for a subscription. The dispatcher writes a delivery in the
   * transaction that moves its checkpoint past the event, so once it is past the last event
   * published this is everything the subscription will ever be sent for them.
   */
  const owedTo = async (subscriptionId: string) =>
    (
      await t.app
        .get(WebhooksService)
        .listDeliveries({ organisation_id: 'org_001', endpoint_id: subscriptionId, limit: 100 })
    ).map((d) => d.event_id);

  it('delivers every event of the claim, signed with the subscription’s secret, and nothing of other claims; unsubscribing stops it', async () => {
    const created = await request(t.url)
      .post(`${BASE}/subscriptions`)
      .set('X-Api-Key', user)
      .send({ claim_id: 'clm_9f2a3b4c', user_id: 'usr_84cd12ef', webhook_url: receiver.url });
    expect(created.status).toBe(201);
    expect(created.body).toEqual({
      subscription_id: expect.stringMatching(/^sub_[0-9a-z]{26}$/),
      claim_id: 'clm_9f2a3b4c',
      user_id: 'usr_84cd12ef',
      active: true,
      created_at: expect.any(String),
      signing_secret: expect.stringMatching(/^whsec_/),
    });
    const verifier = new Webhook(created.body.signing_secret);

    const notified = await request(t.url).post(BASE).set('X-Api-Key', app).send({
      claim_id: 'clm_9f2a3b4c',
      new_status: 'approved',
      recipient_user_id: 'usr_84cd12ef',
      amount: 4850,
      currency: 'NOK',
    });
    expect(notified.status).toBe(201);
    await publish(t.url, app, { type: 'comment_added', claim_id: 'clm_other', user_id: 'usr_84cd12ef' });
    const comment = await publish(t.url, app, {
      type: 'comment_added',
      claim_id: 'clm_9f2a3b4c',
      user_id: 'usr_84cd12ef',
      data: { text: 'ok' },
    });

    await waitFor('three deliveries', () => receiver.requests.length >= 3);
    // `comment` was published last: past it, the log lists everything owed.
    await dispatchedThrough(t.url, comment.body.seq);
    expect(await owedTo(created.body.subscription_id)).toHaveLength(3);
    expect(receiver.requests).toHaveLength(3);
    const bodies = receiver.requests.map((r) => {
      const payload = verifier.verify(r.body, r.headers as Record<string, string>) as {
        type: string;
        claimid: string;
        id: string;
      };
      return payload;
    });
    expect(bodies.map((b) => b.type)).toEqual(['status_changed', 'claim_approved', 'comment_added']);
    expect(bodies.every((b) => b.claimid === 'clm_9f2a3b4c')).toBe(true);
    expect(bodies[2].id).toBe(comment.body.id);
    expect(new Set(receiver.ids()).size).toBe(3);

    const del = await request(t.url)
      .delete(`${BASE}/subscriptions/${created.body.subscription_id}`)
      .set('X-Api-Key', user);
    expect(del.status).toBe(200);
    expect(del.body).toEqual({ unsubscribed: true, subscription_id: created.body.subscription_id });
    const afterDelete = await publish(t.url, app, { type: 'comment_added', claim_id: 'clm_9f2a3b4c' });
    await dispatchedThrough(t.url, afterDelete.body.seq);
    expect(await owedTo(created.body.subscription_id)).not.toContain(afterDelete.body.id);
    expect(receiver.requests).toHaveLength(3);
    expect(
      (await request(t.url).delete(`${BASE}/subscriptions/${created.body.subscription_id}`).set('X-Api-Key', user))
        .status,
    ).toBe(404);
  });

  it('subscribing and unsubscribing need events:read', async () => {
    const noScope = await mintKey(t, { org: 'org_001', user: 'usr_84cd12ef', scopes: [] });
    const writer = await mintKey(t, { org: 'org_001', scopes: ['notifications:write', 'events:publish'] });
    const jwt = await signJwt({
      sub: 'usr_84cd12ef',
      org: 'org_001',
      scope: 'notifications:write',
      token_type: 'user',
    });
    for (const [header, value] of [
      ['X-Api-Key', noScope],
      ['X-Api-Key', writer],
      ['Authorization', `Bearer ${jwt}`],
    ]) {
      const res = await request(t.url)
        .post(`${BASE}/subscriptions`)
        .set(header, value)
        .send({ claim_id: 'clm_scope', user_id: 'usr_84cd12ef', webhook_url: receiver.url });
      expect(res.status).toBe(403);
      expect(res.body).toEqual({ statusCode: 403, error: 'Forbidden', message: 'Missing scope: events:read' });
    }
    const created = await request(t.url)
      .post(`${BASE}/subscriptions`)
      .set('X-Api-Key', user)
      .send({ claim_id: 'clm_scope', user_id: 'usr_84cd12ef', webhook_url: receiver.url });
    expect(created.status).toBe(201);
    const refused = await request(t.url)
      .delete(`${BASE}/subscriptions/${created.body.subscription_id}`)
      .set('X-Api-Key', noScope);
    expect(refused.status).toBe(403);
    expect(
      (await request(t.url).delete(`${BASE}/subscriptions/${created.body.subscription_id}`).set('X-Api-Key', user))
        .status,
    ).toBe(200);
  });

  it('a user’s subscription gets only the claim’s events about that user; an app’s gets every one', async () => {
    const unused = 'whsec_' + Buffer.from('unused-secret-unused-secret').toString('base64');
    const userHooks = await WebhookReceiver.start(unused);
    const appHooks = await WebhookReceiver.start(unused);
    try {
      const reader = await mintKey(t, { org: 'org_001', scopes: ['events:read'] });
      const mine = await request(t.url)
        .post(`${BASE}/subscriptions`)
        .set('X-Api-Key', user)
        .send({ claim_id: 'clm_shared', user_id: 'usr_84cd12ef', webhook_url: userHooks.url });
      const all = await request(t.url)
        .post(`${BASE}/subscriptions`)
        .set('X-Api-Key', reader)
        .send({ claim_id: 'clm_shared', user_id: 'usr_coord99', webhook_url: appHooks.url });
      expect([mine.status, all.status]).toEqual([201, 201]);

      const aboutOther = await publish(t.url, app, {
        type: 'comment_added',
        claim_id: 'clm_shared',
        user_id: 'usr_other',
        data: { text: 'private to usr_other' },
      });
      const aboutNobody = await publish(t.url, app, {
        type: 'comment_added',
        claim_id: 'clm_shared',
        data: { text: 'no user' },
      });
      const notified = await request(t.url)
        .post(BASE)
        .set('X-Api-Key', app)
        .send({ claim_id: 'clm_shared', new_status: 'rejected', recipient_user_id: 'usr_other', comment: 'not yours' });
      expect(notified.status).toBe(201);
      const aboutMe = await publish(t.url, app, {
        type: 'comment_added',
        claim_id: 'clm_shared',
        user_id: 'usr_84cd12ef',
        data: { text: 'for you' },
      });

      // What the same user may read over REST is exactly what its webhook gets.
      const readable = await request(t.url).get('/api/v1/events?after=0&limit=1000').set('X-Api-Key', user);
      const readableOfClaim = readable.body.data
        .filter((e: { claim_id: string }) => e.claim_id === 'clm_shared')
        .map((e: { id: string }) => e.id);
      expect(readableOfClaim).toEqual([aboutMe.body.id]);

      await dispatchedThrough(t.url, aboutMe.body.seq);
      await waitFor('every event at the app’s receiver', () => appHooks.requests.length >= 5);
      await waitFor('the user’s event at its receiver', () => userHooks.requests.length >= 1);
      // The dispatcher is past every event: the log lists all either subscription is owed.
      expect(await owedTo(mine.body.subscription_id)).toEqual(readableOfClaim);
      expect(await owedTo(all.body.subscription_id)).toHaveLength(5);

      const userVerifier = new Webhook(mine.body.signing_secret);
      const delivered = userHooks.requests.map(
        (r) => (userVerifier.verify(r.body, r.headers as Record<string, string>) as { id: string }).id,
      );
      expect(delivered).toEqual(readableOfClaim);
      expect(userHooks.requests.map((r) => r.body).join()).not.toMatch(/usr_other|private to|not yours|no user/);

      const appVerifier = new Webhook(all.body.signing_secret);
      const toApp = appHooks.requests.map(
        (r) => appVerifier.verify(r.body, r.headers as Record<string, string>) as { id: string; type: string },
      );
      expect(toApp).toHaveLength(5);
      expect(
        toApp
          .filter((e) => e.type === 'comment_added')
          .map((e) => e.id)
          .sort(),
      ).toEqual([aboutOther, aboutNobody, aboutMe].map((p) => p.body.id).sort());
      expect(toApp.map((e) => e.type).sort()).toEqual([
        'claim_rejected',
        'comment_added',
        'comment_added',
        'comment_added',
        'status_changed',
      ]);
    } finally {
      await userHooks.close();
      await appHooks.close();
    }
  });

  it('refuses a user subscribing for someone else, and a bad webhook_url', async () => {
    expect(
      (
        await request(t.url)
          .post(`${BASE}/subscriptions`)
          .set('X-Api-Key', user)
          .send({ claim_id: 'c', user_id: 'usr_x', webhook_url: receiver.url })
      ).status,
    ).toBe(403);
    const bad = await request(t.url)
      .post(`${BASE}/subscriptions`)
      .set('X-Api-Key', user)
      .send({ claim_id: 'c', user_id: 'usr_84cd12ef', webhook_url: 'ftp://example.com/x' });
    expect(bad.status).toBe(400);
    const missing = await request(t.url).post(`${BASE}/subscriptions`).set('X-Api-Key', user).send({ claim_id: 'c' });
    expect(missing.status).toBe(400);
    expect([...new Set(missing.body.details.map((d: { field: string }) => d.field))].sort()).toEqual([
      'user_id',
      'webhook_url',
    ]);
  });
});
