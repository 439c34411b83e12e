import { Module } from '@nestjs/common';
import { Dispatcher } from './dispatcher.service';
import { EventCatalog } from './event-catalog';
import { EventLog } from './event-log.service';
import { DatabaseModule } from '../database/database.module';
import { BusModule } from '../bus/bus.module';
import { HealthModule } from '../health/health.module';

@Module({
  imports: [DatabaseModule, BusModule, HealthModule],
  providers: [EventLog, EventCatalog, Dispatcher],
  exports: [EventLog, EventCatalog, Dispatcher],
})
export class EventLogModule {}
