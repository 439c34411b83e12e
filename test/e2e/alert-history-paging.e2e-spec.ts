import request from 'supertest';
import { isoNow } from '../../src/core/http/time';
import {
  HISTORY_LIMITS,
  insertLogRows,
  logRows,
  pagingProblems,
  walkHistory,
  type AlertEntry,
} from '../support/alert-history';
import { mintKey } from '../support/credentials';
import { dispatchedThrough } from '../support/events';
import { startTestApp, TestApp } from '../support/test-app';

const V1 = '/api/v1/subscriptions';
const V2 = '/api/v2/subscriptions';
const ORG = 'org_history';
/** Matched through the real dispatcher in one batch: one enqueue, one wall-clock instant. */
const REAL = 150;
/** Written straight through the delivery store, in three transactions, all at one instant. */
const DIRECT = [400, 400, 401];
const OTHER_SUBSCRIPTION = 137;
const OTHER_WORKSPACE = 70;

/**
 * docs/api-contracts.md "Ids, times, paging": `limit` is a hard cap and the seed's own `datetime` cursor (the last
 * entry's `created_at`) pages through every entry exactly once, even with hundreds of entries
 * written in the same millisecond.
 */
describe('seed 003: alert history paging', () => {
  let t: TestApp;
  let finance: string;
  let subscription: string;
  const subscriptionTotal = REAL + DIRECT.reduce((a, b) => a + b, 0);
  const workspaceTotal = subscriptionTotal + OTHER_SUBSCRIPTION;

  beforeAll(async () => {
    t = await startTestApp({
      env: { WEBHOOK_ALLOW_PRIVATE: 'true', DISPATCH_POLL_INTERVAL: '50ms', WEBHOOK_POLL_INTERVAL: '50ms' },
    });
    const producer = await mintKey(t, { org: ORG, scopes: ['events:publish'] });
    finance = await mintKey(t, {
      org: ORG,
      scopes: ['subscriptions:write', 'events:read'],
      workspaces: ['ws_alpha', 'ws_beta'],
    });
    const create = async (workspace: string, trigger: string) => {
      const res = await request(t.url)
        .post(V1)
        .set('X-Api-Key', finance)
        .set('X-Workspace-Id', workspace)
        .send({
          rules: [{ trigger, conditions: {} }],
          resources: ['claims/*'],
          actions: [{ type: 'webhook', url: 'http://127.0.0.1:9/never' }],
        });
      expect(res.status).toBe(201);
      // Blocked: every match is logged, nothing is sent.
      await request(t.url)
        .post(`${V1}/${res.body.id}/state`)
        .set('X-Api-Key', finance)
        .set('X-Workspace-Id', workspace)
        .send({ state: 'blocked', issue: 'paging test' });
      return res.body.id as string;
    };
    subscription = await create('ws_alpha', 'claim_approved');
    const sibling = await create('ws_alpha', 'claim_rejected');
    const elsewhere = await create('ws_beta', 'claim_rejected');

    const res = await request(t.url)
      .post('/api/v1/events/batch')
      .set('X-Api-Key', producer)
      .send({
        events: Array.from({ length: REAL }, (_, i) => ({
          type: 'claim_approved',
          claim_id: 'clm_history',
          data: { i },
        })),
      });
    expect(res.status).toBe(201);
    await dispatchedThrough(t.url, res.body.events[REAL - 1].seq, 30_000);

    const at = isoNow();
    const scope = { organisation_id: ORG, workspace_id: 'ws_alpha', subscription_id: subscription };
    for (const [i, count] of DIRECT.entries())
      await insertLogRows(t, logRows(count, at, { ...scope, tag: `direct${i}` }));
    await insertLogRows(t, logRows(OTHER_SUBSCRIPTION, at, { ...scope, subscription_id: sibling, tag: 'sibling' }));
    await insertLogRows(
      t,
      logRows(OTHER_WORKSPACE, at, { ...scope, workspace_id: 'ws_beta', subscription_id: elsewhere, tag: 'elsewhere' }),
    );
  }, 60_000);
  afterAll(async () => {
    await t?.close();
  });

  const walk = (
    path: string,
    limit: number,
    direction: 'before' | 'after',
    extra: { datetime?: string; status?: string } = {},
  ) => walkHistory(t.url, finance, path, { limit, direction, workspace: 'ws_alpha', ...extra });

  describe.each([
    ['the workspace', () => `${V2}/alerts/history`, () => workspaceTotal],
    ['one subscription', () => `${V2}/${subscription}/alerts/history`, () => subscriptionTotal],
  ])('%s', (_, path, total) => {
    it.each(HISTORY_LIMITS.flatMap((limit) => [[limit, 'before'] as const, [limit, 'after'] as const]))(
      'limit %d, %s: every entry exactly once, every page exactly limit long but the last',
      async (limit, direction) => {
        const pages = await walk(path(), limit, direction);
        expect(pagingProblems(pages, limit, direction, total())).toEqual([]);
        expect(pages.at(-1)!.length).toBe(total() % limit);
        const entries = pages.flat();
        expect(entries.every((e) => e.status === 'blocked')).toBe(true);
        if (path().includes(subscription)) expect(entries.every((e) => e.subscription_id === subscription)).toBe(true);
      },
    );
  });

  it('both directions see the same entries, in opposite orders', async () => {
    const newestFirst = (await walk(`${V2}/alerts/history`, 100, 'before')).flat();
    const oldestFirst = (await walk(`${V2}/alerts/history`, 250, 'after')).flat();
    expect(oldestFirst.map((e) => e.id)).toEqual(newestFirst.map((e) => e.id).reverse());
    // The entries written by the dispatcher and the ones written in the same millisecond afterwards.
    expect(newestFirst.filter((e) => e.subscription_id === subscription)).toHaveLength(subscriptionTotal);
  });

  it('the status filter pages the same way', async () => {
    const pages = await walk(`${V2}/alerts/history`, 500, 'before', { status: 'blocked' });
    expect(pagingProblems(pages, 500, 'before', workspaceTotal)).toEqual([]);
    expect(await walk(`${V2}/alerts/history`, 50, 'before', { status: 'delivered' })).toEqual([]);
  });

  it('takes plain RFC 3339 cursors as well as the log’s own form', async () => {
    const path = `${V2}/alerts/history`;
    const all = (await walk(path, 500, 'after')).flat();
    expect(all).toHaveLength(workspaceTotal);
    const first = (await walk(path, 50, 'after', { datetime: '1970-01-01T00:00:00Z' }))[0];
    expect(first.map((e) => e.id)).toEqual(all.slice(0, 50).map((e) => e.id));
    const newest = (await walk(path, 50, 'before', { datetime: '2999-12-31T23:59:59+02:00' }))[0];
    expect(newest.map((e) => e.id)).toEqual(
      all
        .slice(-50)
        .reverse()
        .map((e) => e.id),
    );

    // The same instant as an entry's created_at, written with an offset: strictly after / before it.
    const k = 700;
    const at = all[k].created_at;
    const shifted = new Date(Date.parse(at) + 2 * 3_600_000).toISOString().slice(0, 19) + at.slice(19, 26) + '+02:00';
    const after = await request(t.url)
      .get(path)
      .query({ limit: 50, direction: 'after', datetime: shifted })
      .set('X-Api-Key', finance)
      .set('X-Workspace-Id', 'ws_alpha');
    expect(after.body.map((e: AlertEntry) => e.id)).toEqual(all.slice(k + 1, k + 51).map((e) => e.id));
    const before = await request(t.url)
      .get(path)
      .query({ limit: 50, direction: 'before', datetime: at })
      .set('X-Api-Key', finance)
      .set('X-Workspace-Id', 'ws_alpha');
    expect(before.body.map((e: AlertEntry) => e.id)).toEqual(
      all
        .slice(k - 50, k)
        .reverse()
        .map((e) => e.id),
    );
  });

  it('refuses a cursor that is not a date-time, and a limit outside 50, 100, 250, 500', async () => {
    for (const datetime of ['yesterday', '2026-03-26', '2026-13-01T00:00:00Z']) {
      const res = await request(t.url).get(`${V2}/alerts/history`).query({ datetime }).set('X-Api-Key', finance);
      expect(res.status).toBe(400);
      expect(JSON.stringify(res.body)).toMatch(/datetime/);
    }
    expect(
      (await request(t.url).get(`${V2}/alerts/history`).query({ limit: 60 }).set('X-Api-Key', finance)).status,
    ).toBe(400);
  });
});
