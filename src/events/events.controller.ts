import { Body, Controller, Get, HttpStatus, Post, Query, Res } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiConflictResponse,
  ApiCreatedResponse,
  ApiGoneResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
} from '@nestjs/swagger';
import type { Response } from 'express';
import { Authenticated, CurrentPrincipal } from '../core/auth/decorators';
import type { Principal } from '../core/auth/principal';
import { EventCatalog } from '../core/event-log/event-catalog';
import {
  EventDto,
  EventPageDto,
  EventTypeListDto,
  ListEventsQueryDto,
  PublishBatchDto,
  PublishBatchResultDto,
  PublishEventDto,
} from './dto/event.dto';
import { EventsService, toEventDto } from './events.service';

@ApiTags('events')
@Controller('api/v1')
export class EventsController {
  constructor(
    private readonly events: EventsService,
    private readonly catalog: EventCatalog,
  ) {}

  @Post('events')
  @Authenticated('events:publish')
  @ApiOperation({
    operationId: 'events.publish',
    summary: 'Publish an event',
    description:
      'Stored once, in order, then fanned out. With a producer `id`, publishing it again returns the original with 200.',
  })
  @ApiCreatedResponse({ type: EventDto, description: 'Stored.' })
  @ApiOkResponse({ type: EventDto, description: 'Already stored under this id; the original.' })
  @ApiConflictResponse({
    description: 'The id is taken by an event this credential may not read; nothing of it is returned.',
  })
  @ApiBadRequestResponse({ description: 'Invalid body, unknown type or version (the message names the catalog).' })
  async publish(
    @CurrentPrincipal() principal: Principal,
    @Body() dto: PublishEventDto,
    @Res({ passthrough: true }) res: Response,
  ): Promise<EventDto> {
    const result = await this.events.publish(principal, dto);
    res.status(result.created ? HttpStatus.CREATED : HttpStatus.OK);
    return toEventDto(result.event);
  }

  @Post('events/batch')
  @Authenticated('events:publish')
  @ApiOperation({ operationId: 'events.publishBatch', summary: 'Publish up to 500 events in one transaction' })
  @ApiCreatedResponse({ type: PublishBatchResultDto, description: 'At least one event was stored.' })
  @ApiOkResponse({ type: PublishBatchResultDto, description: 'Every event was already stored.' })
  @ApiBadRequestResponse({
    description: 'Invalid body: no events, more than 500, or an invalid event (the details name it: `events[2].type`).',
  })
  @ApiConflictResponse({
    description: 'An id is taken by an event this credential may not read; nothing of the batch is stored.',
  })
  async publishBatch(
    @CurrentPrincipal() principal: Principal,
    @Body() dto: PublishBatchDto,
    @Res({ passthrough: true }) res: Response,
  ): Promise<PublishBatchResultDto> {
    const result = await this.events.publishBatch(principal, dto.events);
    res.status(result.created ? HttpStatus.CREATED : HttpStatus.OK);
    return result;
  }

  @Get('events')
  @Authenticated('events:read')
  @ApiOperation({
    operationId: 'events.list',
    summary: "Read the organisation's events after a cursor, in seq order",
    description:
      'User credentials see events about their own user; app credentials and `claims:read:org` see the organisation.',
  })
  @ApiOkResponse({ type: EventPageDto })
  @ApiBadRequestResponse({ description: 'Invalid query: `after` or `limit` out of range.' })
  @ApiGoneResponse({ description: '`after` is older than retention keeps.' })
  list(@CurrentPrincipal() principal: Principal, @Query() query: ListEventsQueryDto): Promise<EventPageDto> {
    return this.events.list(principal, query);
  }

  @Get('event-types')
  @Authenticated()
  @ApiOperation({
    operationId: 'eventTypes.list',
    summary: 'The event-type catalog: types, versions, condition fields, token kinds and scopes',
  })
  @ApiOkResponse({ type: EventTypeListDto })
  eventTypes(): EventTypeListDto {
    return { data: this.catalog.list() };
  }
}
