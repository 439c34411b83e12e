import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { WebhookSender } from '../core/webhooks/webhook-sender';
import { SubscriptionTestService } from './subscription-test.service';
import { SubscriptionStore } from './subscription.store';
import { SubscriptionsV2Controller } from './subscriptions-v2.controller';
import { SubscriptionsController } from './subscriptions.controller';
import { SubscriptionsService } from './subscriptions.service';
import { WorkspaceSubscriptionTriggerEntity } from './workspace-subscription-trigger.entity';
import { WorkspaceSubscriptionEntity } from './workspace-subscription.entity';
import { AuthModule } from '../core/auth/auth.module';
import { BusModule } from '../core/bus/bus.module';
import { DatabaseModule } from '../core/database/database.module';
import { EventLogModule } from '../core/event-log/event-log.module';
import { GatewayModule } from '../core/gateway/gateway.module';
import { WebhooksModule } from '../core/webhooks/webhooks.module';
import { WorkspaceSubscriptionSocketsRouter, WorkspaceSubscriptionWebhooksRouter } from './subscriptions.router';

/** Seed 003: workspace subscriptions with rules, resources and actions; templates; test; alert history. */
@Module({
  imports: [
    AuthModule,
    BusModule,
    DatabaseModule,
    EventLogModule,
    GatewayModule,
    WebhooksModule,
    TypeOrmModule.forFeature([WorkspaceSubscriptionEntity, WorkspaceSubscriptionTriggerEntity]),
  ],
  controllers: [SubscriptionsController, SubscriptionsV2Controller],
  // The test endpoint's `send` signs a body of its own (marked as a test, without a log sequence),
  // which WebhooksService.sendOnce cannot; it sends it through its own instance of the engine's
  // sender, so the SSRF guard and timeouts are the same.
  providers: [
    SubscriptionStore,
    SubscriptionsService,
    WorkspaceSubscriptionWebhooksRouter,
    WorkspaceSubscriptionSocketsRouter,
    SubscriptionTestService,
    WebhookSender,
  ],
})
export class SubscriptionsModule {}
