import { Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { TypeOrmModule } from '@nestjs/typeorm';
import { ApiKeyEntity } from './api-key.entity';
import { ApiKeysController } from './api-keys.controller';
import { ApiKeyStore } from './api-key.store';
import { ApiKeysService } from './api-keys.service';
import { AuthGuard } from './auth.guard';
import { Authenticator } from './authenticator';
import { JwtVerifier } from './jwt-verifier';
import { OperatorKeyBootstrap } from './operator-key.bootstrap';
import { DatabaseModule } from '../database/database.module';
import { BusModule } from '../bus/bus.module';

@Module({
  imports: [DatabaseModule, BusModule, TypeOrmModule.forFeature([ApiKeyEntity])],
  controllers: [ApiKeysController],
  providers: [
    ApiKeyStore,
    ApiKeysService,
    JwtVerifier,
    Authenticator,
    OperatorKeyBootstrap,
    { provide: APP_GUARD, useClass: AuthGuard },
  ],
  exports: [Authenticator, ApiKeysService],
})
export class AuthModule {}
