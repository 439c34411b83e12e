import { MigrationInterface, QueryRunner, Table, TableIndex } from 'typeorm';
import { col } from './column-types';

export class ApprovalNotifications1763900400000 implements MigrationInterface {
  name = 'ApprovalNotifications1763900400000';

  async up(runner: QueryRunner): Promise<void> {
    await runner.createTable(
      new Table({
        name: 'approval_notifications',
        columns: [
          col.id('notification_id'),
          col.ref('organisation_id'),
          col.ref('claim_id'),
          col.ref('recipient_user_id'),
          col.varchar('new_status', 16),
          col.text('comment', true),
          col.varchar('amount', 32, true),
          col.varchar('currency', 3, true),
          col.text('payload'),
          col.bool('read', false),
          col.time('sent_at'),
          col.time('updated_at'),
        ],
      }),
    );
    await runner.createIndex(
      'approval_notifications',
      new TableIndex({ name: 'ix_notifications_org_sent', columnNames: ['organisation_id', 'sent_at'] }),
    );
    await runner.createIndex(
      'approval_notifications',
      new TableIndex({
        name: 'ix_notifications_org_recipient_sent',
        columnNames: ['organisation_id', 'recipient_user_id', 'sent_at'],
      }),
    );

    await runner.createTable(
      new Table({
        name: 'claim_subscriptions',
        columns: [
          col.id('subscription_id'),
          col.ref('organisation_id'),
          col.ref('claim_id'),
          col.ref('user_id'),
          col.text('webhook_url'),
          col.bool('active', true),
          col.time('created_at'),
          col.time('deleted_at', true),
        ],
      }),
    );
    await runner.createIndex(
      'claim_subscriptions',
      new TableIndex({ name: 'ix_claim_subscriptions_claim', columnNames: ['organisation_id', 'claim_id'] }),
    );
  }

  async down(runner: QueryRunner): Promise<void> {
    await runner.dropTable('claim_subscriptions');
    await runner.dropTable('approval_notifications');
  }
}
