import { Global, Module } from '@nestjs/common';
import { Dispatcher } from './dispatcher.service';
import { EventCatalog } from './event-catalog';
import { EventLog } from './event-log.service';

@Global()
@Module({
  providers: [EventLog, EventCatalog, Dispatcher],
  exports: [EventLog, EventCatalog, Dispatcher],
})
export class EventLogModule {}
