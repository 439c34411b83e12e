import request from 'supertest';
import { Webhook } from 'standardwebhooks';
import { mintKey } from '../support/credentials';
import { publish } from '../support/events';
import { waitFor } from '../support/sockets';
import { startTestApp, TestApp } from '../support/test-app';
import { WebhookReceiver } from '../support/webhook-receiver';

const BASE = '/api/v1/approval-notifications';

describe('seed 002: claim webhook subscriptions', () => {
  let t: TestApp;
  let receiver: WebhookReceiver;
  let app: string;
  let user: string;

  beforeAll(async () => {
    t = await startTestApp({
      env: { WEBHOOK_ALLOW_PRIVATE: 'true', DISPATCH_POLL_INTERVAL: '50ms', WEBHOOK_POLL_INTERVAL: '50ms', WEBHOOK_RETRY_SCHEDULE: '200ms,200ms' },
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

  it('delivers every event of the claim, signed with the subscription’s secret, and nothing of other claims; unsubscribing stops it', async () => {
    const created = await request(t.url).post(`${BASE}/subscriptions`).set('X-Api-Key', user).send({ claim_id: 'clm_9f2a3b4c', user_id: 'usr_84cd12ef', webhook_url: receiver.url });
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

    const notified = await request(t.url).post(BASE).set('X-Api-Key', app).send({ claim_id: 'clm_9f2a3b4c', new_status: 'approved', recipient_user_id: 'usr_84cd12ef', amount: 4850, currency: 'NOK' });
    expect(notified.status).toBe(201);
    await publish(t.url, app, { type: 'comment_added', claim_id: 'clm_other', user_id: 'usr_84cd12ef' });
    const comment = await publish(t.url, app, { type: 'comment_added', claim_id: 'clm_9f2a3b4c', user_id: 'usr_84cd12ef', data: { text: 'ok' } });

    await waitFor('three deliveries', () => receiver.requests.length >= 3);
    await new Promise((r) => setTimeout(r, 300));
    expect(receiver.requests).toHaveLength(3);
    const bodies = receiver.requests.map((r) => {
      const payload = verifier.verify(r.body, r.headers as Record<string, string>) as { type: string; claimid: string; id: string };
      return payload;
    });
    expect(bodies.map((b) => b.type)).toEqual(['status_changed', 'claim_approved', 'comment_added']);
    expect(bodies.every((b) => b.claimid === 'clm_9f2a3b4c')).toBe(true);
    expect(bodies[2].id).toBe(comment.body.id);
    expect(new Set(receiver.ids()).size).toBe(3);

    const del = await request(t.url).delete(`${BASE}/subscriptions/${created.body.subscription_id}`).set('X-Api-Key', user);
    expect(del.status).toBe(200);
    expect(del.body).toEqual({ unsubscribed: true, subscription_id: created.body.subscription_id });
    await publish(t.url, app, { type: 'comment_added', claim_id: 'clm_9f2a3b4c' });
    await new Promise((r) => setTimeout(r, 600));
    expect(receiver.requests).toHaveLength(3);
    expect((await request(t.url).delete(`${BASE}/subscriptions/${created.body.subscription_id}`).set('X-Api-Key', user)).status).toBe(404);
  });

  it('refuses a user subscribing for someone else, and a bad webhook_url', async () => {
    expect((await request(t.url).post(`${BASE}/subscriptions`).set('X-Api-Key', user).send({ claim_id: 'c', user_id: 'usr_x', webhook_url: receiver.url })).status).toBe(403);
    const bad = await request(t.url).post(`${BASE}/subscriptions`).set('X-Api-Key', user).send({ claim_id: 'c', user_id: 'usr_84cd12ef', webhook_url: 'ftp://example.com/x' });
    expect(bad.status).toBe(400);
    const missing = await request(t.url).post(`${BASE}/subscriptions`).set('X-Api-Key', user).send({ claim_id: 'c' });
    expect(missing.status).toBe(400);
    expect([...new Set(missing.body.details.map((d: { field: string }) => d.field))].sort()).toEqual(['user_id', 'webhook_url']);
  });
});
