import { Module } from '@nestjs/common';
import { EventLogModule } from '../core/event-log/event-log.module';
import { AsyncApiController } from './asyncapi.controller';
import { AsyncApiService } from './asyncapi.service';

/**
 * The AsyncAPI description of Herald's sockets. It reads the event catalog and the gateway's
 * wire types (and the notification and raw WebSocket frame definitions of their modules), and
 * nothing reads it.
 */
@Module({
  imports: [EventLogModule],
  controllers: [AsyncApiController],
  providers: [AsyncApiService],
})
export class AsyncApiModule {}
