import { randomFillSync } from 'node:crypto';
import { monotonicFactory } from 'ulid';

/** Type prefixes of every id Herald issues (SPEC "Ids"). */
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
