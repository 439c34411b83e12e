/**
 * Whether a failure means "a backing service (the database, Redis) cannot serve right now" — a
 * condition that passes, which a client should retry (503 + Retry-After) — rather than a bug
 * (500). Errors are matched on what drivers put on them (`code`, `name`, message), looked for
 * along the whole wrapping chain: TypeORM's `driverError`, `cause`, and AggregateError's
 * `errors` (Node's happy-eyeballs connect failure).
 */

/** Socket-level failures reaching a server. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'EADDRNOTAVAIL',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/**
 * Postgres SQLSTATEs of a server that is going away, not accepting connections, or out of
 * them; of a statement given up by `lock_timeout` (55P03) or `statement_timeout` (57014); and
 * of a session the server ended after `idle_in_transaction_session_timeout` (25P03: a node that
 * was paused mid-transaction finds its session gone when it resumes).
 * Class 08 (connection exception) is matched as a class.
 */
const POSTGRES_CODES = new Set(['57P01', '57P02', '57P03', '53300', '55P03', '57014', '25P03']);

/** Error names of ioredis when a command could not reach Redis. */
const REDIS_NAMES = new Set(['MaxRetriesPerRequestError', 'ClusterAllFailedError']);

const MESSAGES: RegExp[] = [
  // node-postgres and pg-pool
  /^Connection terminated\b/,
  /^timeout exceeded when trying to connect$/,
  /^Client has encountered a connection error and is not queryable$/,
  /^Client was closed and is not queryable$/,
  // ioredis
  /^Connection is closed\.$/,
  /^Stream isn't writeable and enableOfflineQueue options is false$/,
  /^None of startup nodes is available$/,
  /^(LOADING|MASTERDOWN|TRYAGAIN|CLUSTERDOWN)\b/,
  // The Socket.IO Redis adapter, when another node's answer never came over Redis
  /^timeout reached while waiting for \w+ response$/,
];

interface ErrorLike {
  code?: unknown;
  name?: unknown;
  message?: unknown;
  cause?: unknown;
  driverError?: unknown;
  errors?: unknown;
}

function matches(e: ErrorLike): boolean {
  const code = typeof e.code === 'string' ? e.code : undefined;
  if (code) {
    if (NETWORK_CODES.has(code) || POSTGRES_CODES.has(code)) return true;
    if (/^08[0-9A-Z]{3}$/.test(code)) return true;
    // better-sqlite3: SQLITE_BUSY and its extended codes (SQLITE_BUSY_SNAPSHOT, _TIMEOUT, _RECOVERY)
    if (code === 'SQLITE_BUSY' || code.startsWith('SQLITE_BUSY_')) return true;
  }
  if (typeof e.name === 'string' && REDIS_NAMES.has(e.name)) return true;
  return typeof e.message === 'string' && MESSAGES.some((pattern) => pattern.test(e.message as string));
}

export function isUnavailable(err: unknown): boolean {
  const seen = new Set<unknown>();
  const pending: unknown[] = [err];
  while (pending.length) {
    const next = pending.pop();
    if (next === null || typeof next !== 'object' || seen.has(next) || seen.size > 32) continue;
    seen.add(next);
    const e = next as ErrorLike;
    if (matches(e)) return true;
    pending.push(e.cause, e.driverError);
    if (Array.isArray(e.errors)) pending.push(...(e.errors as unknown[]));
  }
  return false;
}
