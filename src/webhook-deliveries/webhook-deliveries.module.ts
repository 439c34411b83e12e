import { Module } from '@nestjs/common';
import { WebhooksModule } from '../core/webhooks/webhooks.module';
import { WebhookDeliveriesController } from './webhook-deliveries.controller';

/** The delivery log API over every webhook Herald sends (`/api/v1/webhook-deliveries`). */
@Module({
  imports: [WebhooksModule],
  controllers: [WebhookDeliveriesController],
})
export class WebhookDeliveriesModule {}
