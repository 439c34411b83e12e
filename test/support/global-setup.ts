import Redis from 'ioredis';
import { Client } from 'pg';
import { services } from './services';

/** Fails the run loudly when CI asked for Postgres and Redis and either is missing or down. */
export default async function globalSetup(): Promise<void> {
  if (!services.required) return;
  if (!services.databaseUrl) throw new Error('REQUIRE_SERVICES=1 but TEST_DATABASE_URL is not set');
  if (!services.redisUrl) throw new Error('REQUIRE_SERVICES=1 but TEST_REDIS_URL is not set');
  const pg = new Client({ connectionString: services.databaseUrl });
  try {
    await pg.connect();
    await pg.query('SELECT 1');
  } catch (err) {
    throw new Error(`REQUIRE_SERVICES=1 but Postgres at TEST_DATABASE_URL is unreachable: ${(err as Error).message}`, {
      cause: err,
    });
  } finally {
    await pg.end().catch(() => undefined);
  }
  const redis = new Redis(services.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    await redis.ping();
  } catch (err) {
    throw new Error(`REQUIRE_SERVICES=1 but Redis at TEST_REDIS_URL is unreachable: ${(err as Error).message}`, {
      cause: err,
    });
  } finally {
    redis.disconnect();
  }
}
