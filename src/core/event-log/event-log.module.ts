import { Module } from '@nestjs/common';
import { Dispatcher } from './dispatcher.service';
import { EventCatalog } from './event-catalog';
import { EventLog } from './event-log.service';
import { DatabaseModule } from '../database/database.module';
import { BusModule } from '../bus/bus.module';
import { HealthModule } from '../health/health.module';
import { TypeOrmModule } from '@nestjs/typeorm';
import { ConsumerCheckpointEntity } from './consumer-checkpoint.entity';
import { DispatcherLeaseEntity } from './dispatcher-lease.entity';
import { EventEntity } from './event.entity';
import { EventStore } from './event.store';

@Module({
  imports: [
    DatabaseModule,
    BusModule,
    HealthModule,
    TypeOrmModule.forFeature([EventEntity, ConsumerCheckpointEntity, DispatcherLeaseEntity]),
  ],
  providers: [EventStore, EventLog, EventCatalog, Dispatcher],
  exports: [EventLog, EventCatalog, Dispatcher],
})
export class EventLogModule {}
