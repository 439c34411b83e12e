import { Module } from '@nestjs/common';
import { RedisConnections } from './redis.service';

@Module({ providers: [RedisConnections], exports: [RedisConnections] })
export class RedisModule {}
