import request from 'supertest';
import { DeliveryLogTimes1763901000000 } from '../../src/core/database/migrations/1763901000000-delivery-log-times';
import { Database } from '../../src/core/database/database.service';
import { WebhookDeliveryEntity } from '../../src/core/webhooks/webhook-delivery.entity';
import { newId } from '../../src/core/http/ids';
import { toIso } from '../../src/core/http/time';
import {
  HISTORY_LIMITS,
  insertLogRows,
  LOG_TIME,
  logRows,
  pagingProblems,
  walkHistory,
} from '../support/alert-history';
import { mintKey } from '../support/credentials';
import { startTestApp, TestApp } from '../support/test-app';

const ORG = 'org_legacy';
const V1 = '/api/v1/subscriptions';
const V2 = '/api/v2/subscriptions';

interface LegacyRow {
  id: string;
  organisation_id: string;
  created_at: string;
}

/**
 * A log written before entry times were unique (milliseconds, many entries per instant) is
 * brought to the microsecond form by the migration: every entry keeps its place in the old page
 * order (time, then id), no two entries of an organisation share a time, and the seed's cursor
 * pages through it exactly.
 */
describe('migration: delivery log times', () => {
  let t: TestApp;
  let db: Database;
  let finance: string;
  let subscription: string;
  const legacy: LegacyRow[] = [];
  const migration = new DeliveryLogTimes1763901000000();

  const readLog = async (organisationId: string) =>
    db.read((m) =>
      m
        .createQueryBuilder(WebhookDeliveryEntity, 'd')
        .select(['d.id AS id', 'd.organisation_id AS organisation_id', 'd.created_at AS created_at'])
        .where('d.organisation_id = :organisationId', { organisationId })
        .orderBy('d.created_at')
        .addOrderBy('d.id')
        .getRawMany<LegacyRow>(),
    );

  /** A log row as an old node wrote it: every column given, as the store does. */
  const logRow = (
    row: Pick<WebhookDeliveryEntity, 'id' | 'organisation_id' | 'event_id' | 'event_seq' | 'created_at'>,
  ) => ({
    endpoint_id: subscription,
    workspace_id: 'ws_legacy',
    rule_index: 0,
    match_hash: null,
    match_index: 0,
    body: null,
    status: 'blocked' as const,
    attempts: 0,
    retry_base: 0,
    next_attempt_at: null,
    lease_until: null,
    response_status: null,
    error: 'legacy',
    duration_ms: null,
    delivered_at: null,
    updated_at: toIso(Date.now()),
    ...row,
  });

  beforeAll(async () => {
    t = await startTestApp({ env: { WEBHOOK_ALLOW_PRIVATE: 'true' } });
    db = t.app.get(Database);
    finance = await mintKey(t, { org: ORG, scopes: ['subscriptions:write', 'events:read'], workspaces: ['ws_legacy'] });
    const created = await request(t.url)
      .post(V1)
      .set('X-Api-Key', finance)
      .send({
        rules: [{ trigger: 'claim_approved', conditions: {} }],
        resources: ['claims/*'],
        actions: [{ type: 'webhook', url: 'http://127.0.0.1:9/never' }],
      });
    expect(created.status).toBe(201);
    subscription = created.body.id;

    // Back to the old schema, then a log as the old code wrote it: one enqueue stamped all its
    // rows with one millisecond, and one instant may hold more than a thousand entries.
    await db.transaction((m) => migration.down(m.queryRunner!));
    const base = Date.parse('2026-03-26T08:14:22.000Z');
    const groups: [string, number, number][] = [
      [ORG, 0, 3],
      [ORG, 1, 1],
      [ORG, 2, 1100],
      [ORG, 3, 2],
      [ORG, 4, 1],
      [ORG, 900, 7],
      ['org_legacy_other', 2, 5],
      ['org_legacy_other', 3, 1],
    ];
    for (const [organisation_id, offset, size] of groups)
      for (let i = 0; i < size; i++)
        legacy.push({ id: newId('dlv'), organisation_id, created_at: toIso(base + offset) });
    await db.transaction(async (m) => {
      for (let i = 0; i < legacy.length; i += 200) {
        const rows = legacy
          .slice(i, i + 200)
          .map((r, j) => logRow({ ...r, event_id: `evt_legacy_${i + j}`, event_seq: i + j + 1 }));
        await m.createQueryBuilder().insert().into(WebhookDeliveryEntity).values(rows).execute();
      }
    });
    expect((await readLog(ORG)).every((r) => r.created_at.length === 24)).toBe(true);
    await db.transaction((m) => migration.up(m.queryRunner!));
  }, 60_000);
  afterAll(async () => {
    await t?.close();
  });

  it('gives every entry a microsecond time, unique in its organisation, in the old page order', async () => {
    for (const org of [ORG, 'org_legacy_other']) {
      const before = legacy
        .filter((r) => r.organisation_id === org)
        .sort((x, y) =>
          x.created_at === y.created_at ? (x.id < y.id ? -1 : 1) : x.created_at < y.created_at ? -1 : 1,
        );
      const after = await readLog(org);
      expect(after.map((r) => r.id)).toEqual(before.map((r) => r.id));
      expect(after.every((r) => LOG_TIME.test(r.created_at))).toBe(true);
      expect(new Set(after.map((r) => r.created_at)).size).toBe(after.length);
    }
    const times = new Map((await readLog(ORG)).map((r) => [r.id, r.created_at]));
    const of = (offset: number) =>
      legacy.filter(
        (r) => r.organisation_id === ORG && r.created_at === toIso(Date.parse('2026-03-26T08:14:22.000Z') + offset),
      );
    // An entry alone at its instant keeps it; a shared instant spreads over microseconds; more
    // than a thousand spill into the next milliseconds and push what follows along.
    expect(times.get(of(900)[0].id)).toBe('2026-03-26T08:14:22.900000Z');
    expect([...of(0)].map((r) => times.get(r.id)).sort()).toEqual([
      '2026-03-26T08:14:22.000000Z',
      '2026-03-26T08:14:22.000001Z',
      '2026-03-26T08:14:22.000002Z',
    ]);
    expect(times.get(of(1)[0].id)).toBe('2026-03-26T08:14:22.001000Z');
    const spilled = [...of(2)].map((r) => times.get(r.id)!).sort();
    expect([spilled[0], spilled[1099]]).toEqual(['2026-03-26T08:14:22.002000Z', '2026-03-26T08:14:22.003099Z']);
    expect([...of(3)].map((r) => times.get(r.id)).sort()).toEqual([
      '2026-03-26T08:14:22.003100Z',
      '2026-03-26T08:14:22.003101Z',
    ]);
    expect(times.get(of(4)[0].id)).toBe('2026-03-26T08:14:22.004000Z');
  });

  it('then enforces unique times per organisation', async () => {
    const [{ created_at }] = await readLog(ORG);
    await expect(
      db.transaction(async (m) => {
        const row = logRow({ id: newId('dlv'), organisation_id: ORG, event_id: 'evt_dup', event_seq: 1, created_at });
        await m.createQueryBuilder().insert().into(WebhookDeliveryEntity).values(row).execute();
      }),
    ).rejects.toThrow(/unique/i);
  });

  it('the migrated log and new entries after it page exactly', async () => {
    // New entries in the same millisecond as one another land after the migrated ones.
    await insertLogRows(
      t,
      logRows(61, toIso(Date.parse('2026-03-26T08:14:22.000Z')), {
        organisation_id: ORG,
        workspace_id: 'ws_legacy',
        subscription_id: subscription,
        tag: 'new',
      }),
    );
    const total = legacy.filter((r) => r.organisation_id === ORG).length + 61;
    for (const limit of HISTORY_LIMITS)
      for (const direction of ['before', 'after'] as const) {
        const pages = await walkHistory(t.url, finance, `${V2}/${subscription}/alerts/history`, { limit, direction });
        expect(pagingProblems(pages, limit, direction, total)).toEqual([]);
      }
  });
});
