import { Inject, Injectable, OnApplicationShutdown } from '@nestjs/common';
import Redis from 'ioredis';
import { APP_CONFIG, type AppConfig } from '../config';

/**
 * Redis connections, only when REDIS_URL is set. Pub/sub needs a connection of its own, so
 * callers ask for named connections; all are closed at shutdown.
 */
@Injectable()
export class RedisConnections implements OnApplicationShutdown {
  private readonly connections = new Map<string, Redis>();

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {}

  get enabled(): boolean {
    return Boolean(this.config.redisUrl);
  }

  get(name = 'default'): Redis {
    if (!this.config.redisUrl) throw new Error('REDIS_URL is not configured');
    let connection = this.connections.get(name);
    if (!connection) {
      connection = new Redis(this.config.redisUrl, { maxRetriesPerRequest: 3, lazyConnect: false, connectionName: `herald-${name}` });
      // Errors surface through readiness; without a listener ioredis would log them unhandled.
      connection.on('error', () => undefined);
      this.connections.set(name, connection);
    }
    return connection;
  }

  async ping(): Promise<void> {
    const reply = await this.get().ping();
    if (reply !== 'PONG') throw new Error(`unexpected PING reply ${reply}`);
  }

  async onApplicationShutdown(): Promise<void> {
    await Promise.all([...this.connections.values()].map((c) => c.quit().catch(() => c.disconnect())));
    this.connections.clear();
  }
}
