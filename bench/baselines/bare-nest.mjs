// Baseline for the ingest and batch scenarios: bare NestJS endpoints that validate the same DTOs as
// POST /api/v1/events and POST /api/v1/events/batch and do nothing else (no auth, no storage, no
// fan-out).
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
require('reflect-metadata');
const { Body, Controller, Module, Post, ValidationPipe } = require('@nestjs/common');
const { NestFactory } = require('@nestjs/core');
const { PublishBatchDto, PublishEventDto } = require('../../dist/src/events/dto/event.dto.js');

class BareController {
  publish(body) {
    return { ...body, id: 'evt_bare', seq: 1 };
  }
  publishBatch(body) {
    return { events: body.events.map((event, i) => ({ ...event, id: `evt_bare_${i}`, seq: i + 1 })), created: 1 };
  }
}
for (const [method, path, dto] of [
  ['publish', 'api/v1/events', PublishEventDto],
  ['publishBatch', 'api/v1/events/batch', PublishBatchDto],
]) {
  Body()(BareController.prototype, method, 0);
  Reflect.defineMetadata('design:paramtypes', [dto], BareController.prototype, method);
  Post(path)(BareController.prototype, method, Object.getOwnPropertyDescriptor(BareController.prototype, method));
}
Controller()(BareController);

class BareModule {}
Module({ controllers: [BareController] })(BareModule);

const app = await NestFactory.create(BareModule, { logger: false });
app.useGlobalPipes(new ValidationPipe({ whitelist: true, forbidNonWhitelisted: true, transform: true }));
await app.listen(Number(process.env.PORT), '127.0.0.1');
process.send?.('ready');
