import { Module } from '@nestjs/common';
import { EventsGateway } from './events.gateway';
import { GatewayMetrics } from './gateway-metrics';
import { LiveFanout } from './live-fanout.service';
import { RealtimeService } from './realtime.service';
import { ReplaySlots } from './replay-slots';
import { SocketLimits } from './socket-limits';
import { UpgradeRouter } from './upgrade-router.service';
import { RedisModule } from '../redis/redis.module';
import { BusModule } from '../bus/bus.module';
import { EventLogModule } from '../event-log/event-log.module';
import { AuthModule } from '../auth/auth.module';
import { HealthModule } from '../health/health.module';
import { OrganisationRoomsRouter } from './gateway.router';
import { RawWebSocketServer } from './raw-ws-server';

@Module({
  imports: [RedisModule, BusModule, EventLogModule, AuthModule, HealthModule],
  providers: [
    EventsGateway,
    RealtimeService,
    LiveFanout,
    OrganisationRoomsRouter,
    UpgradeRouter,
    RawWebSocketServer,
    SocketLimits,
    ReplaySlots,
    GatewayMetrics,
  ],
  exports: [RealtimeService, RawWebSocketServer, SocketLimits, ReplaySlots, GatewayMetrics],
})
export class GatewayModule {}
