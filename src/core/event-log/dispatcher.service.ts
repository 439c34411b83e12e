import { Inject, Injectable, Logger, OnApplicationBootstrap, BeforeApplicationShutdown } from '@nestjs/common';
import { createHash } from 'node:crypto';
import { Client } from 'pg';
import { EventBus, type Unsubscribe } from '../bus/event-bus';
import { RouterRegistry } from '../bus/router-registry';
import { APP_CONFIG, type AppConfig } from '../config';
import { MetricsService } from '../health/metrics.service';
import { DISPATCHER_CONSUMER, EventLog } from './event-log.service';

export { DISPATCHER_CONSUMER };
const BATCH_SIZE = 500;
const LEADER_RETRY_MS = 2000;

/** One advisory-lock key per Postgres schema, so separate installs sharing a database do not block each other. */
function leaderLockKey(schema: string): number {
  return createHash('sha256').update(`herald-dispatcher:${schema}`).digest().readInt32BE(0);
}

/**
 * The durable path's consumer: reads the log after its persisted checkpoint and runs the
 * durable routers in seq order, moving the checkpoint in the same transaction. Exactly one
 * node is active: on Postgres it holds a session advisory lock on a connection of its own
 * (if that connection dies the lock goes with it and another node takes over); SQLite has a
 * single process. It wakes on live events and also polls, so a missed wake-up only delays.
 */
@Injectable()
export class Dispatcher implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('Dispatcher');
  private running = false;
  private leader = false;
  private lockClient?: Client;
  private loop?: Promise<void>;
  private wake?: () => void;
  private unsubscribe?: Unsubscribe;

  constructor(
    private readonly log: EventLog,
    private readonly routers: RouterRegistry,
    private readonly bus: EventBus,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    metrics: MetricsService,
  ) {
    metrics.gauge('herald_dispatcher_checkpoint', 'Last event seq the durable routers have processed', () => this.log.checkpoint(DISPATCHER_CONSUMER));
    metrics.gauge('herald_event_log_head', 'Highest event seq in the log', () => this.log.head());
    metrics.gauge('herald_dispatcher_active', '1 on the node whose dispatcher is active', () => (this.leader ? 1 : 0));
  }

  get isLeader(): boolean {
    return this.leader;
  }

  onApplicationBootstrap(): void {
    this.running = true;
    this.unsubscribe = this.bus.onEvents(() => this.wake?.());
    this.loop = this.run();
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.running = false;
    this.unsubscribe?.();
    this.wake?.();
    await this.loop;
    await this.releaseLeadership();
  }

  private async run(): Promise<void> {
    while (this.running) {
      try {
        if (!(await this.ensureLeadership())) {
          await this.sleep(LEADER_RETRY_MS);
          continue;
        }
        const processed = await this.log.processBatch(DISPATCHER_CONSUMER, BATCH_SIZE, async (events, manager) => {
          for (const router of this.routers.durable) await router.route(events, manager);
        });
        if (processed < BATCH_SIZE) await this.sleep(this.config.events.dispatchPollMs);
      } catch (err) {
        if (!this.running) break;
        this.logger.error({ err }, 'dispatch batch failed; retrying');
        await this.releaseLeadership();
        await this.sleep(LEADER_RETRY_MS);
      }
    }
  }

  private async ensureLeadership(): Promise<boolean> {
    const { url, schema } = this.config.database;
    if (!url) return (this.leader = true);
    if (this.leader && this.lockClient) return true;
    const client = new Client({ connectionString: url });
    client.on('error', (err) => {
      this.logger.warn({ err }, 'dispatcher lock connection lost; stepping down');
      this.leader = false;
      this.lockClient = undefined;
    });
    await client.connect();
    const { rows } = await client.query('SELECT pg_try_advisory_lock($1) AS acquired', [leaderLockKey(schema ?? 'public')]);
    if (rows[0]?.acquired) {
      this.lockClient = client;
      this.leader = true;
      this.logger.log('this node is the active dispatcher');
      return true;
    }
    await client.end();
    return false;
  }

  private async releaseLeadership(): Promise<void> {
    this.leader = false;
    const client = this.lockClient;
    this.lockClient = undefined;
    await client?.end().catch(() => undefined);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    });
  }
}
