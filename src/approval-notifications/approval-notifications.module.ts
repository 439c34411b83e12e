import { Module } from '@nestjs/common';
import { ApprovalNotificationsController } from './approval-notifications.controller';
import { ClaimSubscriptionsService } from './claim-subscriptions.service';
import { NotificationStore } from './notification.store';
import { NotificationsService } from './notifications.service';
import { AuthModule } from '../core/auth/auth.module';
import { DatabaseModule } from '../core/database/database.module';
import { EventLogModule } from '../core/event-log/event-log.module';
import { GatewayModule } from '../core/gateway/gateway.module';
import { WebhooksModule } from '../core/webhooks/webhooks.module';
import { TypeOrmModule } from '@nestjs/typeorm';
import { ApprovalNotificationEntity } from './approval-notification.entity';
import { ClaimSubscriptionEntity } from './claim-subscription.entity';
import { ClaimSubscriptionStore } from './claim-subscription.store';
import { ClaimWebhooksRouter, NotificationSocketsRouter } from './approval-notifications.router';

/** Seed 002: status-change notifications, claim webhook subscriptions, payload templates. */
@Module({
  imports: [
    AuthModule,
    DatabaseModule,
    EventLogModule,
    GatewayModule,
    WebhooksModule,
    TypeOrmModule.forFeature([ApprovalNotificationEntity, ClaimSubscriptionEntity]),
  ],
  controllers: [ApprovalNotificationsController],
  providers: [
    NotificationStore,
    ClaimSubscriptionStore,
    NotificationsService,
    ClaimSubscriptionsService,
    ClaimWebhooksRouter,
    NotificationSocketsRouter,
  ],
})
export class ApprovalNotificationsModule {}
