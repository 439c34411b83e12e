/**
 * The one place that reads the environment. `loadConfig` turns a plain env map into a
 * typed, validated `AppConfig`; a bad value throws a `ConfigError` whose message is one line
 * naming the variable and what it expected.
 */

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export interface DatabaseConfig {
  /** Postgres connection string; when absent Herald runs on SQLite. */
  url?: string;
  /** Postgres schema to use (created if missing). Lets test runs and tenants of one server stay apart. */
  schema?: string;
  /** SQLite file path, used when `url` is absent. */
  sqlitePath: string;
  poolSize: number;
  /**
   * Postgres session limits, so a node that froze mid-transaction cannot stall the others
   * (0 turns one off). A statement waiting longer than `lockTimeoutMs` for a lock (a row, the
   * append lock) fails with 55P03; one running longer than `statementTimeoutMs` is cancelled
   * (57014); a session idle inside a transaction for `idleInTransactionTimeoutMs` is ended,
   * which releases every lock that transaction held.
   */
  lockTimeoutMs: number;
  statementTimeoutMs: number;
  idleInTransactionTimeoutMs: number;
}

export interface AuthConfig {
  jwtSecret?: string;
  jwksUrl?: string;
  jwtIssuer?: string;
  jwtAudience?: string;
  /** Longest accepted JWT lifetime (`exp` - `iat`, or `exp` - now without `iat`); longer tokens are refused. */
  jwtMaxLifetimeMs: number;
  bootstrapKey?: string;
}

export interface AppConfig {
  nodeEnv: string;
  host: string;
  port: number;
  publicBaseUrl: string;
  publicWsUrl: string;
  /**
   * Origins (`https://app.example.com`) whose web pages may call Herald from a browser: REST
   * through CORS, Socket.IO and raw WebSockets by their `Origin` header. Empty: none besides
   * Herald's own.
   */
  corsOrigins: string[];
  database: DatabaseConfig;
  redisUrl?: string;
  /** Prefix of every Redis channel and key, so several Herald installs can share one Redis. */
  redisPrefix: string;
  auth: AuthConfig;
  logLevel: LogLevel;
  /** Largest accepted request body, in bytes. */
  bodyLimitBytes: number;
  shutdownGraceMs: number;
  events: EventsConfig;
  websocket: WebSocketConfig;
  limits: LimitsConfig;
  webhooks: WebhooksConfig;
  subscriptions: SubscriptionsConfig;
  secrets: SecretsConfig;
}

/** One key of the HERALD_ENCRYPTION_KEY ring: its id is stored with every value it seals. */
export interface EncryptionKey {
  id: string;
  /** 32 bytes (AES-256). */
  key: Buffer;
}

export interface SecretsConfig {
  /**
   * Keys that seal webhook signing secrets at rest. The first seals; every one opens, so a key
   * is rotated by putting the new one first and dropping the old once start-up has re-sealed
   * every row with the new. Empty: secrets are stored in plain text.
   */
  encryptionKeys: EncryptionKey[];
}

export interface SubscriptionsConfig {
  /**
   * How often each node reloads the workspace subscriptions with socket actions from the
   * database, besides refreshing one whenever a save is announced on the bus: a lost bus message
   * leaves a node stale for at most this long.
   */
  socketCacheRefreshMs: number;
}

export interface WebhooksConfig {
  /** Lifts the SSRF guard (loopback/private targets allowed); for development and tests only. */
  allowPrivate: boolean;
  /** Delay before each retry, in order; a delivery fails once the schedule runs out. */
  retryScheduleMs: number[];
  /** ± fraction applied to each retry delay. */
  retryJitter: number;
  connectTimeoutMs: number;
  totalTimeoutMs: number;
  /** Most requests in flight per node. */
  concurrency: number;
  /**
   * Most requests in flight to one endpoint across the whole cluster (the claim counts the
   * endpoint's leased rows in the shared database), so one slow receiver cannot take every slot.
   */
  endpointConcurrency: number;
  /** Longest `Retry-After` honoured; longer ones are capped to this. */
  maxRetryAfterMs: number;
  /** A subscription whose deliveries have all failed for this long is blocked. */
  blockAfterMs: number;
  /** …or after this many consecutive failed deliveries (0: only the time rule applies). */
  blockAfterFailures: number;
  /** Delivery log entries older than this are pruned. */
  deliveryRetentionMs: number;
  /** How often the worker looks for due deliveries when nothing woke it. */
  pollMs: number;
  /**
   * Recovering a subscription makes its failed deliveries due at most this many per second,
   * oldest first, so a large recovery never crowds out the subscription's fresh deliveries.
   */
  recoverPerSecond: number;
  /**
   * How long a rotated-out signing secret keeps signing beside the new one, so receivers can
   * switch secrets without dropping a delivery (0: the old secret stops at once).
   */
  secretRotationOverlapMs: number;
}

