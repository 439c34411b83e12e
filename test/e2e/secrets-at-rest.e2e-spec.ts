import { randomBytes } from 'node:crypto';
import request from 'supertest';
import { Webhook } from 'standardwebhooks';
import { Database } from '../../src/core/database/database.service';
import { WebhookEndpointEntity } from '../../src/core/webhooks/webhook-endpoint.entity';
import { WebhooksService } from '../../src/core/webhooks/webhooks.service';
import { mintKey } from '../support/credentials';
import { publish, type PublishSpec } from '../support/events';
import { captureLogs } from '../support/freeze';
import { waitFor } from '../support/sockets';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { startTestApp, TestApp } from '../support/test-app';
import { WebhookReceiver, type ReceivedWebhook } from '../support/webhook-receiver';

const CLAIMS = '/api/v1/approval-notifications/subscriptions';
const V1 = '/api/v1/subscriptions';
const ORG = 'org_rest';
const WS = 'ws_rest';
const USER = 'usr_rest';
const ENV = { WEBHOOK_ALLOW_PRIVATE: 'true', DISPATCH_POLL_INTERVAL: '50ms', WEBHOOK_POLL_INTERVAL: '50ms' };
const RECEIVER_SECRET = 'whsec_' + Buffer.from('at-rest-receiver-secret-abcd').toString('base64');
const NO_KEY_WARNING = 'HERALD_ENCRYPTION_KEY is not set: webhook signing secrets are stored in plain text';

const newKey = () => randomBytes(32).toString('base64');

interface StoredSecrets {
  id: string;
  secret: string;
  previous_secret: string | null;
}

/**
 * Signing secrets at rest (HERALD_ENCRYPTION_KEY) through the real app and its database: what
 * the `webhook_endpoints` rows hold, what receivers verify, and what restarts with another key
 * ring do to both.
 */
