import { Module } from '@nestjs/common';
import { ApprovalNotificationsController } from './approval-notifications.controller';
import { ClaimSubscriptionsService } from './claim-subscriptions.service';
import { NotificationStore } from './notification.store';
import { NotificationsService } from './notifications.service';

/** Seed 002: status-change notifications, claim webhook subscriptions, payload templates. */
@Module({
  controllers: [ApprovalNotificationsController],
  providers: [NotificationStore, NotificationsService, ClaimSubscriptionsService],
})
export class ApprovalNotificationsModule {}
