import { Module } from '@nestjs/common';
import { ChannelAttachments } from './channel-attachments.service';
import { ChannelStore } from './channel.store';
import { ChannelsService } from './channels.service';
import { RealtimeSubscriptionsController } from './realtime-subscriptions.controller';
import { AuthModule } from '../core/auth/auth.module';
import { BusModule } from '../core/bus/bus.module';
import { DatabaseModule } from '../core/database/database.module';
import { EventLogModule } from '../core/event-log/event-log.module';
import { GatewayModule } from '../core/gateway/gateway.module';
import { TypeOrmModule } from '@nestjs/typeorm';
import { ChannelAttachmentEntity } from './channel-attachment.entity';
import { ChannelEntity } from './channel.entity';
import { ChannelAttachmentsRouter, ChannelCountsRouter } from './realtime-subscriptions.router';

/** Seed 000: claim channels with durable counts, cursors and replay of missed events. */
@Module({
  imports: [
    AuthModule,
    BusModule,
    DatabaseModule,
    EventLogModule,
    GatewayModule,
    TypeOrmModule.forFeature([ChannelEntity, ChannelAttachmentEntity]),
  ],
  controllers: [RealtimeSubscriptionsController],
  providers: [ChannelStore, ChannelsService, ChannelAttachments, ChannelCountsRouter, ChannelAttachmentsRouter],
})
export class RealtimeSubscriptionsModule {}
