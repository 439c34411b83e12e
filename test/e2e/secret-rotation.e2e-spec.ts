import request from 'supertest';
import { Webhook } from 'standardwebhooks';
import { mintKey } from '../support/credentials';
import { publish } from '../support/events';
import { waitFor } from '../support/sockets';
import { startTestApp, TestApp } from '../support/test-app';
import { WebhookReceiver, type ReceivedWebhook } from '../support/webhook-receiver';

const CLAIMS = '/api/v1/approval-notifications/subscriptions';
const V1 = '/api/v1/subscriptions';
const ORG = 'org_rot';
const WS = 'ws_rot';
const ENV = {
  WEBHOOK_ALLOW_PRIVATE: 'true',
  WEBHOOK_SECRET_ROTATION_OVERLAP: '3s',
  DISPATCH_POLL_INTERVAL: '50ms',
  WEBHOOK_POLL_INTERVAL: '50ms',
};
/** The receiver's own check uses a throwaway secret; each test verifies with the secrets it holds. */
const RECEIVER_SECRET = 'whsec_' + Buffer.from('rotation-receiver-secret-abc').toString('base64');

/** Whether a receiver holding `secret` accepts the request, with the Standard Webhooks library. */
function verifies(req: ReceivedWebhook, secret: string): boolean {
  try {
    new Webhook(secret).verify(req.body, req.headers as Record<string, string>);
    return true;
  } catch {
    return false;
  }
}

const signatures = (req: ReceivedWebhook) => String(req.headers['webhook-signature']).split(' ');

/**
 * Rotating a subscription's signing secret (002 and 003) through the real app: deliveries are
 * signed with the old secret, then with both for the overlap, then with the new one only, as a
 * real receiver verifying with the `standardwebhooks` package sees them.
 */
