/**
 * Paging the delivery log by a datetime cursor alone (SPEC 003 "alert history"): the next page
 * starts strictly before (or after) the last `created_at` returned, so a page must never end in
 * the middle of a group of equal `created_at` values, or the rest of that group would be skipped.
 */

export type PageCut<T> =
  /** The page to return. */
  | { page: T[] }
  /** The first `limit` rows are all one instant that continues past them: return that whole group. */
  | { wholeGroup: string };

/**
 * `rows` are the first `limit + 1` rows in page order. Returns the first `limit`, less the
 * trailing group when that group continues past the page.
 */
export function cutPage<T extends { created_at: string }>(rows: T[], limit: number): PageCut<T> {
  if (rows.length <= limit) return { page: rows };
  const last = rows[limit - 1].created_at;
  if (rows[limit].created_at !== last) return { page: rows.slice(0, limit) };
  let start = limit - 1;
  while (start > 0 && rows[start - 1].created_at === last) start--;
  return start > 0 ? { page: rows.slice(0, start) } : { wholeGroup: last };
}
