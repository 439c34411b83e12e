import { Client } from 'pg';
import request from 'supertest';
import { Database } from '../../src/core/database/database.service';
import { ExplicitEventSeqs1763901200000 } from '../../src/core/database/migrations/1763901200000-explicit-event-seqs';
import { APPEND_LOCK_KEY, EventLog } from '../../src/core/event-log/event-log.service';
import type { NewEvent } from '../../src/core/event-log/event.types';
import { mintKey } from '../support/credentials';
import { dispatchedThrough, publish } from '../support/events';
import { itOnPostgres } from '../support/engines';
import { services } from '../support/services';
import { startTestApp, TestApp } from '../support/test-app';

const ORG = 'org_gaps';
const POISON = 'test.poison';

/**
 * Seqs are gap-free (README, docs/api-contracts.md): an append that fails after it numbered its
 * events (its transaction rolled back, its connection died) must leave no hole, or a client
 * replaying by seq waits for an event that never comes.
 */
describe('event seqs stay gap-free when appends fail', () => {
  let t: TestApp;
  let log: EventLog;
  let db: Database;
  let publisher: string;

  const event = (data: Record<string, unknown> = {}, type = 'claim_approved'): NewEvent => ({
    type,
    version: '1',
    organisation_id: ORG,
    data,
  });
  const failAfterInsert = async () => {
    throw new Error('work alongside the append failed');
  };
  const seqsAfter = async (after: number) =>
    (await log.readAfter(after, { organisation_id: ORG }, 1000)).map((e) => e.seq);

  beforeAll(async () => {
    t = await startTestApp({ env: { DATABASE_LOCK_TIMEOUT: '1s' } });
    log = t.app.get(EventLog);
    db = t.app.get(Database);
    publisher = await mintKey(t, { org: ORG, scopes: ['events:publish', 'events:read'] });
    // An event of this type fails its INSERT once the row is in (after its seq was drawn).
    await db.transaction(async (m) => {
      if (db.isPostgres) {
        await m.query(
          `CREATE FUNCTION poison_event() RETURNS trigger LANGUAGE plpgsql AS $$
           BEGIN IF NEW.type = '${POISON}' THEN RAISE EXCEPTION 'poisoned append'; END IF; RETURN NEW; END $$`,
        );
        await m.query('CREATE TRIGGER poison AFTER INSERT ON events FOR EACH ROW EXECUTE FUNCTION poison_event()');
      } else {
        await m.query(
          `CREATE TRIGGER poison AFTER INSERT ON events WHEN NEW.type = '${POISON}' BEGIN SELECT RAISE(ABORT, 'poisoned append'); END`,
        );
      }
    });
  });
  afterAll(() => t?.close());

  it('a rolled-back append consumes no seq: the next append gets the next one', async () => {
    const first = await publish(t.url, publisher, { data: { n: 1 } });
    expect(first.status).toBe(201);

    // Work committed alongside the events fails after they were numbered and inserted.
    await expect(log.append([event({ n: 2 }), event({ n: 3 })], failAfterInsert)).rejects.toThrow(
      'work alongside the append failed',
    );
    // The INSERT itself fails, on the group-commit path.
    await expect(log.append([event({ n: 4 }, POISON)])).rejects.toThrow('poisoned append');
    // The batch endpoint's one transaction fails as a whole.
    const batch = await request(t.url)
      .post('/api/v1/events/batch')
      .set('X-Api-Key', publisher)
      .send({
        events: [
          { type: 'claim_approved', data: {} },
          { type: POISON, data: {} },
        ],
      });
    expect(batch.status).not.toBe(201);

    const next = await publish(t.url, publisher, { data: { n: 5 } });
    expect(next.status).toBe(201);
    expect(next.body.seq).toBe(first.body.seq + 1);
    expect(await seqsAfter(first.body.seq - 1)).toEqual([first.body.seq, first.body.seq + 1]);
    expect(await log.head()).toBe(first.body.seq + 1);
  });

  it('concurrent publishers interleaved with failing appends: the acknowledged seqs are contiguous and all in the log', async () => {
    const start = await log.head();
    const acknowledged: number[] = [];
    const publishers = Array.from({ length: 10 }, async (_, p) => {
      for (let i = 0; i < 10; i++) {
        const res = await publish(t.url, publisher, { data: { p, i } });
        expect(res.status).toBe(201);
        acknowledged.push(res.body.seq);
      }
    });
    // Each in a transaction of its own (a poisoned group commit would fail its group-mates too).
    const failures = Array.from({ length: 20 }, (_, i) =>
      expect(log.append([event({ failing: i })], failAfterInsert)).rejects.toThrow(),
    );
    await Promise.all([...publishers, ...failures]);

    const sorted = [...acknowledged].sort((a, b) => a - b);
    expect(sorted).toEqual(Array.from({ length: 100 }, (_, i) => start + 1 + i));
    expect(await seqsAfter(start)).toEqual(sorted);
  });

  it('seqs never restart, even when retention has emptied the log', async () => {
    const head = await log.head();
    await dispatchedThrough(t.url, head);
    await log.prune(Date.now() + 8 * 24 * 3600 * 1000);
    expect(await log.prunedThrough()).toBe(head);
    expect(await seqsAfter(0)).toEqual([]);
    expect(await log.head()).toBe(head);

    const next = await publish(t.url, publisher, {});
    expect(next.status).toBe(201);
    expect(next.body.seq).toBe(head + 1);
  });

  itOnPostgres('an append whose connection is killed mid-transaction consumes no seq', async () => {
    const killer = new Client({ connectionString: services.databaseUrl });
    await killer.connect();
    try {
      const before = await log.head();
      await expect(
        log.append([event({ killed: true })], async (m) => {
          const [{ pid }] = (await m.query('SELECT pg_backend_pid() AS pid')) as { pid: number }[];
          const sleeping = m.query('SELECT pg_sleep(10)');
          await killer.query('SELECT pg_terminate_backend($1)', [pid]);
          await sleeping;
        }),
      ).rejects.toThrow();
      const next = await publish(t.url, publisher, {});
      expect(next.status).toBe(201);
      expect(next.body.seq).toBe(before + 1);
    } finally {
      await killer.end();
    }
  });

  itOnPostgres(
    'a writer frozen on the append lock: appends fail with 55P03 after DATABASE_LOCK_TIMEOUT, and no seq is lost',
    async () => {
      const holder = new Client({ connectionString: services.databaseUrl });
      await holder.connect();
      try {
        const before = await log.head();
        await holder.query('BEGIN');
        await holder.query('SELECT pg_advisory_xact_lock($1)', [APPEND_LOCK_KEY]);
        await expect(log.append([event({ blocked: true })])).rejects.toMatchObject({ code: '55P03' });
        // Over HTTP it is a server-side failure the producer may retry, never a hang or a 201.
        const refused = await publish(t.url, publisher, {});
        expect([500, 503]).toContain(refused.status);
        await holder.query('ROLLBACK');

        const next = await publish(t.url, publisher, {});
        expect(next.status).toBe(201);
        expect(next.body.seq).toBe(before + 1);
      } finally {
        await holder.end();
      }
    },
  );

  itOnPostgres(
    'the events table no longer draws seqs from a sequence; the migration reverts and re-applies cleanly',
    async () => {
      const seqDefault = async () =>
        (
          await db.read((m) =>
            m.query(
              `SELECT column_default FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = 'events' AND column_name = 'seq'`,
            ),
          )
        )[0].column_default as string | null;
      expect(await seqDefault()).toBeNull();

      const migration = new ExplicitEventSeqs1763901200000();
      const head = await log.head();
      await db.transaction((m) => migration.down(m.queryRunner!));
      expect(await seqDefault()).toContain('nextval');
      // The restored sequence carries on after the last seq assigned.
      const [row] = await db.transaction((m) =>
        m.query(
          `INSERT INTO events (id, type, version, organisation_id, data, occurred_at, received_at)
         VALUES ('evt_reverted', 'claim_approved', '1', '${ORG}', '{}', '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z') RETURNING seq`,
        ),
      );
      expect(Number(row.seq)).toBe(head + 1);
      await db.transaction((m) => migration.up(m.queryRunner!));
      expect(await seqDefault()).toBeNull();

      const next = await publish(t.url, publisher, {});
      expect(next.body.seq).toBe(head + 2);
    },
  );
});