describe('webhook signing secret rotation', () => {
  let t: TestApp;
  let receiver: WebhookReceiver;
  let producer: string;

  beforeAll(async () => {
    t = await startTestApp({ env: ENV });
    receiver = await WebhookReceiver.start(RECEIVER_SECRET);
    producer = await mintKey(t, { org: ORG, scopes: ['events:publish'] });
  });
  afterAll(async () => {
    await t?.close();
    await receiver?.close();
  });

  /** Publishes an event and returns the request that delivered it. */
  async function deliver(spec: Parameters<typeof publish>[2]): Promise<ReceivedWebhook> {
    const res = await publish(t.url, producer, spec);
    expect(res.status).toBe(201);
    const id = res.body.id as string;
    let found: ReceivedWebhook | undefined;
    await waitFor(`delivery of ${id}`, () => {
      found = receiver.requests.find((r) => (JSON.parse(r.body) as { id: string }).id === id);
      return found !== undefined;
    });
    return found!;
  }

  /** Resolves once `expiresAt` has passed, polling rather than sleeping the whole overlap. */
  const overlapOver = (expiresAt: string) =>
    waitFor(`overlap until ${expiresAt}`, () => Date.now() > Date.parse(expiresAt), 10_000);

  /** Old secret only, then both, then new only; checks the rotate answer on the way. */
  async function rotationFlow(
    oldSecret: string,
    rotate: () => Promise<request.Response>,
    event: () => Parameters<typeof publish>[2],
    subscriptionId: string,
  ): Promise<void> {
    const before = await deliver(event());
    expect(verifies(before, oldSecret)).toBe(true);
    expect(signatures(before)).toHaveLength(1);

    const asked = Date.now();
    const rotated = await rotate();
    expect(rotated.status).toBe(200);
    expect(rotated.body).toEqual({
      subscription_id: subscriptionId,
      signing_secret: expect.stringMatching(/^whsec_[A-Za-z0-9+/]{32}$/),
      previous_secret_expires_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
    });
    const newSecret = rotated.body.signing_secret as string;
    expect(newSecret).not.toBe(oldSecret);
    const expiresAt = rotated.body.previous_secret_expires_at as string;
    expect(Date.parse(expiresAt) - asked).toBeGreaterThanOrEqual(2900);
    expect(Date.parse(expiresAt) - asked).toBeLessThanOrEqual(3000 + (Date.now() - asked));

    const during = await deliver(event());
    expect(Date.now()).toBeLessThan(Date.parse(expiresAt));
    expect(signatures(during)).toHaveLength(2);
    expect(signatures(during).every((s) => s.startsWith('v1,'))).toBe(true);
    expect(verifies(during, oldSecret)).toBe(true);
    expect(verifies(during, newSecret)).toBe(true);

    await overlapOver(expiresAt);
    const after = await deliver(event());
    expect(signatures(after)).toHaveLength(1);
    expect(verifies(after, newSecret)).toBe(true);
    expect(() => new Webhook(oldSecret).verify(after.body, after.headers as Record<string, string>)).toThrow();
  }

  describe('seed 002: claim subscriptions', () => {
    const USER = 'usr_rot_owner';
    let owner: string;

    beforeAll(async () => {
      owner = await mintKey(t, { org: ORG, user: USER, scopes: ['events:read', 'notifications:write'] });
    });

    const subscribe = async (claim: string) => {
      const res = await request(t.url)
        .post(CLAIMS)
        .set('X-Api-Key', owner)
        .send({ claim_id: claim, user_id: USER, webhook_url: receiver.url });
      expect(res.status).toBe(201);
      return res.body as { subscription_id: string; signing_secret: string };
    };

    it('signs with the old secret, then both for the overlap, then the new one only', async () => {
      const sub = await subscribe('clm_rot_1');
      await rotationFlow(
        sub.signing_secret,
        () => request(t.url).post(`${CLAIMS}/${sub.subscription_id}/rotate-secret`).set('X-Api-Key', owner),
        () => ({ type: 'comment_added', claim_id: 'clm_rot_1', user_id: USER }),
        sub.subscription_id,
      );
      // Shown once: reading the subscription back never includes a secret.
      const read = await request(t.url).get(`${CLAIMS}/${sub.subscription_id}`).set('X-Api-Key', owner);
      expect(read.status).toBe(200);
      expect(JSON.stringify(read.body)).not.toContain('whsec_');
    });

    it('may be rotated by whoever may unsubscribe it; anyone else gets 404, a missing scope 403, a malformed id 400', async () => {
      const sub = await subscribe('clm_rot_2');
      const rotate = (token: string, id = sub.subscription_id) =>
        request(t.url).post(`${CLAIMS}/${id}/rotate-secret`).set('X-Api-Key', token);

      const otherOrg = await mintKey(t, { org: 'org_rot_other', scopes: ['notifications:write', 'events:read'] });
      const otherUser = await mintKey(t, { org: ORG, user: 'usr_rot_other', scopes: ['notifications:write'] });
      const readOnly = await mintKey(t, { org: ORG, user: USER, scopes: ['events:read'] });
      const app = await mintKey(t, { org: ORG, scopes: ['notifications:write'] });

      for (const token of [otherOrg, otherUser]) {
        const res = await rotate(token);
        expect(res.status).toBe(404);
        expect(res.body).toMatchObject({ statusCode: 404, message: `Subscription ${sub.subscription_id} not found` });
      }
      const noScope = await rotate(readOnly);
      expect(noScope.status).toBe(403);
      expect(noScope.body).toEqual({
        statusCode: 403,
        error: 'Forbidden',
        message: 'Missing scope: notifications:write',
      });
      const malformed = await rotate(owner, 'not-a-sub');
      expect(malformed.status).toBe(400);
      expect(malformed.body.details).toEqual([{ field: 'subscription_id', message: expect.any(String) }]);
      expect((await rotate(owner, 'sub_01jd3m7k2q8w6t5v4x3y2z1a0b')).status).toBe(404);

      // Nothing refused changed the secret: the original still verifies alone.
      const still = await deliver({ type: 'comment_added', claim_id: 'clm_rot_2', user_id: USER });
      expect(signatures(still)).toHaveLength(1);
      expect(verifies(still, sub.signing_secret)).toBe(true);

      // An app credential sees the organisation's subscriptions, so it may rotate this one.
      const byApp = await rotate(app);
      expect(byApp.status).toBe(200);
      const after = await deliver({ type: 'comment_added', claim_id: 'clm_rot_2', user_id: USER });
      expect(verifies(after, byApp.body.signing_secret)).toBe(true);

      // Unsubscribed, it is gone for rotation as for every other route.
      expect((await request(t.url).delete(`${CLAIMS}/${sub.subscription_id}`).set('X-Api-Key', owner)).status).toBe(
        200,
      );
      expect((await rotate(owner)).status).toBe(404);
    });
  });

  describe('seed 003: workspace subscriptions', () => {
    const ALICE = 'usr_rot_alice';
    let alice: string;
    let bob: string;
    let app: string;

    beforeAll(async () => {
      const writer = ['subscriptions:write', 'events:read'];
      alice = await mintKey(t, { org: ORG, user: ALICE, scopes: writer, workspaces: [WS] });
      bob = await mintKey(t, { org: ORG, user: 'usr_rot_bob', scopes: writer, workspaces: [WS] });
      app = await mintKey(t, { org: ORG, kind: 'app', scopes: writer, workspaces: [WS] });
    });

    const create = async (
      claim: string,
      actions: Record<string, unknown>[] = [{ type: 'webhook', url: receiver.url }],
    ) => {
      const res = await request(t.url)
        .post(V1)
        .set('X-Api-Key', alice)
        .set('X-Workspace-Id', WS)
        .send({
          rules: [{ trigger: 'claim_approved', conditions: { claimid: claim } }],
          resources: ['claims/*'],
          actions,
        });
      expect(res.status).toBe(201);
      return res.body as { id: string; signing_secret?: string };
    };
    const rotate = (token: string, id: string, workspace = WS) =>
      request(t.url).post(`${V1}/${id}/rotate-secret`).set('X-Api-Key', token).set('X-Workspace-Id', workspace);
    const approved = (claim: string) => ({ type: 'claim_approved', claim_id: claim, user_id: ALICE });

    it('signs with the old secret, then both for the overlap, then the new one only', async () => {
      const sub = await create('clm_rot_3');
      expect(sub.signing_secret).toMatch(/^whsec_/);
      await rotationFlow(
        sub.signing_secret!,
        () => rotate(alice, sub.id),
        () => approved('clm_rot_3'),
        sub.id,
      );
      const read = await request(t.url).get(`${V1}/${sub.id}`).set('X-Api-Key', alice).set('X-Workspace-Id', WS);
      expect(read.status).toBe(200);
      expect(JSON.stringify(read.body)).not.toContain('whsec_');
    });

    it('keeps one previous secret: rotating again during the overlap drops the oldest', async () => {
      const sub = await create('clm_rot_4');
      const second = await rotate(alice, sub.id);
      const third = await rotate(alice, sub.id);
      expect([second.status, third.status]).toEqual([200, 200]);
      const req = await deliver(approved('clm_rot_4'));
      expect(signatures(req)).toHaveLength(2);
      expect(verifies(req, third.body.signing_secret)).toBe(true);
      expect(verifies(req, second.body.signing_secret)).toBe(true);
      expect(verifies(req, sub.signing_secret!)).toBe(false);
    });

    it('needs the owner, an app or an admin (403), a webhook action (409) and a subscription of this workspace (404)', async () => {
      const sub = await create('clm_rot_5');
      const byBob = await rotate(bob, sub.id);
      expect(byBob.status).toBe(403);
      expect(byBob.body).toMatchObject({ statusCode: 403, error: 'Forbidden' });
      expect(byBob.body.message).toContain('only its owner, an app or an admin credential');

      const readOnly = await mintKey(t, { org: ORG, user: ALICE, scopes: ['events:read'], workspaces: [WS] });
      const noScope = await rotate(readOnly, sub.id);
      expect(noScope.status).toBe(403);
      expect(noScope.body).toEqual({
        statusCode: 403,
        error: 'Forbidden',
        message: 'Missing scope: subscriptions:write',
      });

      const otherOrg = await mintKey(t, {
        org: 'org_rot_other',
        kind: 'app',
        scopes: ['subscriptions:write'],
        workspaces: [WS],
      });
      expect((await rotate(otherOrg, sub.id)).status).toBe(404);
      const otherWorkspace = await mintKey(t, {
        org: ORG,
        kind: 'app',
        scopes: ['subscriptions:write'],
        workspaces: ['ws_rot_other'],
      });
      expect((await rotate(otherWorkspace, sub.id, 'ws_rot_other')).status).toBe(404);
      // This family answers any id it does not hold with 404, a malformed one included.
      expect((await rotate(alice, 'not-an-id')).status).toBe(404);
      expect((await rotate(alice, 'wsub_01jd3m7k2q8w6t5v4x3y2z1a0b')).status).toBe(404);

      const socketOnly = await create('clm_rot_6', [{ type: 'socket' }]);
      const conflict = await rotate(alice, socketOnly.id);
      expect(conflict.status).toBe(409);
      expect(conflict.body).toMatchObject({
        statusCode: 409,
        message: `Subscription ${socketOnly.id} has no webhook action, so it has no signing secret to rotate`,
      });

      // Nothing refused changed the secret; an app of the organisation may rotate it.
      const still = await deliver(approved('clm_rot_5'));
      expect(signatures(still)).toHaveLength(1);
      expect(verifies(still, sub.signing_secret!)).toBe(true);
      const byApp = await rotate(app, sub.id);
      expect(byApp.status).toBe(200);
      expect(verifies(await deliver(approved('clm_rot_5')), byApp.body.signing_secret)).toBe(true);
    });
  });
});

