import { Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { Counter } from 'prom-client';
import { MetricsService } from './metrics.service';

/**
 * An event loop blocked this long is a stall worth a log line: every socket, request and timer
 * of the node waited that long (and a lease or heartbeat may have lapsed meanwhile).
 */
export const STALL_THRESHOLD_MS = 2000;
/** Tick of the drift timer: also the most a reported duration can fall short of the real one. */
const CHECK_EVERY_MS = 100;

export interface StallMonitorOptions {
  thresholdMs?: number;
  checkEveryMs?: number;
  /** Monotonic clock in ms; tests pass their own to stage a stall without blocking. */
  now?: () => number;
}

/**
 * Logs a warn line once per event-loop stall longer than the threshold, with its duration: a
 * timer that should fire every CHECK_EVERY_MS fires only once the loop is free again, and how
 * late it is measures the block. (perf_hooks' monitorEventLoopDelay would do, but its `reset()`
 * also forgets the last sample time, so a block that starts right after a reset goes unseen.)
 */
export class StallMonitor implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('StallMonitor');
  private readonly thresholdMs: number;
  private readonly checkEveryMs: number;
  private readonly now: () => number;
  private readonly stalls?: Counter;
  private timer?: NodeJS.Timeout;
  private lastTick = 0;

  constructor(metrics?: MetricsService, options: StallMonitorOptions = {}) {
    this.thresholdMs = options.thresholdMs ?? STALL_THRESHOLD_MS;
    this.checkEveryMs = options.checkEveryMs ?? CHECK_EVERY_MS;
    this.now = options.now ?? (() => performance.now());
    if (metrics) {
      this.stalls = new Counter({
        name: 'herald_event_loop_stalls_total',
        help: `Times the event loop was blocked longer than ${this.thresholdMs} ms`,
        registers: [metrics.registry],
      });
    }
  }

  onApplicationBootstrap(): void {
    this.start();
  }

  start(): void {
    if (this.timer) return;
    this.lastTick = this.now();
    this.timer = setInterval(() => this.tick(), this.checkEveryMs);
    this.timer.unref();
  }

  private tick(): void {
    const now = this.now();
    const stalledMs = now - this.lastTick - this.checkEveryMs;
    this.lastTick = now;
    if (stalledMs < this.thresholdMs) return;
    this.stalls?.inc();
    this.logger.warn({ stalledMs: Math.round(stalledMs), thresholdMs: this.thresholdMs }, 'event loop stalled');
  }

  onApplicationShutdown(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
