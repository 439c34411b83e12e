import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Postgres only: a group of events appended in one statement. The function takes the append
 * lock, reads the last seq (each statement of a PL/pgSQL function sees what committed before it
 * started, so it sees every append that held the lock before), leaves out events whose producer
 * id the organisation's log already has, and numbers the rest on from the last seq with no hole.
 * Called outside an explicit transaction, the lock is held from the call until its own commit,
 * with no network round trip in between (it used to be held across three). Returns each
 * inserted event's position in `batch` (1-based) and its seq. SQLite needs none of this: its
 * single writer serialises appends, and it has no round trips.
 */
export class AppendFunction1763901600000 implements MigrationInterface {
  name = 'AppendFunction1763901600000';

  async up(runner: QueryRunner): Promise<void> {
    if (runner.connection.options.type !== 'postgres') return;
    await runner.query(`
      CREATE OR REPLACE FUNCTION herald_append_events(lock_key bigint, batch jsonb)
      RETURNS TABLE(batch_position bigint, assigned_seq bigint)
      LANGUAGE plpgsql VOLATILE AS $fn$
      DECLARE
        base_seq bigint;
      BEGIN
        PERFORM pg_advisory_xact_lock(lock_key);
        SELECT GREATEST(
                 COALESCE((SELECT MAX(e.seq) FROM events e), 0),
                 COALESCE((SELECT c.last_seq FROM consumer_checkpoints c WHERE c.name = 'retention'), 0))
          INTO base_seq;
        RETURN QUERY
        WITH fresh AS (
          SELECT r.ordinality AS pos, r.value AS v, ROW_NUMBER() OVER (ORDER BY r.ordinality) AS n
          FROM jsonb_array_elements(batch) WITH ORDINALITY AS r
          WHERE NOT COALESCE((r.value->>'dedupe')::boolean, false)
             OR NOT EXISTS (SELECT 1 FROM events e
                            WHERE e.organisation_id = r.value->>'organisation_id' AND e.id = r.value->>'id')
        ), inserted AS (
          INSERT INTO events (seq, id, type, version, organisation_id, user_id, claim_id, channel_id, data,
                              occurred_at, received_at)
          SELECT base_seq + f.n, f.v->>'id', f.v->>'type', f.v->>'version', f.v->>'organisation_id',
                 f.v->>'user_id', f.v->>'claim_id', f.v->>'channel_id', f.v->>'data', f.v->>'occurred_at',
                 f.v->>'received_at'
          FROM fresh f
          RETURNING 1
        )
        SELECT f.pos, base_seq + f.n FROM fresh f ORDER BY f.pos;
      END
      $fn$`);
  }

  async down(runner: QueryRunner): Promise<void> {
    if (runner.connection.options.type !== 'postgres') return;
    await runner.query('DROP FUNCTION IF EXISTS herald_append_events(bigint, jsonb)');
  }
}
