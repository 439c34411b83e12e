import { Module } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../config';
import { RedisConnections } from '../redis/redis.service';
import { BusRpc } from './bus-rpc';
import { EventBus } from './event-bus';
import { LocalEventBus } from './local-event-bus';
import { RedisEventBus } from './redis-event-bus';
import { RouterRegistry } from './router-registry';
import { RedisModule } from '../redis/redis.module';
import { DiscoveryModule } from '@nestjs/core';

@Module({
  imports: [DiscoveryModule, RedisModule],
  providers: [
    RouterRegistry,
    BusRpc,
    {
      provide: EventBus,
      inject: [APP_CONFIG, RedisConnections],
      useFactory: async (config: AppConfig, redis: RedisConnections) => {
        if (!redis.enabled) return new LocalEventBus();
        const bus = new RedisEventBus(redis.get('bus-pub'), redis.get('bus-sub'), config.redisPrefix, redis);
        await bus.ready();
        return bus;
      },
    },
  ],
  exports: [EventBus, RouterRegistry, BusRpc],
})
export class BusModule {}
