/**
 * The real services a test run may use. `TEST_DATABASE_URL` switches every storage suite to
 * Postgres, `TEST_REDIS_URL` every fan-out suite to Redis; `REQUIRE_SERVICES=1` (CI) makes a
 * missing one an error instead of a quiet SQLite/in-process run.
 */
export const services = {
  databaseUrl: process.env.TEST_DATABASE_URL || undefined,
  redisUrl: process.env.TEST_REDIS_URL || undefined,
  required: process.env.REQUIRE_SERVICES === '1',
  logLevel: process.env.TEST_LOG_LEVEL || 'silent',
};

export const clusterAvailable = Boolean(services.databaseUrl && services.redisUrl);