export interface WebSocketConfig {
  /** Server pings every client this often (the raw WebSocket contract: 25 s). */
  heartbeatMs: number;
  /** A client silent for this long is terminated (the raw WebSocket contract: 60 s). */
  idleTimeoutMs: number;
  /** A client whose unsent buffer passes this is closed with 1013. */
  maxBufferedBytes: number;
}

/**
 * What one client may hold of a node (README "Reliability"). Socket and attachment caps are per
 * node; a refusal is polite (HTTP 429 on an upgrade, `connect_error` with code 429 on Socket.IO).
 */
export interface LimitsConfig {
  /** A request's headers must have arrived within this, or the connection is closed (slowloris). */
  headersTimeoutMs: number;
  /** Open TCP connections on the node; past it new ones are dropped at accept. 0: 80 % of the open-files limit. */
  maxConnections: number;
  /** Open TCP connections from one remote address; past it new ones are closed at accept. */
  maxConnectionsPerAddress: number;
  /** Raw WebSockets plus Socket.IO sockets (each namespace counts) from one remote address. */
  socketsPerAddress: number;
  /** Raw WebSockets plus Socket.IO sockets opened with one credential (API key, or JWT subject). */
  socketsPerCredential: number;
  /** Clients attached to one realtime channel. */
  attachmentsPerChannel: number;
  /** Channel replays running at once on the node; the rest wait their turn, in order. */
  replayConcurrency: number;
}

export interface EventsConfig {
  /** Events older than this are pruned; replay further back says it is incomplete. */
  retentionMs: number;
  /** A JSON file declaring extra event types for the catalog. */
  typesFile?: string;
  /** How often the dispatcher polls the log when no live notification wakes it. */
  dispatchPollMs: number;
  /**
   * After a batch that found events (but was not full), the next batch starts no sooner than this
   * after it started, so a steady stream is dispatched in fewer, larger batches. The first event
   * after a quiet spell is dispatched at once. 0 dispatches every wake-up at once. At most
   * `dispatchPollMs`.
   */
  dispatchBatchWaitMs: number;
  /**
   * How long the dispatcher lease lasts unrenewed: its holder renews it every third of this, and
   * another node takes it over once a holder (crashed, paused, cut off) has let it run out.
   */
  dispatcherLeaseMs: number;
}

export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    expected: string,
    got: string | undefined,
  ) {
    super(`Invalid configuration: ${variable} must be ${expected}${got === undefined ? '' : ` (got "${got}")`}`);
    this.name = 'ConfigError';
  }
}

export type Env = Record<string, string | undefined>;

const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

function str(env: Env, name: string): string | undefined {
  const value = env[name];
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  return trimmed === '' ? undefined : trimmed;
}

function int(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = str(env, name);
  if (raw === undefined) return fallback;
  if (!/^-?\d+$/.test(raw)) throw new ConfigError(name, `an integer from ${min} to ${max}`, raw);
  const value = Number(raw);
  if (value < min || value > max) throw new ConfigError(name, `an integer from ${min} to ${max}`, raw);
  return value;
}

function url(env: Env, name: string, protocols: string[]): string | undefined {
  const raw = str(env, name);
  if (raw === undefined) return undefined;
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch {
    throw new ConfigError(name, `a URL (${protocols.join(', ')})`, redactUrl(raw));
  }
  if (!protocols.includes(parsed.protocol.replace(/:$/, ''))) {
    throw new ConfigError(name, `a URL with scheme ${protocols.join(' or ')}`, redactUrl(raw));
  }
  return raw.replace(/\/+$/, '');
}

