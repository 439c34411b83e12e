import { INestApplication } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { createApp } from '../../src/app';
import { AppConfig, loadConfig } from '../../src/core/config';
import { services } from './services';
import { createTestDatabase, TestDatabase } from './test-database';

export const TEST_JWT_SECRET = 'test-secret-that-is-at-least-32-bytes-long!!';

export interface TestApp {
  app: INestApplication;
  config: AppConfig;
  /** http://127.0.0.1:<port> */
  url: string;
  port: number;
  operatorToken: string;
  database: TestDatabase;
  /** Closes the app; drops the database too unless it was passed in. */
  close(): Promise<void>;
}

export interface TestAppOptions {
  /** Extra environment for this instance (wins over the defaults). */
  env?: Record<string, string>;
  /** Share a database between instances (restart, cluster); the caller drops it. */
  database?: TestDatabase;
  /** Use Redis when TEST_REDIS_URL is set (default true). */
  redis?: boolean;
  port?: number;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Boots the real application on a free loopback port, on the suite's own database. */
export async function startTestApp(options: TestAppOptions = {}): Promise<TestApp> {
  const database = options.database ?? createTestDatabase();
  const ownsDatabase = !options.database;
  const port = options.port ?? (await freePort());
  const operatorToken = options.env?.HERALD_BOOTSTRAP_KEY ?? `hrld_test_${randomBytes(16).toString('hex')}`;
  const env: Record<string, string> = {
    NODE_ENV: 'test',
    HOST: '127.0.0.1',
    PORT: String(port),
    PUBLIC_BASE_URL: `http://127.0.0.1:${port}`,
    LOG_LEVEL: services.logLevel,
    HERALD_BOOTSTRAP_KEY: operatorToken,
    AUTH_JWT_SECRET: TEST_JWT_SECRET,
    ...(services.redisUrl && options.redis !== false
      ? { REDIS_URL: services.redisUrl, REDIS_PREFIX: `herald-test-${database.id}` }
      : {}),
    ...database.env,
    ...options.env,
  };
  const config = loadConfig(env);
  const { app } = await createApp(config);
  await app.listen(port, '127.0.0.1');
  let closed = false;
  return {
    app,
    config,
    url: `http://127.0.0.1:${port}`,
    port,
    operatorToken,
    database,
    async close() {
      if (closed) return;
      closed = true;
      await app.close();
      if (ownsDatabase) await database.drop();
    },
  };
}

/**
 * Two instances on one fresh database (and so one Redis prefix) sharing the operator key: a
 * cluster. The caller closes both and drops `database`.
 */
export async function startTwoNodes(
  env: Record<string, string> = {},
): Promise<{ a: TestApp; b: TestApp; database: TestDatabase }> {
  const database = createTestDatabase();
  const a = await startTestApp({ database, env });
  try {
    const b = await startTestApp({ database, env: { ...env, HERALD_BOOTSTRAP_KEY: a.operatorToken } });
    return { a, b, database };
  } catch (err) {
    await a.close();
    await database.drop();
    throw err;
  }
}
