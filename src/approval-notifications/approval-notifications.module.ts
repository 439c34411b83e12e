import { Module } from '@nestjs/common';
import { ApprovalNotificationsController } from './approval-notifications.controller';
import { ClaimSubscriptionsService } from './claim-subscriptions.service';
import { NotificationStore } from './notification.store';
import { NotificationsService } from './notifications.service';
import { AuthModule } from '../core/auth/auth.module';
import { BusModule } from '../core/bus/bus.module';
import { DatabaseModule } from '../core/database/database.module';
import { EventLogModule } from '../core/event-log/event-log.module';
import { GatewayModule } from '../core/gateway/gateway.module';
import { WebhooksModule } from '../core/webhooks/webhooks.module';

/** Seed 002: status-change notifications, claim webhook subscriptions, payload templates. */
@Module({
  imports: [AuthModule, BusModule, DatabaseModule, EventLogModule, GatewayModule, WebhooksModule],
  controllers: [ApprovalNotificationsController],
  providers: [NotificationStore, NotificationsService, ClaimSubscriptionsService],
})
export class ApprovalNotificationsModule {}
