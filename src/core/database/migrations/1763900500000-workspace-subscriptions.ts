import { MigrationInterface, QueryRunner, Table, TableIndex } from 'typeorm';
import { col } from './column-types';

export class WorkspaceSubscriptions1763900500000 implements MigrationInterface {
  name = 'WorkspaceSubscriptions1763900500000';

  async up(runner: QueryRunner): Promise<void> {
    await runner.createTable(
      new Table({
        name: 'workspace_subscriptions',
        columns: [
          col.id(),
          col.ref('organisation_id'),
          col.ref('workspace_id'),
          col.text('template', true),
          col.text('rules'),
          col.text('resources'),
          col.text('actions'),
          col.text('meta'),
          col.varchar('state', 8),
          col.text('issue', true),
          { name: 'rate_limit', type: 'integer', isNullable: true },
          col.time('created_at'),
          col.time('updated_at'),
        ],
      }),
    );
    await runner.createIndex(
      'workspace_subscriptions',
      new TableIndex({ name: 'ix_wsubs_workspace', columnNames: ['organisation_id', 'workspace_id', 'created_at'] }),
    );

    // Candidate lookup: (trigger type, resource) → subscription, so matching never scans every subscription.
    await runner.createTable(
      new Table({
        name: 'workspace_subscription_triggers',
        columns: [
          col.ref('subscription_id'),
          col.ref('organisation_id'),
          col.varchar('trigger_type', 64),
          col.varchar('resource_kind', 16),
          col.ref('resource_id'),
        ],
      }),
    );
    await runner.createIndex(
      'workspace_subscription_triggers',
      new TableIndex({
        name: 'ix_wsub_triggers_lookup',
        columnNames: ['organisation_id', 'trigger_type', 'resource_kind', 'resource_id'],
      }),
    );
    await runner.createIndex(
      'workspace_subscription_triggers',
      new TableIndex({ name: 'ix_wsub_triggers_subscription', columnNames: ['subscription_id'] }),
    );
  }

  async down(runner: QueryRunner): Promise<void> {
    await runner.dropTable('workspace_subscription_triggers');
    await runner.dropTable('workspace_subscriptions');
  }
}