describe('webhook signing secrets at rest', () => {
  let receiver: WebhookReceiver;
  const apps: TestApp[] = [];
  const databases: TestDatabase[] = [];

  beforeAll(async () => {
    receiver = await WebhookReceiver.start(RECEIVER_SECRET);
  });
  afterAll(async () => {
    for (const a of apps) await a.close();
    for (const d of databases) await d.drop();
    await receiver?.close();
  });

  function database(): TestDatabase {
    const d = createTestDatabase();
    databases.push(d);
    return d;
  }

  async function start(db: TestDatabase, key?: string): Promise<TestApp> {
    const t = await startTestApp({ database: db, env: { ...ENV, ...(key ? { HERALD_ENCRYPTION_KEY: key } : {}) } });
    apps.push(t);
    return t;
  }

  /** The rows as stored, read straight from the table. */
  const stored = (t: TestApp): Promise<StoredSecrets[]> =>
    t.app
      .get(Database)
      .read((m) =>
        m
          .createQueryBuilder(WebhookEndpointEntity, 'e')
          .select(['e.id AS id', 'e.secret AS secret', 'e.previous_secret AS previous_secret'])
          .orderBy('e.id')
          .getRawMany<StoredSecrets>(),
      );

  /** A claim subscription and a workspace subscription with a webhook, and the secrets they returned. */
  async function subscribe(t: TestApp): Promise<{ claim: string; workspace: string; secrets: Map<string, string> }> {
    const claimOwner = await mintKey(t, { org: ORG, user: USER, scopes: ['events:read'] });
    const writer = await mintKey(t, {
      org: ORG,
      user: USER,
      scopes: ['subscriptions:write', 'events:read'],
      workspaces: [WS],
    });
    const claim = await request(t.url)
      .post(CLAIMS)
      .set('X-Api-Key', claimOwner)
      .send({ claim_id: 'clm_rest_1', user_id: USER, webhook_url: receiver.url });
    expect(claim.status).toBe(201);
    const workspace = await request(t.url)
      .post(V1)
      .set('X-Api-Key', writer)
      .set('X-Workspace-Id', WS)
      .send({
        rules: [{ trigger: 'claim_approved', conditions: { claimid: 'clm_rest_2' } }],
        resources: ['claims/*'],
        actions: [{ type: 'webhook', url: receiver.url }],
      });
    expect(workspace.status).toBe(201);
    return {
      claim: claim.body.subscription_id,
      workspace: workspace.body.id,
      secrets: new Map([
        [claim.body.subscription_id as string, claim.body.signing_secret as string],
        [workspace.body.id as string, workspace.body.signing_secret as string],
      ]),
    };
  }

  /** Publishes an event and returns the request that delivered it. */
  async function deliver(t: TestApp, spec: PublishSpec): Promise<ReceivedWebhook> {
    const producer = await mintKey(t, { org: ORG, scopes: ['events:publish'] });
    const res = await publish(t.url, producer, spec);
    expect(res.status).toBe(201);
    let found: ReceivedWebhook | undefined;
    await waitFor(`delivery of ${res.body.id}`, () => {
      found = receiver.requests.find((r) => (JSON.parse(r.body) as { id: string }).id === res.body.id);
      return found !== undefined;
    });
    return found!;
  }

  /** One delivery to each subscription verifies with the secret it returned (or the one given). */
  async function expectDeliveriesVerify(t: TestApp, secrets: Map<string, string>, claim: string, workspace: string) {
    const toClaim = await deliver(t, { type: 'comment_added', claim_id: 'clm_rest_1', user_id: USER });
    const toWorkspace = await deliver(t, { type: 'claim_approved', claim_id: 'clm_rest_2', user_id: USER });
    for (const [req, id] of [
      [toClaim, claim],
      [toWorkspace, workspace],
    ] as const)
      expect(new Webhook(secrets.get(id)!).verify(req.body, req.headers as Record<string, string>)).toMatchObject({
        id: expect.any(String),
      });
  }

  it('seals with the first key, re-seals under a new key prepended at restart, and deliveries verify throughout', async () => {
    const db = database();
    const k1 = newKey();
    const k2 = newKey();
    let t = await start(db, `k1:${k1}`);
    const { claim, workspace, secrets } = await subscribe(t);

    const rows = await stored(t);
    expect(rows.map((r) => r.id).sort()).toEqual([claim, workspace].sort());
    for (const row of rows) {
      const secret = secrets.get(row.id)!;
      expect(row.secret).toMatch(/^enc:v1:k1:/);
      expect(row.secret).not.toContain(secret);
      expect(row.secret).not.toContain(secret.slice('whsec_'.length));
      expect(row.secret.length).toBeLessThanOrEqual(128);
    }
    await expectDeliveriesVerify(t, secrets, claim, workspace);

    // A rotation seals the previous secret too.
    const owner = await mintKey(t, { org: ORG, user: USER, scopes: ['notifications:write'] });
    const rotated = await request(t.url).post(`${CLAIMS}/${claim}/rotate-secret`).set('X-Api-Key', owner);
    expect(rotated.status).toBe(200);
    const oldClaimSecret = secrets.get(claim)!;
    secrets.set(claim, rotated.body.signing_secret);
    const afterRotation = (await stored(t)).find((r) => r.id === claim)!;
    expect(afterRotation.secret).toMatch(/^enc:v1:k1:/);
    expect(afterRotation.previous_secret).toMatch(/^enc:v1:k1:/);
    expect(afterRotation.previous_secret).not.toContain(oldClaimSecret.slice('whsec_'.length));

    // Key rotation: the new key first, the old one kept to open what it sealed.
    await t.close();
    const logs = captureLogs();
    try {
      t = await start(db, `k2:${k2},k1:${k1}`);
    } finally {
      logs.restore();
    }
    expect(logs.lines.filter((l) => l.message.includes(NO_KEY_WARNING))).toEqual([]);
    expect(logs.lines.filter((l) => l.message.startsWith('webhook signing secrets are sealed at rest'))).toEqual([
      expect.objectContaining({ level: 'log', fields: { key: 'k2', resealed: 2 } }),
    ]);
    for (const row of await stored(t)) {
      expect(row.secret).toMatch(/^enc:v1:k2:/);
      if (row.id === claim) expect(row.previous_secret).toMatch(/^enc:v1:k2:/);
    }
    await expectDeliveriesVerify(t, secrets, claim, workspace);
    // The rotation's overlap (24 h by default) survived the re-sealing: the old secret still verifies.
    const duringOverlap = await deliver(t, { type: 'comment_added', claim_id: 'clm_rest_1', user_id: USER });
    expect(() =>
      new Webhook(oldClaimSecret).verify(duringOverlap.body, duringOverlap.headers as Record<string, string>),
    ).not.toThrow();

    // Once everything is under k2, k1 can go.
    await t.close();
    t = await start(db, `k2:${k2}`);
    await expectDeliveriesVerify(t, secrets, claim, workspace);
  });

  it('without a key stores secrets in plain text with one warning, and seals them once a key is set', async () => {
    const db = database();
    const logs = captureLogs();
    let t: TestApp;
    try {
      t = await start(db);
    } finally {
      logs.restore();
    }
    const warnings = logs.lines.filter((l) => l.message.startsWith(NO_KEY_WARNING));
    expect(warnings).toEqual([expect.objectContaining({ level: 'warn', fields: { engine: db.engine } })]);
    expect(warnings[0].message).toContain(db.engine);

    const { claim, workspace, secrets } = await subscribe(t);
    for (const row of await stored(t)) expect(row.secret).toBe(secrets.get(row.id));
    await expectDeliveriesVerify(t, secrets, claim, workspace);

    // Rows written before the key was set are sealed at the next start with one (a bare key is k1).
    await t.close();
    t = await start(db, newKey());
    for (const row of await stored(t)) expect(row.secret).toMatch(/^enc:v1:k1:/);
    await expectDeliveriesVerify(t, secrets, claim, workspace);
  });

  it('binds a sealed secret to its row: copied into another, that endpoint keeps its deliveries unsent until the secret is rotated, and the rest deliver', async () => {
    const db = database();
    const t = await start(db, `k1:${newKey()}`);
    const { claim, workspace, secrets } = await subscribe(t);
    const rows = await stored(t);
    const claimRow = rows.find((r) => r.id === claim)!;
    await t.app
      .get(Database)
      .transaction((m) => m.update(WebhookEndpointEntity, { id: workspace }, { secret: claimRow.secret }));

    const producer = await mintKey(t, { org: ORG, scopes: ['events:publish'] });
    const refused = await publish(t.url, producer, { type: 'claim_approved', claim_id: 'clm_rest_2', user_id: USER });
    const toClaim = await deliver(t, { type: 'comment_added', claim_id: 'clm_rest_1', user_id: USER });
    expect(
      new Webhook(secrets.get(claim)!).verify(toClaim.body, toClaim.headers as Record<string, string>),
    ).toBeTruthy();

    const webhooks = t.app.get(WebhooksService);
    await waitFor('the refused delivery logged', async () =>
      (await webhooks.listDeliveries({ organisation_id: ORG, endpoint_id: workspace, limit: 10 })).some(
        (d) => d.event_id === refused.body.id,
      ),
    );
    // Kept owed, never sent: the worker took it and put it back for later.
    let logged = (await webhooks.listDeliveries({ organisation_id: ORG, endpoint_id: workspace, limit: 10 }))[0];
    await waitFor('the delivery put back unsent', async () => {
      logged = (await webhooks.listDeliveries({ organisation_id: ORG, endpoint_id: workspace, limit: 10 }))[0];
      return Date.parse(logged.next_attempt_at ?? '') > Date.now() + 30_000;
    });
    expect(logged).toMatchObject({ event_id: refused.body.id, status: 'pending', attempts: 0 });
    const sentRefused = () =>
      receiver.requests.filter((r) => (JSON.parse(r.body) as { id: string }).id === refused.body.id);
    expect(sentRefused()).toEqual([]);
    // The subscription says why.
    const writer = await mintKey(t, {
      org: ORG,
      user: USER,
      scopes: ['subscriptions:write', 'events:read'],
      workspaces: [WS],
    });
    const view = await request(t.url).get(`${V1}/${workspace}`).set('X-Api-Key', writer);
    expect(view.body).toMatchObject({
      state: 'blocked',
      issue: expect.stringContaining("cannot read this subscription's signing secret"),
    });

    // Rotating gives it a secret again: what waited is sent at once, signed with the new one.
    const rotated = await request(t.url).post(`${V1}/${workspace}/rotate-secret`).set('X-Api-Key', writer);
    expect(rotated.status).toBe(200);
    await waitFor('the kept delivery sent', () => sentRefused().length === 1);
    const [sent] = sentRefused();
    expect(
      new Webhook(rotated.body.signing_secret).verify(sent.body, sent.headers as Record<string, string>),
    ).toBeTruthy();
    expect(sent.headers['webhook-signature']).not.toContain(' ');
  });
});
