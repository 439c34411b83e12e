import { ConfigError, loadConfig } from './config';

function failure(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
  } catch (err) {
    return err as ConfigError;
  }
  throw new Error('expected loadConfig to fail');
}

describe('loadConfig', () => {
  it('gives working defaults for an empty environment', () => {
    const config = loadConfig({});
    expect(config.port).toBe(3000);
    expect(config.database).toEqual({
      url: undefined,
      schema: undefined,
      sqlitePath: './data/herald.sqlite',
      poolSize: 10,
      lockTimeoutMs: 5000,
      statementTimeoutMs: 30_000,
      idleInTransactionTimeoutMs: 30_000,
    });
    expect(config.publicBaseUrl).toBe('http://localhost:3000');
    expect(config.publicWsUrl).toBe('ws://localhost:3000');
    expect(config.redisUrl).toBeUndefined();
    expect(config.logLevel).toBe('info');
  });

  it('reads the per-client limits, with defaults', () => {
    expect(loadConfig({}).limits).toEqual({
      headersTimeoutMs: 10_000,
      maxConnections: 0,
      maxConnectionsPerAddress: 2000,
      socketsPerAddress: 1000,
      socketsPerCredential: 1000,
      attachmentsPerChannel: 100,
      replayConcurrency: 4,
    });
    const set = loadConfig({
      HTTP_HEADERS_TIMEOUT: '2s',
      WS_MAX_SOCKETS_PER_CREDENTIAL: '5',
      REPLAY_CONCURRENCY: '1',
      CHANNEL_MAX_ATTACHMENTS: '3',
    }).limits;
    expect(set).toMatchObject({
      headersTimeoutMs: 2000,
      socketsPerCredential: 5,
      replayConcurrency: 1,
      attachmentsPerChannel: 3,
    });
    expect(() => loadConfig({ REPLAY_CONCURRENCY: '0' })).toThrow(
      /REPLAY_CONCURRENCY must be an integer from 1 to 1000/,
    );
  });

  it('caps JWT lifetimes at AUTH_JWT_MAX_LIFETIME, 24h by default', () => {
    expect(loadConfig({}).auth.jwtMaxLifetimeMs).toBe(24 * 3_600_000);
    expect(loadConfig({ AUTH_JWT_MAX_LIFETIME: '15m' }).auth.jwtMaxLifetimeMs).toBe(15 * 60_000);
    expect(() => loadConfig({ AUTH_JWT_MAX_LIFETIME: 'forever' })).toThrow(/AUTH_JWT_MAX_LIFETIME must be a duration/);
    expect(() => loadConfig({ AUTH_JWT_MAX_LIFETIME: '0s' })).toThrow(/AUTH_JWT_MAX_LIFETIME must be a duration/);
  });

  it('derives the public WebSocket URL from the public base URL', () => {
    expect(loadConfig({ PUBLIC_BASE_URL: 'https://herald.example.com/' }).publicWsUrl).toBe('wss://herald.example.com');
  });

  it('reads Postgres and Redis URLs', () => {
    const config = loadConfig({
      DATABASE_URL: 'postgres://u:p@db:5432/herald',
      REDIS_URL: 'redis://cache:6379',
      DATABASE_SCHEMA: 'tenant_a',
    });
    expect(config.database.url).toBe('postgres://u:p@db:5432/herald');
    expect(config.database.schema).toBe('tenant_a');
    expect(config.redisUrl).toBe('redis://cache:6379');
  });

  it.each([
    [{ PORT: 'abc' }, 'PORT', 'an integer from 0 to 65535'],
    [{ PORT: '70000' }, 'PORT', 'an integer from 0 to 65535'],
    [{ DATABASE_URL: 'mysql://x' }, 'DATABASE_URL', 'scheme postgres or postgresql'],
    [{ DATABASE_URL: 'not a url' }, 'DATABASE_URL', 'a URL'],
    [{ REDIS_URL: 'http://cache' }, 'REDIS_URL', 'scheme redis or rediss'],
    [{ PUBLIC_BASE_URL: 'ftp://x' }, 'PUBLIC_BASE_URL', 'scheme http or https'],
    [{ PUBLIC_WS_URL: 'http://x' }, 'PUBLIC_WS_URL', 'scheme ws or wss'],
    [{ AUTH_JWKS_URL: 'nope' }, 'AUTH_JWKS_URL', 'a URL'],
    [{ AUTH_JWT_SECRET: 'short' }, 'AUTH_JWT_SECRET', 'at least 32 bytes'],
    [{ HERALD_BOOTSTRAP_KEY: 'tiny' }, 'HERALD_BOOTSTRAP_KEY', 'at least 24 characters'],
    [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL', 'one of fatal, error, warn, info, debug, trace, silent'],
    [{ DATABASE_SCHEMA: 'Drop Table' }, 'DATABASE_SCHEMA', 'a lower-case SQL identifier'],
    [{ DATABASE_POOL_SIZE: '0' }, 'DATABASE_POOL_SIZE', 'an integer from 1 to 200'],
    [{ WEBHOOK_ENDPOINT_CONCURRENCY: '0' }, 'WEBHOOK_ENDPOINT_CONCURRENCY', 'an integer from 1 to 1000'],
    [{ WEBHOOK_ENDPOINT_CONCURRENCY: 'many' }, 'WEBHOOK_ENDPOINT_CONCURRENCY', 'an integer from 1 to 1000'],
  ])('rejects %j naming %s', (env, variable, expected) => {
    const err = failure(env as Record<string, string>);
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.variable).toBe(variable);
    expect(err.message).toContain(variable);
    expect(err.message).toContain(expected);
    expect(err.message.split('\n')).toHaveLength(1);
  });

  it('never echoes a database password', () => {
    const err = failure({ DATABASE_URL: 'mysql://admin:hunter2@db/x' });
    expect(err.message).not.toContain('hunter2');
  });
});

