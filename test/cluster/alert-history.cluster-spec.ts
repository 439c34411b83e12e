import request from 'supertest';
import { isoNow } from '../../src/core/http/time';
import { HISTORY_LIMITS, insertLogRows, logRows, pagingProblems, walkHistory } from '../support/alert-history';
import { mintKey } from '../support/credentials';
import { dispatchedThrough } from '../support/events';
import { clusterAvailable } from '../support/services';
import { startTwoNodes, type TestApp } from '../support/test-app';
import type { TestDatabase } from '../support/test-database';

// Two nodes need a shared Postgres and Redis; without TEST_DATABASE_URL and TEST_REDIS_URL
// there is no cluster to test (CI sets both, and REQUIRE_SERVICES=1 fails a run without them).
const describeCluster = clusterAvailable ? describe : describe.skip;

const ORG = 'org_history_cluster';
const WORKSPACE = 'ws_cluster';
const V1 = '/api/v1/subscriptions';
const V2 = '/api/v2/subscriptions';
/** Matched by whichever node runs the dispatcher, while both nodes write below. */
const REAL = 120;
/** Per node: this many transactions at once, each writing ROWS entries made at one instant. */
const WRITERS = 8;
const ROWS = 60;
const TOTAL = REAL + 2 * WRITERS * ROWS;

/**
 * docs/api-contracts.md "Ids, times, paging" across a cluster: entries written at the same instant by both nodes
 * at once (and by the dispatcher meanwhile) still get unique, ordered times, so the seed's
 * `datetime` cursor pages through them exactly once with pages of exactly `limit`, whichever
 * node answers.
 */
describeCluster('cluster: alert history written by two nodes at once', () => {
  let database: TestDatabase;
  let a: TestApp;
  let b: TestApp;
  let finance: string;
  let subscription: string;

  beforeAll(async () => {
    ({ a, b, database } = await startTwoNodes({
      WEBHOOK_ALLOW_PRIVATE: 'true',
      DISPATCH_POLL_INTERVAL: '50ms',
      WEBHOOK_POLL_INTERVAL: '50ms',
    }));
    const producer = await mintKey(b, { org: ORG, scopes: ['events:publish'] });
    finance = await mintKey(a, { org: ORG, scopes: ['subscriptions:write', 'events:read'], workspaces: [WORKSPACE] });
    const created = await request(a.url)
      .post(V1)
      .set('X-Api-Key', finance)
      .send({
        rules: [{ trigger: 'claim_approved', conditions: {} }],
        resources: ['claims/*'],
        actions: [{ type: 'webhook', url: 'http://127.0.0.1:9/never' }],
      });
    expect(created.status).toBe(201);
    subscription = created.body.id;
    // Blocked: every match is logged, nothing is sent.
    await request(a.url)
      .post(`${V1}/${subscription}/state`)
      .set('X-Api-Key', finance)
      .send({ state: 'blocked', issue: 'paging test' });

    const at = isoNow();
    const scope = { organisation_id: ORG, workspace_id: WORKSPACE, subscription_id: subscription };
    const [published] = await Promise.all([
      request(b.url)
        .post('/api/v1/events/batch')
        .set('X-Api-Key', producer)
        .send({
          events: Array.from({ length: REAL }, (_, i) => ({
            type: 'claim_approved',
            claim_id: 'clm_history',
            data: { i },
          })),
        }),
      ...[a, b].flatMap((node, n) =>
        Array.from({ length: WRITERS }, (_, w) =>
          insertLogRows(node, logRows(ROWS, at, { ...scope, tag: `n${n}w${w}` })),
        ),
      ),
    ]);
    expect(published.status).toBe(201);
    await dispatchedThrough(a.url, published.body.events[REAL - 1].seq, 30_000);
  }, 60_000);
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await database?.drop();
  });

  it.each(HISTORY_LIMITS.flatMap((limit) => [[limit, 'before'] as const, [limit, 'after'] as const]))(
    'limit %d, %s: every entry exactly once, every page exactly limit long but the last, on either node',
    async (limit, direction) => {
      for (const [node, path] of [
        [a, `${V2}/alerts/history`],
        [b, `${V2}/${subscription}/alerts/history`],
      ] as const) {
        const pages = await walkHistory(node.url, finance, path, { limit, direction });
        expect(pagingProblems(pages, limit, direction, TOTAL)).toEqual([]);
        expect(pages.at(-1)!.length).toBe(TOTAL % limit);
      }
    },
  );

  it('both nodes answer the same pages', async () => {
    const [fromA, fromB] = await Promise.all(
      [a, b].map((node) => walkHistory(node.url, finance, `${V2}/alerts/history`, { limit: 100, direction: 'before' })),
    );
    expect(fromB).toEqual(fromA);
    // Entries from the dispatcher and from both nodes' writers, all there.
    const entries = fromA.flat();
    expect(new Set(entries.map((e) => e.id)).size).toBe(TOTAL);
    for (const node of ['n0', 'n1'])
      expect(entries.filter((e) => e.event_id.startsWith(`evt_${node}w`))).toHaveLength(WRITERS * ROWS);
  });
});
