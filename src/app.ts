import { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { NestExpressApplication } from '@nestjs/platform-express';
import type { Logger } from 'pino';
import { AppModule } from './app.module';
import { AppConfig } from './core/config';
import { HeraldIoAdapter } from './core/gateway/io.adapter';
import { SocketLimits } from './core/gateway/socket-limits';
import { MetricsService } from './core/health/metrics.service';
import { jsonBodyParser } from './core/http/body-parser';
import { answerClientError } from './core/http/client-error';
import { guardConnections } from './core/http/connection-guard';
import { enableRestCors } from './core/http/origins';
import { securityHeaders } from './core/http/security-headers';
import { setupSwagger } from './core/http/swagger';
import { createValidationPipe } from './core/http/validation';
import { createLogger, httpLogger, PinoLoggerService } from './core/logging/logger';
import { RedisConnections } from './core/redis/redis.service';

export interface HeraldApp {
  app: INestApplication;
  logger: Logger;
}

/** Builds a fully configured, not yet listening, Herald application. Used by main and by tests. */
export async function createApp(config: AppConfig): Promise<HeraldApp> {
  const logger = createLogger(config.logLevel);
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(config), {
    bodyParser: false,
    logger: new PinoLoggerService(logger),
    abortOnError: false,
  });
  app.disable('x-powered-by');
  app.getHttpServer().on('clientError', answerClientError);
  const limits = app.get(SocketLimits);
  guardConnections(app.getHttpServer(), config.limits, logger, (reason) => limits.refused(reason));
  app.use(httpLogger(logger));
  app.use(app.get(MetricsService).httpMiddleware());
  app.use(securityHeaders());
  enableRestCors(app, config);
  app.use(jsonBodyParser(config.bodyLimitBytes));
  app.useGlobalPipes(createValidationPipe());
  app.useWebSocketAdapter(new HeraldIoAdapter(app, config, app.get(RedisConnections)));
  app.enableShutdownHooks();
  setupSwagger(app, config);
  return { app, logger };
}