describe('webhook concurrency', () => {
  it('caps requests per endpoint (WEBHOOK_ENDPOINT_CONCURRENCY, default 10) apart from the per-node slots', () => {
    expect(loadConfig({}).webhooks).toMatchObject({ concurrency: 50, endpointConcurrency: 10 });
    expect(loadConfig({ WEBHOOK_ENDPOINT_CONCURRENCY: '2' }).webhooks.endpointConcurrency).toBe(2);
  });
});

describe('webhook signing secrets', () => {
  const key = (fill: number) => Buffer.alloc(32, fill).toString('base64');

  it('keeps a rotated-out secret signing for WEBHOOK_SECRET_ROTATION_OVERLAP, 24h by default, 0 allowed', () => {
    expect(loadConfig({}).webhooks.secretRotationOverlapMs).toBe(24 * 3_600_000);
    expect(loadConfig({ WEBHOOK_SECRET_ROTATION_OVERLAP: '90m' }).webhooks.secretRotationOverlapMs).toBe(5_400_000);
    expect(loadConfig({ WEBHOOK_SECRET_ROTATION_OVERLAP: '0s' }).webhooks.secretRotationOverlapMs).toBe(0);
    expect(() => loadConfig({ WEBHOOK_SECRET_ROTATION_OVERLAP: 'a day' })).toThrow(
      'WEBHOOK_SECRET_ROTATION_OVERLAP must be a duration',
    );
  });

  it('reads no encryption key as an empty ring', () => {
    expect(loadConfig({}).secrets.encryptionKeys).toEqual([]);
  });

  it('reads a bare key as k1 and a ring in order, the first sealing', () => {
    expect(loadConfig({ HERALD_ENCRYPTION_KEY: key(1) }).secrets.encryptionKeys).toEqual([
      { id: 'k1', key: Buffer.alloc(32, 1) },
    ]);
    const ring = loadConfig({ HERALD_ENCRYPTION_KEY: `k2:${key(2)}, k1:${key(1)}` }).secrets.encryptionKeys;
    expect(ring.map((k) => k.id)).toEqual(['k2', 'k1']);
    expect(ring[0].key).toEqual(Buffer.alloc(32, 2));
    const urlSafe = Buffer.alloc(32, 0xfb).toString('base64url');
    expect(loadConfig({ HERALD_ENCRYPTION_KEY: urlSafe }).secrets.encryptionKeys[0].key).toEqual(
      Buffer.alloc(32, 0xfb),
    );
  });

  it.each([
    ['a short key', Buffer.alloc(16).toString('base64')],
    ['a long key', Buffer.alloc(33).toString('base64')],
    ['not base64', 'not base64 at all!'],
    ['an empty id', `:${key(1)}`],
    ['an id with a colon in the key', `k1:${key(1)}:x`],
    ['a duplicate id', `k1:${key(1)},k1:${key(2)}`],
    ['an id too long for the column', `${'k'.repeat(17)}:${key(1)}`],
    ['an empty entry', `k1:${key(1)},`],
  ])('refuses %s in HERALD_ENCRYPTION_KEY without echoing it', (_, value) => {
    const err = failure({ HERALD_ENCRYPTION_KEY: value });
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.variable).toBe('HERALD_ENCRYPTION_KEY');
    expect(err.message).toContain('HERALD_ENCRYPTION_KEY must be a base64 32-byte key');
    expect(err.message).not.toContain(value);
    expect(err.message.split('\n')).toHaveLength(1);
  });
});

