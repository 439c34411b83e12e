import {
  Global,
  Inject,
  Injectable,
  Logger,
  Module,
  type OnApplicationShutdown,
  type OnModuleDestroy,
} from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../config';

/**
 * One line when shutdown starts and one when it is over, so an operator can tell a node that is
 * draining from one that hangs, and how long a shutdown took.
 *
 * Nest runs each shutdown phase over every module, the root first and global modules last.
 * Herald does its shutdown work in `beforeApplicationShutdown` (closing clients, finishing
 * deliveries and dispatch) and `onApplicationShutdown` (timers, Redis, the database), and
 * nothing in `onModuleDestroy`; so as a global module, this logs the start in `onModuleDestroy`,
 * before any of that work, and the end in `onApplicationShutdown` after the other modules'.
 * Among global modules Nest runs the later-registered first: AppModule imports this one first,
 * so its end line comes after the database connections have closed.
 */
@Injectable()
export class ShutdownLog implements OnModuleDestroy, OnApplicationShutdown {
  private readonly logger = new Logger('Shutdown');
  private startedAt?: number;

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {}

  onModuleDestroy(): void {
    this.startedAt = Date.now();
    this.logger.log(
      { grace_ms: this.config.shutdownGraceMs },
      'shutdown started: closing client connections, finishing in-flight requests and deliveries',
    );
  }

  onApplicationShutdown(signal?: string): void {
    this.logger.log(
      { signal: signal ?? null, duration_ms: this.startedAt === undefined ? null : Date.now() - this.startedAt },
      'shutdown complete',
    );
  }
}

@Global()
@Module({ providers: [ShutdownLog] })
export class ShutdownLogModule {}
