import { DataSource } from 'typeorm';
import { buildDataSourceOptions } from '../database/data-source-options';
import { Database } from '../database/database.service';
import { DispatcherLeaseStore } from './dispatcher-lease.store';
import { DispatcherLeaseEntity } from './dispatcher-lease.entity';

const LONG = 60_000;

describe('DispatcherLeaseStore (in-memory SQLite)', () => {
  let dataSource: DataSource;
  let db: Database;
  let leases: DispatcherLeaseStore;

  beforeEach(async () => {
    dataSource = await new DataSource(
      buildDataSourceOptions({ sqlitePath: ':memory:', poolSize: 1 }, [DispatcherLeaseEntity]),
    ).initialize();
    await dataSource.runMigrations();
    db = new Database(dataSource);
    leases = new DispatcherLeaseStore(db);
  });
  afterEach(() => dataSource.destroy());

  it('gives a free lease to the first node with term 1, and keeps the term while that node takes it again', async () => {
    expect(await leases.acquire('node-a', LONG)).toEqual({ acquired: true, term: 1 });
    const again = await leases.acquire('node-a', LONG);
    expect(again).toMatchObject({ acquired: true, term: 1, previous: { holder: 'node-a', term: 1 } });
    expect(await leases.current()).toMatchObject({ holder: 'node-a', term: 1 });
  });

  it('refuses a lease another node holds until its deadline has passed, then takes it with the next term', async () => {
    await leases.acquire('node-a', 50);
    const refused = await leases.acquire('node-b', LONG);
    expect(refused).toMatchObject({ acquired: false, current: { holder: 'node-a', term: 1 } });

    await new Promise((r) => setTimeout(r, 80));
    const taken = await leases.acquire('node-b', LONG);
    expect(taken).toMatchObject({ acquired: true, term: 2, previous: { holder: 'node-a', term: 1 } });
    const row = (await leases.current())!;
    expect(row).toMatchObject({ holder: 'node-b', term: 2 });
    expect(row.expires_at > new Date(Date.now() + LONG - 5000).toISOString()).toBe(true);
    expect(row.acquired_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  });

  it('renews only for the holder under its own term', async () => {
    await leases.acquire('node-a', 50);
    expect(await leases.renew('node-a', 1, LONG)).toBe(true);
    await new Promise((r) => setTimeout(r, 80));
    // Renewed: still held, though the first deadline has passed.
    expect(await leases.acquire('node-b', LONG)).toMatchObject({ acquired: false });
    expect(await leases.renew('node-b', 1, LONG)).toBe(false);
    expect(await leases.renew('node-a', 2, LONG)).toBe(false);
  });

  it('fences a stale holder inside its transaction: the check fails and nothing it wrote commits', async () => {
    await leases.acquire('node-a', 1);
    await new Promise((r) => setTimeout(r, 10));
    expect(await leases.acquire('node-b', LONG)).toMatchObject({ acquired: true, term: 2 });

    // node-a wakes up believing it still holds term 1.
    await expect(
      db.transaction(async (m) => {
        await m.query(
          `INSERT INTO consumer_checkpoints (name, last_seq, updated_at) VALUES ('fenced', 7, '2026-01-01T00:00:00.000Z')`,
        );
        if (!(await leases.fence(m, 'node-a', 1, LONG))) throw new Error('fenced off');
      }),
    ).rejects.toThrow('fenced off');
    expect(await db.read((m) => m.query(`SELECT * FROM consumer_checkpoints WHERE name = 'fenced'`))).toEqual([]);
    // The holder's own check passes, and renews.
    expect(await db.transaction((m) => leases.fence(m, 'node-b', 2, LONG))).toBe(true);
  });

  it('a released lease is taken at once; a release under a stale term changes nothing', async () => {
    await leases.acquire('node-a', LONG);
    expect(await leases.release('node-a', 7)).toBe(false);
    expect(await leases.acquire('node-b', LONG)).toMatchObject({ acquired: false });
    expect(await leases.release('node-a', 1)).toBe(true);
    expect(await leases.acquire('node-b', LONG)).toMatchObject({
      acquired: true,
      term: 2,
      previous: { holder: 'node-a' },
    });
  });

  it('takes an unexpired lease when told to (a restarted SQLite process), still moving the term on', async () => {
    await leases.acquire('node-a', LONG);
    expect(await leases.acquire('node-b', LONG, { evenUnexpired: true })).toMatchObject({
      acquired: true,
      term: 2,
      previous: { holder: 'node-a', term: 1 },
    });
    expect(await leases.renew('node-a', 1, LONG)).toBe(false);
  });
});
