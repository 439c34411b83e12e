import { Inject, Injectable, Logger, OnApplicationBootstrap, BeforeApplicationShutdown } from '@nestjs/common';
import { performance } from 'node:perf_hooks';
import { Counter } from 'prom-client';
import { BusRpc } from '../bus/bus-rpc';
import { EventBus, type Unsubscribe } from '../bus/event-bus';
import { RouterRegistry } from '../bus/router-registry';
import { APP_CONFIG, type AppConfig } from '../config';
import { Database } from '../database/database.service';
import { MetricsService } from '../health/metrics.service';
import { DispatcherLeaseStore, LeaseLostError, type AcquireResult } from './dispatcher-lease.store';
import { DISPATCHER_CONSUMER, EventLog } from './event-log.service';

export { DISPATCHER_CONSUMER };
const BATCH_SIZE = 500;
const RETRY_MS = 2000;

/** The lease this node holds, and until when (its own monotonic clock) it may act on it unrenewed. */
interface HeldLease {
  term: number;
  validUntil: number;
}

/**
 * A pause that `interrupt` ends early. An interrupt that comes while no pause runs is kept, and
 * ends the next pause at once: a wake-up for an event committed while a batch was being read
 * must not wait for the next poll.
 */
class Pause {
  private end?: () => void;
  private interrupted = false;

  for(ms: number): Promise<void> {
    if (this.interrupted) {
      this.interrupted = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.end?.(), ms);
      this.end = () => {
        clearTimeout(timer);
        this.end = undefined;
        this.interrupted = false;
        resolve();
      };
    });
  }

  interrupt(): void {
    if (this.end) this.end();
    else this.interrupted = true;
  }
}

/**
 * The durable path's consumer: reads the log after its persisted checkpoint and runs the
 * durable routers in seq order, moving the checkpoint in the same transaction. Exactly one
 * node is active: the one holding the dispatcher lease (DISPATCHER_LEASE). The holder renews
 * it every third of its length; a node that stops renewing — crashed, cut off, or paused with
 * its connections still open — loses it when its deadline passes, and another node takes it.
 *
 * Fencing: every batch first renews the lease inside the batch's own transaction, checking
 * holder and term. A node that lost the lease while paused and wakes mid-loop finds the check
 * failing and its batch rolls back (LeaseLostError), so it can never commit a batch on the
 * strength of a lease another node has since taken.
 *
 * It wakes on live events and also polls, so a missed wake-up only delays. Under a steady
 * stream it starts a batch at most every DISPATCH_BATCH_WAIT, so the per-batch statements
 * (fence, checkpoint, routing reads, one insert of deliveries) are shared by more events.
 */
