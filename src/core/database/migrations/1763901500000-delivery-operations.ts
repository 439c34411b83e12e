import { MigrationInterface, QueryRunner, TableColumn, TableIndex } from 'typeorm';
import { col } from './column-types';

/**
 * What the delivery log API (`/api/v1/webhook-deliveries`), resend and recover need:
 * - each attempt keeps the request headers Herald sent (extra header values masked) and the
 *   first 4 KiB of the response body;
 * - `retry_base`: the attempt count at which the delivery's current retry schedule began (0 until
 *   it is resent or recovered; then the schedule starts again from there);
 * - `owner_user_id` on endpoints: the user a subscription belongs to, so a user credential sees
 *   the deliveries of its own subscriptions and an app or `admin` its organisation's;
 * - an index to find an event's deliveries.
 */
export class DeliveryOperations1763901500000 implements MigrationInterface {
  name = 'DeliveryOperations1763901500000';

  async up(runner: QueryRunner): Promise<void> {
    await runner.addColumns('webhook_attempts', [
      new TableColumn(col.text('request_headers', true)),
      new TableColumn(col.text('response_body', true)),
    ]);
    await runner.addColumn('webhook_deliveries', new TableColumn(col.int('retry_base', 0)));
    await runner.addColumn('webhook_endpoints', new TableColumn(col.ref('owner_user_id', true)));
    // Endpoints saved before: their owner is the claim subscription's user, or the user that
    // last saved the workspace subscription (null for apps, and for rows saved before owners
    // were recorded: only readers of the whole organisation see those).
    await runner.query(
      `UPDATE webhook_endpoints SET owner_user_id = (
         SELECT c.user_id FROM claim_subscriptions c WHERE c.subscription_id = webhook_endpoints.id
       ) WHERE kind = 'claim'`,
    );
    await runner.query(
      `UPDATE webhook_endpoints SET owner_user_id = (
         SELECT w.owner_user_id FROM workspace_subscriptions w WHERE w.id = webhook_endpoints.id AND w.owner_kind = 'user'
       ) WHERE kind = 'workspace'`,
    );
    await runner.createIndex(
      'webhook_deliveries',
      new TableIndex({ name: 'ix_webhook_deliveries_org_event', columnNames: ['organisation_id', 'event_id'] }),
    );
  }

  async down(runner: QueryRunner): Promise<void> {
    await runner.dropIndex('webhook_deliveries', 'ix_webhook_deliveries_org_event');
    await runner.dropColumn('webhook_endpoints', 'owner_user_id');
    await runner.dropColumn('webhook_deliveries', 'retry_base');
    await runner.dropColumns('webhook_attempts', ['request_headers', 'response_body']);
  }
}
