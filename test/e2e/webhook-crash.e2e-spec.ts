import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import request from 'supertest';
import { childServerEnv, startChildServer } from '../support/child-server';
import { waitFor } from '../support/sockets';
import { createTestDatabase } from '../support/test-database';
import { WebhookReceiver } from '../support/webhook-receiver';

describe('crash: kill -9 with webhook deliveries pending', () => {
  it('delivers every owed webhook after the restart, each event under one stable webhook-id', async () => {
    const database = createTestDatabase();
    const { env, operator } = await childServerEnv(database, {
      WEBHOOK_ALLOW_PRIVATE: 'true',
      WEBHOOK_RETRY_SCHEDULE: '300ms,300ms,300ms,300ms,300ms,300ms,300ms,300ms,300ms,300ms,300ms,300ms',
      WEBHOOK_RETRY_JITTER_PERCENT: '0',
      WEBHOOK_POLL_INTERVAL: '50ms',
      WEBHOOK_TIMEOUT: '1s',
    });
    const receiver = await WebhookReceiver.start('whsec_' + randomBytes(24).toString('base64'));
    await receiver.down();
    let server = await startChildServer(env);
    try {
      const key = await request(server.url)
        .post('/api/v1/api-keys')
        .set('X-Api-Key', operator)
        .send({
          kind: 'app',
          organisation_id: 'org_crash',
          scopes: ['notifications:write', 'events:publish', 'events:read'],
        });
      const token = key.body.token as string;
      const sub = await request(server.url)
        .post('/api/v1/approval-notifications/subscriptions')
        .set('X-Api-Key', token)
        .send({ claim_id: 'clm_crash', user_id: 'usr_1', webhook_url: receiver.url });
      expect(sub.status).toBe(201);

      const published = await request(server.url)
        .post('/api/v1/events/batch')
        .set('X-Api-Key', token)
        .send({
          events: Array.from({ length: 30 }, (_, i) => ({ type: 'comment_added', claim_id: 'clm_crash', data: { i } })),
        });
      expect(published.status).toBe(201);
      const eventIds = published.body.events.map((e: { id: string }) => e.id).sort();

      // Let the first attempts fail against the stopped receiver, then crash.
      await new Promise((r) => setTimeout(r, 700));
      await server.kill9();
      await receiver.up();
      server = await startChildServer(env);

      await waitFor(
        'all 30 events delivered',
        () => new Set(receiver.requests.map((r) => JSON.parse(r.body).id)).size === 30,
        100_000,
      );
      const byWebhookId = new Map<string, Set<string>>();
      const verifier = new Webhook(sub.body.signing_secret);
      for (const r of receiver.requests) {
        expect(() => verifier.verify(r.body, r.headers as Record<string, string>)).not.toThrow();
        byWebhookId.set(r.id, (byWebhookId.get(r.id) ?? new Set()).add(JSON.parse(r.body).id));
      }
      // A repeat is only ever the same delivery again: one event per webhook-id, one webhook-id per event.
      for (const events of byWebhookId.values()) expect(events.size).toBe(1);
      expect(byWebhookId.size).toBe(30);
      expect([...byWebhookId.values()].map((s) => [...s][0]).sort()).toEqual(eventIds);
    } finally {
      await server.stop();
      await receiver.close();
      await database.drop();
    }
  }, 150_000);
});
