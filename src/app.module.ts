import { DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { ApprovalNotificationsModule } from './approval-notifications/approval-notifications.module';
import { AsyncApiModule } from './asyncapi/asyncapi.module';
import { AuthModule } from './core/auth/auth.module';
import { BusModule } from './core/bus/bus.module';
import { AppConfig, ConfigModule } from './core/config';
import { DatabaseModule } from './core/database/database.module';
import { EventLogModule } from './core/event-log/event-log.module';
import { GatewayModule } from './core/gateway/gateway.module';
import { HealthModule } from './core/health/health.module';
import { PathEnvelopeExceptionFilter } from './core/http/filters/envelope-exception.filter';
import { ShutdownLogModule } from './core/logging/shutdown-log';
import { RedisModule } from './core/redis/redis.module';
import { WebhooksModule } from './core/webhooks/webhooks.module';
import { EventsModule } from './events/events.module';
import { RealtimeSubscriptionsModule } from './realtime-subscriptions/realtime-subscriptions.module';
import { SubscriptionsModule } from './workspace-subscriptions/subscriptions.module';
import { WebhookDeliveriesModule } from './webhook-deliveries/webhook-deliveries.module';

@Module({})
export class AppModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [
        // First, so its end-of-shutdown line comes last (see ShutdownLog).
        ShutdownLogModule,
        ConfigModule.forRoot(config),
        DatabaseModule,
        RedisModule,
        AuthModule,
        HealthModule,
        BusModule,
        EventLogModule,
        GatewayModule,
        WebhooksModule,
        EventsModule,
        RealtimeSubscriptionsModule,
        ApprovalNotificationsModule,
        SubscriptionsModule,
        WebhookDeliveriesModule,
        AsyncApiModule,
      ],
      providers: [{ provide: APP_FILTER, useClass: PathEnvelopeExceptionFilter }],
    };
  }
}
