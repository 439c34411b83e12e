import { createHash } from 'node:crypto';

/**
 * A Postgres advisory-lock key for `purpose`, one per schema, so separate installs sharing a
 * database (and test runs, each in its own schema) never wait on each other's locks.
 */
export function schemaLockKey(purpose: string, schema: string | undefined): number {
  return createHash('sha256')
    .update(`herald-${purpose}:${schema ?? 'public'}`)
    .digest()
    .readInt32BE(0);
}
