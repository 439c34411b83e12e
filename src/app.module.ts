import { DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { AuthModule } from './core/auth/auth.module';
import { AppConfig, ConfigModule } from './core/config';
import { DatabaseModule } from './core/database/database.module';
import { HealthModule } from './core/health/health.module';
import { StandardExceptionFilter } from './core/http/filters/envelope-exception.filter';
import { RedisModule } from './core/redis/redis.module';

@Module({})
export class AppModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [ConfigModule.forRoot(config), DatabaseModule, RedisModule, AuthModule, HealthModule],
      providers: [{ provide: APP_FILTER, useClass: StandardExceptionFilter }],
    };
  }
}
