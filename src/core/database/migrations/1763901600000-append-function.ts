import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Postgres only: a group of events appended in one statement. The function takes the append
 * lock, reads the last seq (each statement of a PL/pgSQL function sees what committed before it
 * started, so it sees every append that held the lock before), leaves out events whose producer
 * id the organisation's log already has, and numbers the rest on from the last seq with no hole.
 * Called outside an explicit transaction, the lock is held from the call until its own commit,
 * with no network round trip in between (it used to be held across three). Receive times come
 * from the database clock, read under the lock. Returns, for each position in `batch` (1-based),
 * the event as stored: the new one, or the original the organisation already had. SQLite needs none of this: its
 * single writer serialises appends, and it has no round trips.
 */
export class AppendFunction1763901600000 implements MigrationInterface {
  name = 'AppendFunction1763901600000';

  async up(runner: QueryRunner): Promise<void> {
    if (runner.connection.options.type !== 'postgres') return;
    await runner.query(`
      CREATE OR REPLACE FUNCTION herald_append_events(lock_key bigint, batch jsonb)
      RETURNS TABLE(batch_position bigint, created boolean, seq bigint, id varchar, type varchar, version varchar,
                    organisation_id varchar, user_id varchar, claim_id varchar, channel_id varchar, data text,
                    occurred_at varchar, received_at varchar)
      LANGUAGE plpgsql VOLATILE AS $fn$
      #variable_conflict use_column
      DECLARE
        base_seq bigint;
        now_iso varchar;
      BEGIN
        PERFORM pg_advisory_xact_lock(lock_key);
        -- Read under the lock, so receive times follow seqs as on the other append path.
        now_iso := to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"');
        SELECT GREATEST(
                 COALESCE((SELECT MAX(e.seq) FROM events e), 0),
                 COALESCE((SELECT c.last_seq FROM consumer_checkpoints c WHERE c.name = 'retention'), 0))
          INTO base_seq;
        RETURN QUERY
        WITH input AS (
          SELECT r.ordinality AS pos, r.value AS v FROM jsonb_array_elements(batch) WITH ORDINALITY AS r
        ), existing AS (
          SELECT i.pos, e.* FROM input i
          JOIN events e ON COALESCE((i.v->>'dedupe')::boolean, false)
                       AND e.organisation_id = i.v->>'organisation_id' AND e.id = i.v->>'id'
        ), fresh AS (
          SELECT i.pos, i.v, ROW_NUMBER() OVER (ORDER BY i.pos) AS n FROM input i
          WHERE NOT EXISTS (SELECT 1 FROM existing x WHERE x.pos = i.pos)
        ), inserted AS (
          INSERT INTO events (seq, id, type, version, organisation_id, user_id, claim_id, channel_id, data,
                              occurred_at, received_at)
          SELECT base_seq + f.n, f.v->>'id', f.v->>'type', f.v->>'version', f.v->>'organisation_id',
                 f.v->>'user_id', f.v->>'claim_id', f.v->>'channel_id', f.v->>'data',
                 COALESCE(f.v->>'occurred_at', now_iso), now_iso
          FROM fresh f
          RETURNING *
        )
        SELECT f.pos, true, ins.seq, ins.id::varchar, ins.type::varchar, ins.version::varchar,
               ins.organisation_id::varchar, ins.user_id::varchar, ins.claim_id::varchar, ins.channel_id::varchar,
               ins.data::text, ins.occurred_at::varchar, ins.received_at::varchar
          FROM fresh f JOIN inserted ins ON ins.seq = base_seq + f.n
        UNION ALL
        SELECT x.pos, false, x.seq, x.id::varchar, x.type::varchar, x.version::varchar,
               x.organisation_id::varchar, x.user_id::varchar, x.claim_id::varchar, x.channel_id::varchar,
               x.data::text, x.occurred_at::varchar, x.received_at::varchar
          FROM existing x
        ORDER BY 1;
      END
      $fn$`);
  }

  async down(runner: QueryRunner): Promise<void> {
    if (runner.connection.options.type !== 'postgres') return;
    await runner.query('DROP FUNCTION IF EXISTS herald_append_events(bigint, jsonb)');
  }
}
