import { Inject, Injectable } from '@nestjs/common';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { APP_CONFIG, type AppConfig } from '../config';
import { MetricsService } from '../health/metrics.service';

/** A counting semaphore that hands free places out in the order they were asked for. */
export class FifoSemaphore {
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly limit: number) {}

  /** Resolves once a place is this caller's; give it back with `release`. */
  acquire(): Promise<void> {
    if (this.active < this.limit) {
      this.active++;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.active = Math.max(0, this.active - 1);
  }

  get running(): number {
    return this.active;
  }

  get queued(): number {
    return this.waiting.length;
  }
}

/**
 * The node's replay budget. A replay holds a slot for one batch at a time (read, then send) and
 * gives it back before the next, waiting a turn of the event loop in between; so many replays at
 * once interleave batch by batch, in the order they asked, and requests, heartbeats and live
 * events run between batches instead of waiting for whole replays (README "Reliability").
 */
@Injectable()
export class ReplaySlots {
  private readonly slots: FifoSemaphore;

  constructor(@Inject(APP_CONFIG) config: AppConfig, metrics: MetricsService) {
    this.slots = new FifoSemaphore(config.limits.replayConcurrency);
    metrics.gauge(
      'herald_replay_batches_running',
      'Replay batches holding a slot now (at most REPLAY_CONCURRENCY)',
      () => this.slots.running,
    );
    metrics.gauge('herald_replay_batches_queued', 'Replay batches waiting for a slot', () => this.slots.queued);
  }

  /** Runs one batch of a replay in a slot, after letting the event loop turn. */
  async batch<T>(work: () => Promise<T>): Promise<T> {
    await nextTurn();
    await this.slots.acquire();
    try {
      return await work();
    } finally {
      this.slots.release();
    }
  }

  get running(): number {
    return this.slots.running;
  }

  get queued(): number {
    return this.slots.queued;
  }
}
