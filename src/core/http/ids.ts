import { randomFillSync } from 'node:crypto';
import { monotonicFactory } from 'ulid';

/** Type prefixes of every id Herald issues (docs/api-contracts.md "Ids, times, paging"). */
export type IdPrefix = 'chan' | 'notif' | 'sub' | 'wsub' | 'wsc' | 'evt' | 'dlv' | 'key' | 'log';

/**
 * ulid's default generator asks the CSPRNG for one byte per character (sixteen calls per id).
 * This draws the same bytes from a pooled buffer refilled 4 KiB at a time.
 */
const pool = Buffer.alloc(4096);
let poolOffset = pool.length;
function pooledRandom(): number {
  if (poolOffset >= pool.length) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  return pool[poolOffset++] / 256;
}

const nextUlid = monotonicFactory(pooledRandom);

/**
 * `<prefix>_<ulid>` in lower case: URL-safe, random, and sortable by creation time
 * (monotonic within one process, so ids made in the same millisecond still sort).
 */
export function newId(prefix: IdPrefix): string {
  return `${prefix}_${nextUlid().toLowerCase()}`;
}

/**
 * The shape of an id `newId` issues: the prefix, `_`, 26 lower-case letters and digits. Wider than
 * the Crockford alphabet a ULID uses, on purpose: it only tells an id from junk, and whether one
 * exists is the lookup's answer (404).
 */
export function prefixedIdPattern(prefix: IdPrefix): RegExp {
  return new RegExp(`^${prefix}_[0-9a-z]{26}$`);
}

/**
 * Ids Herald does not issue but stores and filters on: organisations, users, claims, workspaces,
 * producer-chosen event ids. They come from the customer's systems, so only their length and
 * characters are fixed (safe in a path, a room name and a resource name such as `claims/<id>`).
 */
export const EXTERNAL_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;
