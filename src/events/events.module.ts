import { Module } from '@nestjs/common';
import { EventsController } from './events.controller';
import { EventsService } from './events.service';
import { SessionSubscriptionsController } from './sessions/session-subscriptions.controller';
import { SessionSubscriptionsService } from './sessions/session-subscriptions.service';
import { WsClientsService } from './ws/ws-clients.service';
import { WsController } from './ws/ws.controller';
import { AuthModule } from '../core/auth/auth.module';
import { BusModule } from '../core/bus/bus.module';
import { EventLogModule } from '../core/event-log/event-log.module';
import { GatewayModule } from '../core/gateway/gateway.module';
import { SessionSubscriptionsRouter, WsClientsRouter } from './events.router';

/** Herald's publish/read API, raw WebSocket notifications (seed 001) and socket session subscriptions (seed 004). */
@Module({
  imports: [AuthModule, BusModule, EventLogModule, GatewayModule],
  controllers: [EventsController, WsController, SessionSubscriptionsController],
  providers: [
    EventsService,
    WsClientsService,
    SessionSubscriptionsService,
    WsClientsRouter,
    SessionSubscriptionsRouter,
  ],
})
export class EventsModule {}
