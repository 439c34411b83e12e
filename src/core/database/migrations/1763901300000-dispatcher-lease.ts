import { MigrationInterface, QueryRunner, Table } from 'typeorm';
import { col } from './column-types';

/**
 * The lease under which one node runs the durable dispatcher. It replaces a Postgres session
 * advisory lock, which a paused (SIGSTOP) node kept for as long as its TCP connection lived:
 * a lease has a deadline, and another node takes it once the deadline has passed. `term` goes
 * up whenever the holder changes; the dispatcher's batch transaction checks holder and term,
 * so a node that lost the lease while paused cannot commit a batch when it wakes.
 */
export class DispatcherLease1763901300000 implements MigrationInterface {
  name = 'DispatcherLease1763901300000';

  async up(runner: QueryRunner): Promise<void> {
    await runner.createTable(
      new Table({
        name: 'dispatcher_lease',
        columns: [
          { name: 'name', type: 'varchar', length: '64', isPrimary: true },
          col.ref('holder'),
          col.int('term', 0),
          col.time('acquired_at'),
          col.time('expires_at'),
        ],
      }),
    );
  }

  async down(runner: QueryRunner): Promise<void> {
    await runner.dropTable('dispatcher_lease');
  }
}