describe('webhook signing secret rotation without an overlap', () => {
  let t: TestApp;
  let receiver: WebhookReceiver;

  beforeAll(async () => {
    t = await startTestApp({ env: { ...ENV, WEBHOOK_SECRET_ROTATION_OVERLAP: '0s' } });
    receiver = await WebhookReceiver.start(RECEIVER_SECRET);
  });
  afterAll(async () => {
    await t?.close();
    await receiver?.close();
  });

  it('stops signing with the old secret at once', async () => {
    const owner = await mintKey(t, { org: ORG, user: 'usr_rot_now', scopes: ['events:read', 'notifications:write'] });
    const producer = await mintKey(t, { org: ORG, scopes: ['events:publish'] });
    const sub = await request(t.url)
      .post(CLAIMS)
      .set('X-Api-Key', owner)
      .send({ claim_id: 'clm_rot_now', user_id: 'usr_rot_now', webhook_url: receiver.url });
    expect(sub.status).toBe(201);
    const asked = Date.now();
    const rotated = await request(t.url)
      .post(`${CLAIMS}/${sub.body.subscription_id}/rotate-secret`)
      .set('X-Api-Key', owner);
    expect(rotated.status).toBe(200);
    expect(Date.parse(rotated.body.previous_secret_expires_at)).toBeLessThanOrEqual(Date.now());
    expect(Date.parse(rotated.body.previous_secret_expires_at)).toBeGreaterThanOrEqual(asked - 1);

    const res = await publish(t.url, producer, {
      type: 'comment_added',
      claim_id: 'clm_rot_now',
      user_id: 'usr_rot_now',
    });
    await waitFor('the delivery', () => receiver.requests.length === 1);
    const req = receiver.requests[0];
    expect((JSON.parse(req.body) as { id: string }).id).toBe(res.body.id);
    expect(signatures(req)).toHaveLength(1);
    expect(verifies(req, rotated.body.signing_secret)).toBe(true);
    expect(verifies(req, sub.body.signing_secret)).toBe(false);
  });
});
