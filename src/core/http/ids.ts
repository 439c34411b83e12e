import { monotonicFactory } from 'ulid';

/** Type prefixes of every id Herald issues (SPEC "Ids"). */
export type IdPrefix = 'chan' | 'notif' | 'sub' | 'wsub' | 'wsc' | 'evt' | 'dlv' | 'key' | 'log';

const nextUlid = monotonicFactory();

/**
 * `<prefix>_<ulid>` in lower case: URL-safe, random, and sortable by creation time
 * (monotonic within one process, so ids made in the same millisecond still sort).
 */
export function newId(prefix: IdPrefix): string {
  return `${prefix}_${nextUlid().toLowerCase()}`;
}

export function hasPrefix(id: string, prefix: IdPrefix): boolean {
  return id.startsWith(`${prefix}_`);
}
