import { Module } from '@nestjs/common';
import { ChannelAttachments } from './channel-attachments.service';
import { ChannelStore } from './channel.store';
import { ChannelsService } from './channels.service';
import { RealtimeSubscriptionsController } from './realtime-subscriptions.controller';

/** Seed 000: claim channels with durable counts, cursors and replay of missed events. */
@Module({
  controllers: [RealtimeSubscriptionsController],
  providers: [ChannelStore, ChannelsService, ChannelAttachments],
})
export class RealtimeSubscriptionsModule {}
