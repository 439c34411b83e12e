import { Module } from '@nestjs/common';
import { EventsController } from './events.controller';
import { EventsService } from './events.service';

/** Seeds 001 and 004, and Herald's own publish/read API. */
@Module({ controllers: [EventsController], providers: [EventsService] })
export class EventsModule {}