describe('durations', () => {
  it('reads the Postgres session timeouts; 0 turns one off', () => {
    const config = loadConfig({
      DATABASE_LOCK_TIMEOUT: '750ms',
      DATABASE_STATEMENT_TIMEOUT: '2m',
      DATABASE_IDLE_IN_TRANSACTION_TIMEOUT: '0s',
    });
    expect(config.database).toMatchObject({
      lockTimeoutMs: 750,
      statementTimeoutMs: 120_000,
      idleInTransactionTimeoutMs: 0,
    });
    expect(() => loadConfig({ DATABASE_LOCK_TIMEOUT: '5' })).toThrow('DATABASE_LOCK_TIMEOUT must be a duration');
    expect(() => loadConfig({ DATABASE_STATEMENT_TIMEOUT: 'forever' })).toThrow(
      'DATABASE_STATEMENT_TIMEOUT must be a duration',
    );
    expect(() => loadConfig({ DATABASE_IDLE_IN_TRANSACTION_TIMEOUT: '-1s' })).toThrow(
      'DATABASE_IDLE_IN_TRANSACTION_TIMEOUT must be a duration',
    );
  });

  it('reads EVENT_RETENTION and rejects nonsense', () => {
    expect(loadConfig({ EVENT_RETENTION: '12h' }).events.retentionMs).toBe(12 * 3600 * 1000);
    expect(loadConfig({}).events.retentionMs).toBe(7 * 86400 * 1000);
    expect(() => loadConfig({ EVENT_RETENTION: 'a week' })).toThrow('EVENT_RETENTION must be a duration');
  });

  it('reads DISPATCHER_LEASE, 10s by default, at least a second', () => {
    expect(loadConfig({}).events.dispatcherLeaseMs).toBe(10_000);
    expect(loadConfig({ DISPATCHER_LEASE: '2s' }).events.dispatcherLeaseMs).toBe(2000);
    expect(() => loadConfig({ DISPATCHER_LEASE: '500ms' })).toThrow('DISPATCHER_LEASE must be a duration');
    expect(() => loadConfig({ DISPATCHER_LEASE: 'ten' })).toThrow('DISPATCHER_LEASE must be a duration');
  });

  it('reads DISPATCH_BATCH_WAIT, 50ms by default, 0 allowed, at most DISPATCH_POLL_INTERVAL', () => {
    expect(loadConfig({}).events.dispatchBatchWaitMs).toBe(50);
    expect(loadConfig({ DISPATCH_BATCH_WAIT: '0ms' }).events.dispatchBatchWaitMs).toBe(0);
    expect(loadConfig({ DISPATCH_BATCH_WAIT: '1h', DISPATCH_POLL_INTERVAL: '1h' }).events.dispatchBatchWaitMs).toBe(
      3_600_000,
    );
    expect(() => loadConfig({ DISPATCH_BATCH_WAIT: '50s' })).toThrow(
      'DISPATCH_BATCH_WAIT must be a duration such as 30s, 15m, 12h or 7d, at least 0 ms and at most DISPATCH_POLL_INTERVAL (1000 ms)',
    );
  });

  it('reads SUBSCRIPTION_SOCKET_CACHE_REFRESH, 30s by default', () => {
    expect(loadConfig({}).subscriptions.socketCacheRefreshMs).toBe(30_000);
    expect(loadConfig({ SUBSCRIPTION_SOCKET_CACHE_REFRESH: '250ms' }).subscriptions.socketCacheRefreshMs).toBe(250);
    expect(() => loadConfig({ SUBSCRIPTION_SOCKET_CACHE_REFRESH: '0' })).toThrow(
      'SUBSCRIPTION_SOCKET_CACHE_REFRESH must be a duration',
    );
  });
});
