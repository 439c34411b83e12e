import request from 'supertest';
import { Database } from '../../src/core/database/database.service';
import { DeliveryOperations1763901500000 } from '../../src/core/database/migrations/1763901500000-delivery-operations';
import { WebhookEndpointEntity } from '../../src/core/webhooks/webhook-endpoint.entity';
import { mintKey } from '../support/credentials';
import { startTestApp, TestApp } from '../support/test-app';

const ORG = 'org_owner_backfill';

/**
 * Migration 1763901500000 on endpoints saved before it: each gets the user its subscription
 * belongs to (a claim webhook's user, the user that saved a workspace subscription; none for an
 * app's), so users keep seeing their own deliveries in the delivery log.
 */
describe('migration: webhook endpoint owners', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp({ env: { WEBHOOK_ALLOW_PRIVATE: 'true' } });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('backfills owner_user_id from the claim subscriptions and workspace subscriptions', async () => {
    const user = await mintKey(t, {
      org: ORG,
      user: 'usr_backfill',
      scopes: ['events:read', 'subscriptions:write'],
      workspaces: ['ws_backfill'],
    });
    const app = await mintKey(t, {
      org: ORG,
      scopes: ['events:read', 'subscriptions:write'],
      workspaces: ['ws_backfill'],
    });
    const webhook = { type: 'webhook', url: 'http://127.0.0.1:9/hook' };
    const claim = await request(t.url)
      .post('/api/v1/approval-notifications/subscriptions')
      .set('X-Api-Key', app)
      .send({ claim_id: 'clm_backfill', user_id: 'usr_claimant', webhook_url: webhook.url });
    const saved = {
      rules: [{ trigger: 'claim_approved', conditions: {} }],
      resources: ['claims/*'],
      actions: [webhook],
    };
    const byUser = await request(t.url).post('/api/v1/subscriptions').set('X-Api-Key', user).send(saved);
    const byApp = await request(t.url).post('/api/v1/subscriptions').set('X-Api-Key', app).send(saved);
    for (const res of [claim, byUser, byApp]) expect(res.status).toBe(201);

    const db = t.app.get(Database);
    const owners = () =>
      db.read(async (m) => {
        const rows = await m
          .createQueryBuilder(WebhookEndpointEntity, 'e')
          .select(['e.id AS id', 'e.owner_user_id AS owner_user_id'])
          .where('e.organisation_id = :org', { org: ORG })
          .getRawMany<{ id: string; owner_user_id: string | null }>();
        return Object.fromEntries(rows.map((r) => [r.id, r.owner_user_id]));
      });
    const expected = {
      [claim.body.subscription_id as string]: 'usr_claimant',
      [byUser.body.id as string]: 'usr_backfill',
      [byApp.body.id as string]: null,
    };
    expect(await owners()).toEqual(expected);

    const migration = new DeliveryOperations1763901500000();
    await db.transaction((m) => migration.down(m.queryRunner!));
    await db.transaction((m) => migration.up(m.queryRunner!));
    expect(await owners()).toEqual(expected);
  });
});