@Injectable()
export class Dispatcher implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('Dispatcher');
  private readonly leases: DispatcherLeaseStore;
  private readonly nodeId: string;
  private readonly leaseMs: number;
  private readonly renewEveryMs: number;
  private readonly changes: Counter<'change'>;
  private running = false;
  private lease?: HeldLease;
  /** SQLite serves one process, so a lease left behind by a previous one (a crash) is stale: take it at start. */
  private firstAttempt = true;
  private loop?: Promise<void>;
  private renewals?: Promise<void>;
  private readonly idle = new Pause();
  /** Waits only shutdown ends early: between two batches of a steady stream (DISPATCH_BATCH_WAIT), and before a retry. */
  private readonly gather = new Pause();
  private readonly renewPause = new Pause();
  private unsubscribe?: Unsubscribe;

  constructor(
    private readonly log: EventLog,
    private readonly routers: RouterRegistry,
    private readonly bus: EventBus,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    metrics: MetricsService,
    db: Database,
    rpc: BusRpc,
  ) {
    this.leases = new DispatcherLeaseStore(db);
    this.nodeId = rpc.nodeId;
    this.leaseMs = config.events.dispatcherLeaseMs;
    this.renewEveryMs = Math.max(1, Math.floor(this.leaseMs / 3));
    metrics.gauge('herald_dispatcher_checkpoint', 'Last event seq the durable routers have processed', () =>
      this.log.checkpoint(DISPATCHER_CONSUMER),
    );
    metrics.gauge('herald_event_log_head', 'Highest event seq in the log', () => this.log.head());
    // Seqs say how many events wait; this says for how long, which is what a subscriber feels.
    metrics.gauge(
      'herald_dispatcher_lag_seconds',
      'Age of the oldest event the dispatcher has not processed yet (now minus when it was received); 0 when it has processed the whole log',
      async () => {
        const oldest = await this.log.oldestUnprocessed(DISPATCHER_CONSUMER);
        return oldest ? Math.max(0, (Date.now() - Date.parse(oldest)) / 1000) : 0;
      },
    );
    metrics.gauge('herald_dispatcher_active', '1 on the node whose dispatcher is active', () =>
      this.isLeader ? 1 : 0,
    );
    metrics.gauge(
      'herald_dispatcher_term',
      'Term (fencing token) of the dispatcher lease this node holds; 0 when it holds none',
      () => (this.isLeader ? this.lease!.term : 0),
    );
    this.changes = new Counter({
      name: 'herald_dispatcher_leadership_changes_total',
      help: 'Dispatcher leases this node acquired and lost',
      labelNames: ['change'],
      registers: [metrics.registry],
    });
  }

  /** Whether this node holds the lease and its own clock says it has not run out. */
  get isLeader(): boolean {
    return !!this.lease && performance.now() < this.lease.validUntil;
  }

  onApplicationBootstrap(): void {
    this.running = true;
    this.firstAttempt = true;
    // Only the active node has work to wake for; a standby tries for the lease on its own timer.
    this.unsubscribe = this.bus.onEvents(() => {
      if (this.lease) this.idle.interrupt();
    });
    this.loop = this.run();
    this.renewals = this.renewLoop();
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.running = false;
    this.unsubscribe?.();
    this.idle.interrupt();
    this.gather.interrupt();
    this.renewPause.interrupt();
    await this.loop;
    await this.renewals;
    const lease = this.lease;
    this.lease = undefined;
    if (!lease) return;
    // Released, another node takes over at once instead of waiting out the deadline.
    await this.leases.release(this.nodeId, lease.term).then(
      () => this.logger.log({ node: this.nodeId, term: lease.term }, 'dispatcher lease released'),
      (err) =>
        this.logger.warn(
          { err, node: this.nodeId, term: lease.term },
          'dispatcher lease release failed; it runs out by itself',
        ),
    );
  }

  private async run(): Promise<void> {
    while (this.running) {
      let lease = this.isLeader ? this.lease : undefined;
      try {
        lease ??= await this.acquire().catch((err) => {
          this.logger.warn({ err, node: this.nodeId }, 'dispatcher lease acquisition failed; retrying');
          return undefined;
        });
        if (!lease) {
          await this.idle.for(this.renewEveryMs);
          continue;
        }
        const started = performance.now();
        const processed = await this.dispatchBatch(lease);
        if (processed >= BATCH_SIZE) continue;
        // A batch that found events is likely followed by more: let them gather for the next one
        // (a wake-up meanwhile is kept by `idle`). After a quiet spell nothing waits here.
        if (processed > 0) {
          const gatherMs = started + this.config.events.dispatchBatchWaitMs - performance.now();
          if (gatherMs > 0) await this.gather.for(gatherMs);
        }
        await this.idle.for(this.config.events.dispatchPollMs);
      } catch (err) {
        if (err instanceof LeaseLostError) {
          this.lost(lease, 'another node took the lease; the batch was rolled back');
          continue;
        }
        if (!this.running) break;
        this.logger.error({ err }, 'dispatch batch failed; retrying');
        // Not ended by wake-ups: a failing batch is retried every RETRY_MS, not at the event rate.
        await this.gather.for(RETRY_MS);
      }
    }
  }

  private async dispatchBatch(lease: HeldLease): Promise<number> {
    let fencedAt: number | undefined;
    const processed = await this.log.processBatch(DISPATCHER_CONSUMER, BATCH_SIZE, async (events, manager) => {
      const started = performance.now();
      if (!(await this.leases.fence(manager, this.nodeId, lease.term, this.leaseMs)))
        throw new LeaseLostError(lease.term);
      fencedAt = started;
      for (const router of this.routers.durable) await router.route(events, manager);
    });
    // The fence renewed the lease, and that renewal has committed with the batch.
    if (fencedAt !== undefined && this.lease === lease)
      lease.validUntil = Math.max(lease.validUntil, fencedAt + this.leaseMs);
    return processed;
  }

  private async acquire(): Promise<HeldLease | undefined> {
    if (this.lease)
      this.lost(
        this.lease,
        `not renewed within DISPATCHER_LEASE (${this.leaseMs} ms): renewals failed or the process was paused`,
      );
    const evenUnexpired = this.firstAttempt && !this.leases.isPostgres;
    this.firstAttempt = false;
    const started = performance.now();
    const result: AcquireResult = await this.leases.acquire(this.nodeId, this.leaseMs, { evenUnexpired });
    if (!result.acquired) return undefined;
    const lease = (this.lease = { term: result.term, validUntil: started + this.leaseMs });
    this.changes.inc({ change: 'acquired' });
    const previous = result.previous;
    this.logger.log(
      {
        node: this.nodeId,
        term: result.term,
        previousHolder: previous?.holder ?? null,
        previousTerm: previous?.term ?? null,
        previousExpiresAt: previous?.expires_at ?? null,
      },
      'dispatcher lease acquired',
    );
    return lease;
  }

  /** Renews the held lease every third of its length; never two renewals at once. */
  private async renewLoop(): Promise<void> {
    while (this.running) {
      await this.renewPause.for(this.renewEveryMs);
      const lease = this.lease;
      if (!this.running || !lease) continue;
      const started = performance.now();
      try {
        if (await this.leases.renew(this.nodeId, lease.term, this.leaseMs)) {
          if (this.lease === lease) lease.validUntil = started + this.leaseMs;
        } else {
          const current = await this.leases.current().catch(() => undefined);
          this.lost(
            lease,
            current ? `taken by node ${current.holder} (term ${current.term})` : 'the lease row is gone',
          );
        }
      } catch (err) {
        // The deadline still stands: if renewals keep failing until it passes, this node stops.
        this.logger.warn({ err, node: this.nodeId, term: lease.term }, 'dispatcher lease renewal failed; retrying');
      }
    }
  }

  private lost(lease: HeldLease | undefined, reason: string): void {
    if (!lease || this.lease !== lease) return;
    this.lease = undefined;
    this.changes.inc({ change: 'lost' });
    this.logger.warn({ node: this.nodeId, term: lease.term, reason }, 'dispatcher lease lost');
  }
}
