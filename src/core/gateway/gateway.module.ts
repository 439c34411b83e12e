import { Global, Module } from '@nestjs/common';
import { EventsGateway } from './events.gateway';
import { LiveFanout } from './live-fanout.service';
import { RealtimeService } from './realtime.service';
import { ReplaySlots } from './replay-slots';
import { SocketLimits } from './socket-limits';
import { UpgradeRouter } from './upgrade-router.service';

@Global()
@Module({
  providers: [EventsGateway, RealtimeService, LiveFanout, UpgradeRouter, SocketLimits, ReplaySlots],
  exports: [RealtimeService, UpgradeRouter, SocketLimits, ReplaySlots],
})
export class GatewayModule {}