function oneOf<T extends string>(env: Env, name: string, allowed: readonly T[], fallback: T): T {
  const raw = str(env, name);
  if (raw === undefined) return fallback;
  const lowered = raw.toLowerCase() as T;
  if (!allowed.includes(lowered)) throw new ConfigError(name, `one of ${allowed.join(', ')}`, raw);
  return lowered;
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `500ms`, `30s`, `15m`, `12h`, `7d`. */
export function parseDuration(raw: string): number | undefined {
  const match = /^(\d+)\s*(ms|s|m|h|d)$/.exec(raw.trim());
  return match ? Number(match[1]) * DURATION_UNITS[match[2]] : undefined;
}

function duration(env: Env, name: string, fallback: string, minMs: number, max?: { ms: number; of: string }): number {
  const raw = str(env, name) ?? fallback;
  const ms = parseDuration(raw);
  if (ms === undefined || ms < minMs || (max && ms > max.ms))
    throw new ConfigError(
      name,
      `a duration such as 30s, 15m, 12h or 7d, at least ${minMs} ms${max ? ` and at most ${max.of} (${max.ms} ms)` : ''}`,
      raw,
    );
  return ms;
}

function bool(env: Env, name: string, fallback: boolean): boolean {
  const raw = str(env, name);
  if (raw === undefined) return fallback;
  if (/^(true|1|yes)$/i.test(raw)) return true;
  if (/^(false|0|no)$/i.test(raw)) return false;
  throw new ConfigError(name, 'true or false', raw);
}

function durationList(env: Env, name: string, fallback: string): number[] {
  const raw = str(env, name) ?? fallback;
  const parts = raw.split(',').map((p) => parseDuration(p));
  if (!parts.length || parts.some((p) => p === undefined)) {
    throw new ConfigError(name, 'a comma-separated list of durations such as 5s,5m,30m', raw);
  }
  return parts as number[];
}

function identifier(env: Env, name: string): string | undefined {
  const raw = str(env, name);
  if (raw === undefined) return undefined;
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(raw)) throw new ConfigError(name, 'a lower-case SQL identifier', raw);
  return raw;
}

const KEY_ID = /^[A-Za-z0-9_-]{1,16}$/;
const KEY_RING_FORMAT =
  'a base64 32-byte key, or comma-separated <key id>:<base64 32-byte key> entries (ids of 1-16 letters, digits, _ or -, each once)';

/**
 * HERALD_ENCRYPTION_KEY: a bare key (id `k1`) or a ring `new:…,old:…`. Never echoes a value: the
 * variable holds key material. Ids are short so a sealed secret fits its column (secret-box.ts).
 */
function keyRing(env: Env, name: string): EncryptionKey[] {
  const raw = str(env, name);
  if (raw === undefined) return [];
  const entries = raw.includes(':') ? raw.split(',').map((e) => e.trim()) : [`k1:${raw}`];
  const keys: EncryptionKey[] = [];
  for (const entry of entries) {
    const at = entry.indexOf(':');
    const id = entry.slice(0, at);
    const encoded = entry.slice(at + 1).trim();
    const key = Buffer.from(encoded, 'base64');
    if (
      !KEY_ID.test(id) ||
      keys.some((k) => k.id === id) ||
      !/^[A-Za-z0-9+/_-]+={0,2}$/.test(encoded) ||
      key.length !== 32
    )
      throw new ConfigError(name, KEY_RING_FORMAT, undefined);
    keys.push({ id, key });
  }
  return keys;
}

/**
 * CORS_ORIGINS: comma-separated exact origins (scheme, host and port as a browser sends them in
 * `Origin`), normalised to that form so they compare equal to the header.
 */
