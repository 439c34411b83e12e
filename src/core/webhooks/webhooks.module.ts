import { Module } from '@nestjs/common';
import { AfterCommit } from './after-commit';
import { DeliveryWorker } from './delivery-worker.service';
import { DeliveryOperations } from './delivery-operations.service';
import { DeliveryStore } from './delivery.store';
import { EndpointStore } from './endpoint.store';
import { SecretsAtRest } from './secrets-at-rest';
import { WebhookMetrics } from './webhook-metrics';
import { WebhookSender } from './webhook-sender';
import { WebhooksService } from './webhooks.service';
import { BusModule } from '../bus/bus.module';
import { DatabaseModule } from '../database/database.module';
import { HealthModule } from '../health/health.module';
import { EventLogModule } from '../event-log/event-log.module';
import { TypeOrmModule } from '@nestjs/typeorm';
import { WebhookAttemptEntity } from './webhook-attempt.entity';
import { WebhookDeliveryEntity } from './webhook-delivery.entity';
import { WebhookEndpointEntity } from './webhook-endpoint.entity';

/**
 * The webhook delivery engine (outbox, worker, signing, retries, SSRF guard). It has no HTTP API
 * of its own: modules that own webhook subscriptions use `WebhooksService`; the delivery log API
 * (src/webhook-deliveries) and the owners' recover routes use `DeliveryOperations`.
 */
@Module({
  imports: [
    BusModule,
    DatabaseModule,
    HealthModule,
    EventLogModule,
    TypeOrmModule.forFeature([WebhookEndpointEntity, WebhookDeliveryEntity, WebhookAttemptEntity]),
  ],
  providers: [
    AfterCommit,
    EndpointStore,
    DeliveryStore,
    WebhookSender,
    WebhookMetrics,
    DeliveryWorker,
    WebhooksService,
    SecretsAtRest,
    DeliveryOperations,
  ],
  exports: [WebhooksService, DeliveryOperations],
})
export class WebhooksModule {}
