import 'reflect-metadata';
import { createApp } from './app';
import { ConfigError, loadProcessConfig } from './core/config';

async function bootstrap(): Promise<void> {
  let config;
  try {
    config = loadProcessConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
  const { app, logger } = await createApp(config);
  await app.listen(config.port, config.host);
  logger.info(
    { port: config.port, database: config.database.url ? 'postgres' : 'sqlite', redis: Boolean(config.redisUrl) },
    `Herald listening on ${config.publicBaseUrl} (Swagger UI at ${config.publicBaseUrl}/docs)`,
  );
}

bootstrap().catch((err) => {
  process.stderr.write(`Herald failed to start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
