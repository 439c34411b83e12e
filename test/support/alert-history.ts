import request from 'supertest';
import { Database } from '../../src/core/database/database.service';
import { newId } from '../../src/core/http/ids';
import { DeliveryStore, type NewDelivery } from '../../src/core/webhooks/delivery.store';
import type { TestApp } from './test-app';

export const HISTORY_LIMITS = [50, 100, 250, 500] as const;
/** The log's time form: RFC 3339 UTC with exactly six fractional digits. */
export const LOG_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;

export interface AlertEntry {
  id: string;
  subscription_id: string;
  event_id: string;
  status: string;
  created_at: string;
}

/**
 * Pages an alert history endpoint the way the seed's client does: the last entry's
 * `created_at` is the next `datetime`. Returns the pages.
 */
export async function walkHistory(
  url: string,
  token: string,
  path: string,
  query: { limit: number; direction: 'before' | 'after'; status?: string; datetime?: string; workspace?: string },
): Promise<AlertEntry[][]> {
  const pages: AlertEntry[][] = [];
  let datetime = query.datetime;
  for (;;) {
    const req = request(url)
      .get(path)
      .query({
        limit: query.limit,
        direction: query.direction,
        ...(query.status ? { status: query.status } : {}),
        ...(datetime ? { datetime } : {}),
      })
      .set('X-Api-Key', token);
    if (query.workspace) req.set('X-Workspace-Id', query.workspace);
    const res = await req;
    if (res.status !== 200) throw new Error(`GET ${path}: ${res.status} ${JSON.stringify(res.body)}`);
    const page = res.body as AlertEntry[];
    if (!page.length) return pages;
    pages.push(page);
    datetime = page[page.length - 1].created_at;
    if (pages.length > 1000) throw new Error('paging does not end');
  }
}

/**
 * What the seed promises of a walk over `total` entries: every entry exactly once, in time
 * order for the direction, every page exactly `limit` long but the last.
 */
export function pagingProblems(
  pages: AlertEntry[][],
  limit: number,
  direction: 'before' | 'after',
  total: number,
): string[] {
  const problems: string[] = [];
  const entries = pages.flat();
  if (entries.length !== total) problems.push(`${entries.length} entries seen, ${total} in the log`);
  if (new Set(entries.map((e) => e.id)).size !== entries.length) problems.push('an entry was seen twice');
  pages.forEach((page, i) => {
    if (i < pages.length - 1 ? page.length !== limit : page.length < 1 || page.length > limit)
      problems.push(`page ${i + 1} of ${pages.length} holds ${page.length} entries (limit ${limit})`);
  });
  const bad = entries.find((e) => !LOG_TIME.test(e.created_at));
  if (bad) problems.push(`created_at ${bad.created_at} is not in the log's form`);
  for (let i = 1; i < entries.length; i++) {
    const [a, b] = [entries[i - 1].created_at, entries[i].created_at];
    if (direction === 'before' ? !(a > b) : !(a < b)) {
      problems.push(`entries ${i} and ${i + 1} are out of order or share a time (${a}, ${b})`);
      break;
    }
  }
  return problems;
}

/** `count` final log rows for one subscription, all made at the wall-clock instant `at`. */
export function logRows(
  count: number,
  at: string,
  scope: { organisation_id: string; workspace_id: string; subscription_id: string; tag: string },
): NewDelivery[] {
  return Array.from({ length: count }, (_, i) => ({
    id: newId('dlv'),
    endpoint_id: scope.subscription_id,
    organisation_id: scope.organisation_id,
    workspace_id: scope.workspace_id,
    event_id: `evt_${scope.tag}_${i}`,
    event_seq: 1_000_000 + i,
    rule_index: 0,
    match_hash: null,
    match_index: 0,
    body: null,
    status: 'blocked' as const,
    error: 'paging test',
    created_at: at,
  }));
}

/** Writes rows through the node's own delivery store, in one transaction. */
export async function insertLogRows(node: TestApp, rows: NewDelivery[]): Promise<void> {
  await node.app.get(Database).transaction((m) => node.app.get(DeliveryStore).insert(m, rows));
}
