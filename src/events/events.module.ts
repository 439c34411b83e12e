import { Module } from '@nestjs/common';
import { EventsController } from './events.controller';
import { EventsService } from './events.service';
import { SessionSubscriptionsController } from './sessions/session-subscriptions.controller';
import { SessionSubscriptionsService } from './sessions/session-subscriptions.service';
import { WsClientsService } from './ws/ws-clients.service';
import { WsController } from './ws/ws.controller';

/** Herald's publish/read API, raw WebSocket notifications (seed 001) and socket session subscriptions (seed 004). */
@Module({
  controllers: [EventsController, WsController, SessionSubscriptionsController],
  providers: [EventsService, WsClientsService, SessionSubscriptionsService],
})
export class EventsModule {}
