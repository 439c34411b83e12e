import { Inject, Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import Redis from 'ioredis';
import { APP_CONFIG, type AppConfig } from '../config';

/** What the current outage has cost so far. */
interface Outage {
  since: number;
  lostMessages: number;
}

/**
 * Redis connections, only when REDIS_URL is set. Pub/sub needs a connection of its own, so
 * callers ask for named connections; all are closed at shutdown.
 *
 * Outages are logged as state changes, once each: "redis down" (warn) when the first connection
 * drops, "redis back" (info) once every connection is ready again, with how long it was down
 * and how many bus messages were lost meanwhile. Users that lose messages while Redis is down
 * count them here (`countLost`) instead of logging one line each.
 */
@Injectable()
export class RedisConnections implements OnApplicationShutdown {
  private readonly logger = new Logger('Redis');
  private readonly connections = new Map<string, Redis>();
  private outage?: Outage;
  private lastError?: string;
  private closing = false;

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {}

  get enabled(): boolean {
    return Boolean(this.config.redisUrl);
  }

  /** False from the first dropped connection until every connection is ready again. */
  get available(): boolean {
    return !this.outage;
  }

  get(name = 'default'): Redis {
    if (!this.config.redisUrl) throw new Error('REDIS_URL is not configured');
    let connection = this.connections.get(name);
    if (!connection) {
      connection = new Redis(this.config.redisUrl, {
        maxRetriesPerRequest: 3,
        lazyConnect: false,
        connectionName: `herald-${name}`,
      });
      // Errors surface through readiness and the down/back lines; without a listener ioredis
      // would log every reconnect attempt's error unhandled.
      connection.on('error', (err: Error) => (this.lastError = err.message));
      connection.on('close', () => this.dropped(name));
      connection.on('ready', () => this.recovered());
      this.connections.set(name, connection);
    }
    return connection;
  }

  /**
   * Counts a message lost because Redis is down and returns true; returns false (counting
   * nothing) while Redis is up, when the caller should report the failure itself.
   */
  countLost(n = 1): boolean {
    if (!this.outage) return false;
    this.outage.lostMessages += n;
    return true;
  }

  private dropped(name: string): void {
    if (this.closing || this.outage) return;
    this.outage = { since: Date.now(), lostMessages: 0 };
    this.logger.warn({ connection: name, ...(this.lastError ? { error: this.lastError } : {}) }, 'redis down');
  }

  private recovered(): void {
    if (this.closing || !this.outage) return;
    if (![...this.connections.values()].every((c) => c.status === 'ready')) return;
    const { since, lostMessages } = this.outage;
    this.outage = undefined;
    this.lastError = undefined;
    this.logger.log({ downMs: Date.now() - since, lostMessages }, 'redis back');
  }

  async ping(): Promise<void> {
    const reply = await this.get().ping();
    if (reply !== 'PONG') throw new Error(`unexpected PING reply ${reply}`);
  }

  async onApplicationShutdown(): Promise<void> {
    this.closing = true;
    await Promise.all([...this.connections.values()].map((c) => c.quit().catch(() => c.disconnect())));
    this.connections.clear();
  }
}
