import { Global, Module } from '@nestjs/common';
import { EventsGateway } from './events.gateway';
import { LiveFanout } from './live-fanout.service';
import { RealtimeService } from './realtime.service';
import { UpgradeRouter } from './upgrade-router.service';

@Global()
@Module({
  providers: [EventsGateway, RealtimeService, LiveFanout, UpgradeRouter],
  exports: [RealtimeService, UpgradeRouter],
})
export class GatewayModule {}
