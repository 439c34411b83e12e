import { Injectable } from '@nestjs/common';
import { Counter, Histogram } from 'prom-client';
import { MetricsService } from '../health/metrics.service';
import { DeliveryStore } from './delivery.store';
import type { AttemptOutcome, DeliveryStatus } from './webhook.types';

/** The owner kind of a delivery whose endpoint is no longer known (removed before it settled). */
export const UNKNOWN_KIND = 'unknown';

type OwedState = 'first_attempt' | 'retrying';

/**
 * Webhook metrics on the app's registry; the queue gauges are read from the database at scrape
 * time. Labels stay low-cardinality: final status, outcome and the endpoint's owner kind (the
 * module that owns it), never an endpoint or organisation id.
 */
@Injectable()
export class WebhookMetrics {
  private readonly finished: Counter<'status' | 'kind'>;
  private readonly latency: Histogram<'outcome'>;

  constructor(metrics: MetricsService, store: DeliveryStore) {
    this.finished = new Counter({
      name: 'herald_webhook_deliveries_total',
      help: 'Webhook deliveries by final status and owner kind of their endpoint, counted on the node that settled them',
      labelNames: ['status', 'kind'],
      registers: [metrics.registry],
    });
    // Its `_count` series is the number of attempts by outcome (delivered, retrying, failed).
    this.latency = new Histogram({
      name: 'herald_webhook_attempt_duration_seconds',
      help: 'Duration of webhook delivery attempts by outcome; the _count series counts attempts by outcome',
      labelNames: ['outcome'],
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 30],
      registers: [metrics.registry],
    });
    metrics.gauge(
      'herald_webhook_queue_depth',
      'Webhook deliveries still owed (first attempts and scheduled retries)',
      async () => (await store.queueAcrossTenants()).depth,
    );
    metrics.gauge(
      'herald_webhook_oldest_pending_age_seconds',
      'Age of the oldest webhook delivery still owed (0 when none)',
      async () => ageOf((await store.queueAcrossTenants()).oldest),
    );
    // Both per-state gauges come from one query; a scrape starts them together, so they share it.
    let reading: ReturnType<DeliveryStore['oldestOwedAcrossTenants']> | undefined;
    const oldest = (state: OwedState) => async () => {
      reading ??= store.oldestOwedAcrossTenants().finally(() => (reading = undefined));
      return ageOf((await reading)[state]);
    };
    metrics.gauge(
      'herald_webhook_oldest_first_attempt_age_seconds',
      'Age of the oldest webhook delivery still waiting for its first attempt (0 when none)',
      oldest('first_attempt'),
    );
    metrics.gauge(
      'herald_webhook_oldest_retrying_age_seconds',
      'Age of the oldest webhook delivery waiting for a retry after a failed attempt (0 when none)',
      oldest('retrying'),
    );
  }

  /** `n` deliveries of endpoints of this owner kind reached a final status. */
  settled(status: DeliveryStatus, n = 1, kind: string = UNKNOWN_KIND): void {
    if (status !== 'pending' && n > 0) this.finished.inc({ status, kind }, n);
  }

  attempt(outcome: AttemptOutcome, durationMs: number): void {
    this.latency.observe({ outcome }, durationMs / 1000);
  }
}

function ageOf(since: string | null): number {
  return since ? Math.max(0, (Date.now() - Date.parse(since)) / 1000) : 0;
}
