import { Module } from '@nestjs/common';
import { DatabaseMetrics } from './database-metrics';
import { HealthController } from './health.controller';
import { MetricsService } from './metrics.service';
import { StallMonitor } from './stall-monitor';
import { DatabaseModule } from '../database/database.module';
import { RedisModule } from '../redis/redis.module';

@Module({
  imports: [DatabaseModule, RedisModule],
  controllers: [HealthController],
  providers: [
    MetricsService,
    DatabaseMetrics,
    {
      provide: StallMonitor,
      inject: [MetricsService],
      useFactory: (metrics: MetricsService) => new StallMonitor(metrics),
    },
  ],
  exports: [MetricsService],
})
export class HealthModule {}
