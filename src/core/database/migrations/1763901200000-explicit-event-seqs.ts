import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Event seqs are numbered by EventLog.append under its lock (last seq + 1), no longer by the
 * column's sequence: a Postgres sequence is not transactional, so every rolled-back append (and
 * the values a crash throws away) left a hole in a log documented as gap-free. On Postgres the
 * bigserial's default and sequence go, so an insert that forgets its seq fails loudly instead of
 * drawing from a sequence that is no longer kept in step. `seq` stays the primary key.
 *
 * SQLite needs nothing: its INTEGER PRIMARY KEY takes explicit values as they come, and its
 * AUTOINCREMENT bookkeeping rolls back with the transaction; rebuilding the table to drop that
 * keyword would copy the whole log for no behaviour change.
 */
export class ExplicitEventSeqs1763901200000 implements MigrationInterface {
  name = 'ExplicitEventSeqs1763901200000';

  async up(runner: QueryRunner): Promise<void> {
    if (runner.connection.options.type !== 'postgres') return;
    const [row] = (await runner.query(`SELECT pg_get_serial_sequence('events', 'seq') AS seq`)) as {
      seq: string | null;
    }[];
    await runner.query('ALTER TABLE events ALTER COLUMN seq DROP DEFAULT');
    // The sequence is owned by the column: it would go with the table, but nothing uses it now.
    if (row?.seq) await runner.query(`DROP SEQUENCE IF EXISTS ${row.seq}`);
  }

  async down(runner: QueryRunner): Promise<void> {
    if (runner.connection.options.type !== 'postgres') return;
    await runner.query('CREATE SEQUENCE IF NOT EXISTS events_seq_seq OWNED BY events.seq');
    // Past every seq assigned so far, including ones retention removed.
    await runner.query(
      `SELECT setval('events_seq_seq', GREATEST(
         COALESCE((SELECT MAX(seq) FROM events), 0),
         COALESCE((SELECT last_seq FROM consumer_checkpoints WHERE name = 'retention'), 0)) + 1, false)`,
    );
    await runner.query(`ALTER TABLE events ALTER COLUMN seq SET DEFAULT nextval('events_seq_seq')`);
  }
}
