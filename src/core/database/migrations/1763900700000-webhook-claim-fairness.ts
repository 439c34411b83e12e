import { MigrationInterface, QueryRunner, TableIndex } from 'typeorm';

/**
 * The worker's fair claim (src/core/webhooks/claim-plan.ts) reads the queue per endpoint rather
 * than as one queue by due time: it walks the endpoints that owe deliveries and takes each one's
 * oldest due rows, so a long backlog at one endpoint is never scanned. Counting the rows in flight
 * per endpoint (its cap holds across the cluster) reads only the few rows that hold a lease.
 */
export class WebhookClaimFairness1763900700000 implements MigrationInterface {
  name = 'WebhookClaimFairness1763900700000';

  async up(runner: QueryRunner): Promise<void> {
    await runner.createIndex(
      'webhook_deliveries',
      new TableIndex({
        name: 'ix_webhook_deliveries_endpoint_due',
        columnNames: ['status', 'endpoint_id', 'next_attempt_at'],
      }),
    );
    await runner.createIndex(
      'webhook_deliveries',
      new TableIndex({ name: 'ix_webhook_deliveries_leased', columnNames: ['status', 'lease_until', 'endpoint_id'] }),
    );
  }

  async down(runner: QueryRunner): Promise<void> {
    await runner.dropIndex('webhook_deliveries', 'ix_webhook_deliveries_leased');
    await runner.dropIndex('webhook_deliveries', 'ix_webhook_deliveries_endpoint_due');
  }
}
