import { MigrationInterface, QueryRunner, Table, TableIndex } from 'typeorm';
import { col } from './column-types';

export class EventLog1763900100000 implements MigrationInterface {
  name = 'EventLog1763900100000';

  async up(runner: QueryRunner): Promise<void> {
    await runner.createTable(
      new Table({
        name: 'events',
        columns: [
          col.serial(runner, 'seq'),
          col.varchar('id', 128),
          col.varchar('type', 64),
          col.varchar('version', 8),
          col.ref('organisation_id'),
          col.ref('user_id', true),
          col.ref('claim_id', true),
          col.ref('channel_id', true),
          col.text('data'),
          col.time('occurred_at'),
          col.time('received_at'),
        ],
      }),
    );
    const index = (name: string, columnNames: string[], isUnique = false) =>
      runner.createIndex('events', new TableIndex({ name, columnNames, isUnique }));
    // Producer ids are idempotency keys within an organisation.
    await index('ux_events_org_id', ['organisation_id', 'id'], true);
    // Tenant reads and replays walk one organisation (and often one user or claim) in seq order.
    await index('ix_events_org_seq', ['organisation_id', 'seq']);
    await index('ix_events_org_user_seq', ['organisation_id', 'user_id', 'seq']);
    await index('ix_events_org_claim_seq', ['organisation_id', 'claim_id', 'seq']);
    await index('ix_events_received_at', ['received_at']);

    await runner.createTable(
      new Table({
        name: 'consumer_checkpoints',
        columns: [
          { name: 'name', type: 'varchar', length: '64', isPrimary: true },
          col.bigint('last_seq'),
          col.time('updated_at'),
        ],
      }),
    );
  }

  async down(runner: QueryRunner): Promise<void> {
    await runner.dropTable('consumer_checkpoints');
    await runner.dropTable('events');
  }
}
