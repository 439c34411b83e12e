import { MigrationInterface, QueryRunner, Table, TableIndex } from 'typeorm';
import { col } from './column-types';

export class RealtimeChannels1763900200000 implements MigrationInterface {
  name = 'RealtimeChannels1763900200000';

  async up(runner: QueryRunner): Promise<void> {
    await runner.createTable(
      new Table({
        name: 'realtime_channels',
        columns: [
          col.id('channel_id'),
          col.varchar('subscription_type', 32),
          col.ref('organisation_id'),
          col.ref('user_id', true),
          col.text('event_types'),
          // Matching events after `created_seq` are counted; replay starts after `cursor_seq`.
          { name: 'created_seq', type: 'bigint', default: '0' },
          { name: 'cursor_seq', type: 'bigint', default: '0' },
          { name: 'event_count', type: 'bigint', default: '0' },
          col.bigint('last_event_seq', true),
          col.time('last_event_at', true),
          col.ref('created_by', true),
          col.time('created_at'),
          col.time('reconnected_at', true),
          col.time('closed_at', true),
        ],
      }),
    );
    await runner.createIndex(
      'realtime_channels',
      new TableIndex({ name: 'ix_channels_org_created', columnNames: ['organisation_id', 'created_at'] }),
    );
    await runner.createIndex(
      'realtime_channels',
      new TableIndex({ name: 'ix_channels_org_user', columnNames: ['organisation_id', 'user_id'] }),
    );

    // Which node has how many clients attached to a channel; rows older than a minute are stale.
    await runner.createTable(
      new Table({
        name: 'realtime_channel_attachments',
        columns: [
          { name: 'channel_id', type: 'varchar', length: '64', isPrimary: true },
          { name: 'node_id', type: 'varchar', length: '64', isPrimary: true },
          col.int('clients', 0),
          col.time('seen_at'),
        ],
      }),
    );
  }

  async down(runner: QueryRunner): Promise<void> {
    await runner.dropTable('realtime_channel_attachments');
    await runner.dropTable('realtime_channels');
  }
}
