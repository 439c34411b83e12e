import { MigrationInterface, QueryRunner, Table, TableColumnOptions, TableIndex } from 'typeorm';
import { col } from './column-types';

const nullableInt = (name: string): TableColumnOptions => ({ name, type: 'integer', isNullable: true });

export class Webhooks1763900300000 implements MigrationInterface {
  name = 'Webhooks1763900300000';

  async up(runner: QueryRunner): Promise<void> {
    // One row per subscription that sends webhooks; the id is the owning subscription's id.
    await runner.createTable(
      new Table({
        name: 'webhook_endpoints',
        columns: [
          col.id(),
          col.varchar('kind', 32),
          col.ref('organisation_id'),
          col.ref('workspace_id', true),
          col.text('url'),
          col.varchar('secret', 128),
          col.text('headers'),
          nullableInt('rate_limit_per_minute'),
          col.varchar('state', 8),
          col.text('issue', true),
          // The failure streak behind automatic blocking; a success clears it.
          col.time('failing_since', true),
          col.int('failed_attempts'),
          col.int('failed_deliveries'),
          col.text('last_error', true),
          col.time('created_at'),
          col.time('updated_at'),
        ],
      }),
    );

    // The outbox and the delivery log in one: a row per (event, endpoint), written by the
    // dispatcher's transaction, worked off by every node, kept as history once final.
    await runner.createTable(
      new Table({
        name: 'webhook_deliveries',
        columns: [
          col.id(),
          col.ref('endpoint_id'),
          col.ref('organisation_id'),
          col.ref('workspace_id', true),
          col.varchar('event_id', 128),
          col.bigint('event_seq'),
          nullableInt('rule_index'),
          col.varchar('match_hash', 128, true),
          nullableInt('match_index'),
          // The exact request body, so retries survive event retention; cleared once final.
          col.text('body', true),
          col.varchar('status', 16),
          col.int('attempts'),
          col.time('next_attempt_at', true),
          col.time('lease_until', true),
          nullableInt('response_status'),
          col.text('error', true),
          nullableInt('duration_ms'),
          col.time('created_at'),
          col.time('delivered_at', true),
          col.time('updated_at'),
        ],
      }),
    );
    const index = (table: string, name: string, columnNames: string[]) =>
      runner.createIndex(table, new TableIndex({ name, columnNames }));
    // The worker's claim: pending rows by due time.
    await index('webhook_deliveries', 'ix_webhook_deliveries_due', ['status', 'next_attempt_at']);
    // History pages: by organisation, workspace or endpoint, in created_at order.
    await index('webhook_deliveries', 'ix_webhook_deliveries_org_created', ['organisation_id', 'created_at']);
    await index('webhook_deliveries', 'ix_webhook_deliveries_ws_created', [
      'organisation_id',
      'workspace_id',
      'created_at',
    ]);
    await index('webhook_deliveries', 'ix_webhook_deliveries_endpoint_created', ['endpoint_id', 'created_at']);
    await index('webhook_deliveries', 'ix_webhook_deliveries_created', ['created_at']);

    await runner.createTable(
      new Table({
        name: 'webhook_attempts',
        columns: [
          col.serial(runner, 'id'),
          col.ref('delivery_id'),
          col.int('attempt'),
          col.varchar('outcome', 16),
          nullableInt('response_status'),
          col.text('error', true),
          col.int('duration_ms'),
          col.time('attempted_at'),
        ],
      }),
    );
    await index('webhook_attempts', 'ix_webhook_attempts_delivery', ['delivery_id', 'attempt']);
  }

  async down(runner: QueryRunner): Promise<void> {
    await runner.dropTable('webhook_attempts');
    await runner.dropTable('webhook_deliveries');
    await runner.dropTable('webhook_endpoints');
  }
}
