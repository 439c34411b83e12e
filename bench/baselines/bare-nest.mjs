// Baseline for the ingest scenario: a bare NestJS endpoint that validates the same DTO as
// POST /api/v1/events and does nothing else (no auth, no storage, no fan-out).
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
require('reflect-metadata');
const { Body, Controller, Module, Post, ValidationPipe } = require('@nestjs/common');
const { NestFactory } = require('@nestjs/core');
const { PublishEventDto } = require('../../dist/src/events/dto/event.dto.js');

class BareController {
  publish(body) {
    return { ...body, id: 'evt_bare', seq: 1 };
  }
}
Body()(BareController.prototype, 'publish', 0);
Reflect.defineMetadata('design:paramtypes', [PublishEventDto], BareController.prototype, 'publish');
Post('api/v1/events')(
  BareController.prototype,
  'publish',
  Object.getOwnPropertyDescriptor(BareController.prototype, 'publish'),
);
Controller()(BareController);

class BareModule {}
Module({ controllers: [BareController] })(BareModule);

const app = await NestFactory.create(BareModule, { logger: false });
app.useGlobalPipes(new ValidationPipe({ whitelist: true, forbidNonWhitelisted: true, transform: true }));
await app.listen(Number(process.env.PORT), '127.0.0.1');
process.send?.('ready');