function origins(env: Env, name: string): string[] {
  const raw = str(env, name);
  if (raw === undefined) return [];
  const expected = 'comma-separated origins such as https://app.example.com,http://localhost:5173';
  const list: string[] = [];
  for (const entry of raw.split(',').map((e) => e.trim())) {
    let parsed: URL;
    try {
      parsed = new URL(entry);
    } catch {
      throw new ConfigError(name, expected, entry);
    }
    const bare = parsed.pathname === '/' && !parsed.search && !parsed.hash && !parsed.username && !parsed.password;
    // Exact origins only: no wildcard host (`https://*.example.com` parses as a URL).
    const host = /^([a-z0-9-]+\.)*[a-z0-9-]+$|^\[[0-9a-f:.]+\]$/i.test(parsed.hostname);
    if (!['http:', 'https:'].includes(parsed.protocol) || !bare || !host || !/^https?:\/\/[^/?#]+\/?$/i.test(entry))
      throw new ConfigError(name, `${expected} (scheme, host and optional port only)`, entry);
    if (!list.includes(parsed.origin)) list.push(parsed.origin);
  }
  return list;
}

/** Never echo a password from a connection string into a log line. */
export function redactUrl(raw: string): string {
  return raw.replace(/\/\/([^:/@]+):([^@]+)@/, '//$1:***@');
}

export function loadConfig(env: Env): AppConfig {
  const port = int(env, 'PORT', 3000, 0, 65535);
  const publicBaseUrl = url(env, 'PUBLIC_BASE_URL', ['http', 'https']) ?? `http://localhost:${port}`;
  const publicWsUrl = url(env, 'PUBLIC_WS_URL', ['ws', 'wss']) ?? publicBaseUrl.replace(/^http/, 'ws');

  const jwtSecret = str(env, 'AUTH_JWT_SECRET');
  if (jwtSecret !== undefined && Buffer.byteLength(jwtSecret) < 32) {
    throw new ConfigError('AUTH_JWT_SECRET', 'at least 32 bytes long (HS256 needs a 256-bit key)', undefined);
  }
  const bootstrapKey = str(env, 'HERALD_BOOTSTRAP_KEY');
  if (bootstrapKey !== undefined && (bootstrapKey.length < 24 || /\s/.test(bootstrapKey))) {
    throw new ConfigError('HERALD_BOOTSTRAP_KEY', 'at least 24 characters with no spaces', undefined);
  }

  return {
    nodeEnv: str(env, 'NODE_ENV') ?? 'development',
    host: str(env, 'HOST') ?? '0.0.0.0',
    port,
    publicBaseUrl,
    publicWsUrl,
    corsOrigins: origins(env, 'CORS_ORIGINS'),
    database: {
      url: url(env, 'DATABASE_URL', ['postgres', 'postgresql']),
      schema: identifier(env, 'DATABASE_SCHEMA'),
      sqlitePath: str(env, 'SQLITE_PATH') ?? './data/herald.sqlite',
      poolSize: int(env, 'DATABASE_POOL_SIZE', 10, 1, 200),
      lockTimeoutMs: duration(env, 'DATABASE_LOCK_TIMEOUT', '5s', 0),
      statementTimeoutMs: duration(env, 'DATABASE_STATEMENT_TIMEOUT', '30s', 0),
      idleInTransactionTimeoutMs: duration(env, 'DATABASE_IDLE_IN_TRANSACTION_TIMEOUT', '30s', 0),
    },
    redisUrl: url(env, 'REDIS_URL', ['redis', 'rediss']),
    redisPrefix: `${str(env, 'REDIS_PREFIX') ?? 'herald'}:`,
    auth: {
      jwtSecret,
      jwksUrl: url(env, 'AUTH_JWKS_URL', ['http', 'https']),
      jwtIssuer: str(env, 'AUTH_JWT_ISSUER'),
      jwtAudience: str(env, 'AUTH_JWT_AUDIENCE'),
      jwtMaxLifetimeMs: duration(env, 'AUTH_JWT_MAX_LIFETIME', '24h', 1000),
      bootstrapKey,
    },
    logLevel: oneOf(env, 'LOG_LEVEL', LOG_LEVELS, 'info'),
    bodyLimitBytes: 1024 * 1024,
    shutdownGraceMs: int(env, 'SHUTDOWN_GRACE_MS', 10_000, 0, 120_000),
    events: {
      retentionMs: duration(env, 'EVENT_RETENTION', '7d', 60_000),
      typesFile: str(env, 'EVENT_TYPES_FILE'),
      dispatchPollMs: duration(env, 'DISPATCH_POLL_INTERVAL', '1s', 10),
      dispatchBatchWaitMs: duration(env, 'DISPATCH_BATCH_WAIT', '50ms', 0, {
        ms: duration(env, 'DISPATCH_POLL_INTERVAL', '1s', 10),
        of: 'DISPATCH_POLL_INTERVAL',
      }),
      dispatcherLeaseMs: duration(env, 'DISPATCHER_LEASE', '10s', 1000),
    },
    websocket: {
      heartbeatMs: duration(env, 'WS_HEARTBEAT_INTERVAL', '25s', 10),
      idleTimeoutMs: duration(env, 'WS_IDLE_TIMEOUT', '60s', 20),
      maxBufferedBytes: int(env, 'WS_MAX_BUFFERED_BYTES', 1024 * 1024, 1024, 1024 * 1024 * 1024),
    },
    limits: {
      headersTimeoutMs: duration(env, 'HTTP_HEADERS_TIMEOUT', '10s', 100),
      maxConnections: int(env, 'MAX_CONNECTIONS', 0, 0, 10_000_000),
      maxConnectionsPerAddress: int(env, 'MAX_CONNECTIONS_PER_ADDRESS', 2000, 1, 10_000_000),
      socketsPerAddress: int(env, 'WS_MAX_SOCKETS_PER_ADDRESS', 1000, 1, 10_000_000),
      socketsPerCredential: int(env, 'WS_MAX_SOCKETS_PER_CREDENTIAL', 1000, 1, 10_000_000),
      attachmentsPerChannel: int(env, 'CHANNEL_MAX_ATTACHMENTS', 100, 1, 1_000_000),
      replayConcurrency: int(env, 'REPLAY_CONCURRENCY', 4, 1, 1000),
    },
    webhooks: {
      allowPrivate: bool(env, 'WEBHOOK_ALLOW_PRIVATE', false),
      retryScheduleMs: durationList(env, 'WEBHOOK_RETRY_SCHEDULE', '5s,5m,30m,2h,5h,10h,10h'),
      retryJitter: int(env, 'WEBHOOK_RETRY_JITTER_PERCENT', 20, 0, 100) / 100,
      connectTimeoutMs: duration(env, 'WEBHOOK_CONNECT_TIMEOUT', '5s', 10),
      totalTimeoutMs: duration(env, 'WEBHOOK_TIMEOUT', '15s', 10),
      concurrency: int(env, 'WEBHOOK_CONCURRENCY', 50, 1, 1000),
      endpointConcurrency: int(env, 'WEBHOOK_ENDPOINT_CONCURRENCY', 10, 1, 1000),
      maxRetryAfterMs: duration(env, 'WEBHOOK_MAX_RETRY_AFTER', '1h', 0),
      blockAfterMs: duration(env, 'WEBHOOK_BLOCK_AFTER', '24h', 1000),
      blockAfterFailures: int(env, 'WEBHOOK_BLOCK_AFTER_FAILURES', 0, 0, 1_000_000),
      deliveryRetentionMs: duration(env, 'DELIVERY_RETENTION', '30d', 60_000),
      pollMs: duration(env, 'WEBHOOK_POLL_INTERVAL', '500ms', 10),
      recoverPerSecond: int(env, 'WEBHOOK_RECOVER_RATE', 10, 1, 10_000),
      secretRotationOverlapMs: duration(env, 'WEBHOOK_SECRET_ROTATION_OVERLAP', '24h', 0),
    },
    subscriptions: {
      socketCacheRefreshMs: duration(env, 'SUBSCRIPTION_SOCKET_CACHE_REFRESH', '30s', 10),
    },
    secrets: {
      encryptionKeys: keyRing(env, 'HERALD_ENCRYPTION_KEY'),
    },
  };
}

/** The configuration of this process, from its environment. */
export function loadProcessConfig(): AppConfig {
  return loadConfig(process.env);
}
