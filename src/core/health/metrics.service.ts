import { Injectable, Logger } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/**
 * How long one scrape-time read may take. A scrape waits for its slowest gauge, and a database
 * that hangs must not hang /metrics (Prometheus' default scrape timeout is 10 s).
 */
const GAUGE_READ_TIMEOUT_MS = 1000;

/**
 * One Prometheus registry per app instance (not prom-client's global one), so several
 * instances in one process — as in the cluster tests — never collide on metric names.
 */
@Injectable()
export class MetricsService {
  readonly registry = new Registry();
  private readonly logger = new Logger('Metrics');
  private readonly httpDuration: Histogram<'method' | 'route' | 'status'>;
  private readonly stale: Gauge<'metric'>;
  private readonly readErrors: Counter<'metric'>;
  /** The read each scrape-time gauge is waiting on now, by metric name. */
  private readonly reads = new Map<string, Promise<number>>();
  /** Scrape-time collects under way (each bounded by GAUGE_READ_TIMEOUT_MS). */
  private readonly collecting = new Set<Promise<void>>();

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'herald_' });
    this.httpDuration = new Histogram({
      name: 'herald_http_request_duration_seconds',
      help: 'HTTP request duration by method, route template and status',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [this.registry],
    });
    const collecting = this.collecting;
    // Every gauge's collect has started by the time this continues (the registry starts them all
    // in one synchronous pass), so these two report this scrape's outcome, not the previous one's.
    const afterTheReads = async () => {
      await Promise.resolve();
      await Promise.allSettled([...collecting]);
    };
    this.stale = new Gauge({
      name: 'herald_metric_stale',
      help: '1 when the named gauge could not be read at this scrape (it shows its last good value, or nothing), 0 when it was read',
      labelNames: ['metric'],
      registers: [this.registry],
      collect: afterTheReads,
    });
    this.readErrors = new Counter({
      name: 'herald_metric_read_errors_total',
      help: 'Scrape-time reads of the named gauge that failed or timed out',
      labelNames: ['metric'],
      registers: [this.registry],
      collect: afterTheReads,
    });
  }

  /**
   * A gauge whose value is read at scrape time. A read that fails or takes longer than
   * GAUGE_READ_TIMEOUT_MS does not fail the scrape: the gauge keeps its last good value (or
   * shows none if it never had one) and `herald_metric_stale{metric}` says so, so /metrics keeps
   * answering with everything held in memory while the database is down. A read still running
   * from an earlier scrape is awaited again rather than started twice.
   */
  gauge(name: string, help: string, read: () => number | Promise<number>): void {
    const state = { everRead: false, failing: false };
    this.stale.set({ metric: name }, 0);
    const gauge: Gauge = new Gauge({
      name,
      help,
      registers: [this.registry],
      collect: () => {
        const done = this.refresh(gauge, name, read, state);
        this.collecting.add(done);
        void done.finally(() => this.collecting.delete(done));
        return done;
      },
    });
  }

  private async refresh(
    gauge: Gauge,
    name: string,
    read: () => number | Promise<number>,
    state: { everRead: boolean; failing: boolean },
  ): Promise<void> {
    let pending = this.reads.get(name);
    if (!pending) {
      const started = Promise.resolve().then(read);
      pending = started;
      this.reads.set(name, started);
      // Settled by whoever awaits it, or by nobody after a timeout: never unhandled.
      started.catch(() => undefined).finally(() => this.reads.get(name) === started && this.reads.delete(name));
    }
    try {
      const value = await withTimeout(pending, GAUGE_READ_TIMEOUT_MS);
      if (typeof value !== 'number' || Number.isNaN(value)) throw new Error(`read returned ${String(value)}`);
      gauge.set(value);
      state.everRead = true;
      this.stale.set({ metric: name }, 0);
      if (state.failing) this.logger.log({ metric: name }, 'metric readable again');
      state.failing = false;
    } catch (err) {
      this.readErrors.inc({ metric: name });
      this.stale.set({ metric: name }, 1);
      // A gauge starts at 0; a value never read is left out rather than shown as 0.
      if (!state.everRead) gauge.remove({});
      // Once per failing streak, not once per scrape.
      if (!state.failing)
        this.logger.warn(
          { metric: name, err: err instanceof Error ? err.message : String(err) },
          'metric could not be read; marked stale',
        );
      state.failing = true;
    }
  }

  /** Express middleware: times every request and labels it by its route template, not its URL. */
  httpMiddleware() {
    return (req: Request, res: Response, next: NextFunction) => {
      const end = this.httpDuration.startTimer();
      res.on('finish', () => {
        const route = req.route?.path ? `${req.baseUrl}${String(req.route.path)}` : 'unmatched';
        end({ method: req.method, route, status: String(res.statusCode) });
      });
      next();
    };
  }
}

function withTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    timer.unref();
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}
