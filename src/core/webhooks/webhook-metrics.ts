import { Injectable } from '@nestjs/common';
import { Counter, Histogram } from 'prom-client';
import { MetricsService } from '../health/metrics.service';
import { DeliveryStore } from './delivery.store';
import type { AttemptOutcome, DeliveryStatus } from './webhook.types';

/** Webhook metrics on the app's registry; the queue gauges are read from the database at scrape time. */
@Injectable()
export class WebhookMetrics {
  private readonly finished: Counter<'status'>;
  private readonly latency: Histogram<'outcome'>;

  constructor(metrics: MetricsService, store: DeliveryStore) {
    this.finished = new Counter({
      name: 'herald_webhook_deliveries_total',
      help: 'Webhook deliveries by final status, counted on the node that settled them',
      labelNames: ['status'],
      registers: [metrics.registry],
    });
    this.latency = new Histogram({
      name: 'herald_webhook_attempt_duration_seconds',
      help: 'Duration of webhook delivery attempts by outcome',
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
      async () => {
        const { oldest } = await store.queueAcrossTenants();
        return oldest ? Math.max(0, (Date.now() - Date.parse(oldest)) / 1000) : 0;
      },
    );
  }

  settled(status: DeliveryStatus, n = 1): void {
    if (status !== 'pending' && n > 0) this.finished.inc({ status }, n);
  }

  attempt(outcome: AttemptOutcome, durationMs: number): void {
    this.latency.observe({ outcome }, durationMs / 1000);
  }
}
