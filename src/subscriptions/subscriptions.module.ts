import { Module } from '@nestjs/common';
import { SubscriptionTestService } from './subscription-test.service';
import { SubscriptionStore } from './subscription.store';
import { SubscriptionsV2Controller } from './subscriptions-v2.controller';
import { SubscriptionsController } from './subscriptions.controller';
import { SubscriptionsService } from './subscriptions.service';

/** Seed 003: workspace subscriptions with rules, resources and actions; templates; test; alert history. */
@Module({
  controllers: [SubscriptionsController, SubscriptionsV2Controller],
  providers: [SubscriptionStore, SubscriptionsService, SubscriptionTestService],
})
export class SubscriptionsModule {}
