import { Module } from '@nestjs/common';

/** Seed 000: claim channels with replay of missed events. */
@Module({})
export class RealtimeSubscriptionsModule {}
