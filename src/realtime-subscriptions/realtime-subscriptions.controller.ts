import { Body, Controller, Delete, Get, Param, Post, Put, Query } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiCreatedResponse,
  ApiForbiddenResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
} from '@nestjs/swagger';
import { Authenticated, CurrentPrincipal } from '../core/auth/decorators';
import type { Principal } from '../core/auth/principal';
import type { Page } from '../core/http/pagination';
import { ApiMalformedIdResponse } from '../core/http/validation';
import { ChannelsService } from './channels.service';
import {
  ChannelDetailDto,
  ChannelParamsDto,
  ChannelPageDto,
  ChannelSummaryDto,
  ClosedChannelDto,
  CreatedOrganisationChannelDto,
  CreatedUserChannelDto,
  CreateOrganisationChannelDto,
  CreateUserChannelDto,
  ListChannelsQueryDto,
  ReconnectResultDto,
} from './dto/channel.dto';

@ApiTags('realtime-subscriptions')
@Controller('api/v1/realtime-subscriptions')
@Authenticated('events:read')
@ApiNotFoundResponse({ description: 'No such channel, or it belongs to another organisation or user.' })
export class RealtimeSubscriptionsController {
  constructor(private readonly channels: ChannelsService) {}

  @Get()
  @ApiOperation({ operationId: 'channels.list', summary: 'List active realtime subscriptions' })
  @ApiBadRequestResponse({ description: 'Invalid query: page or limit out of range, an unknown status or type.' })
  @ApiOkResponse({ type: ChannelPageDto })
  list(@CurrentPrincipal() caller: Principal, @Query() query: ListChannelsQueryDto): Promise<Page<ChannelSummaryDto>> {
    return this.channels.list(caller, query);
  }

  @Get(':channel_id')
  @ApiOperation({ operationId: 'channels.get', summary: 'Get subscription channel status and stats' })
  @ApiOkResponse({ type: ChannelDetailDto })
  @ApiMalformedIdResponse('channel_id', 'chan')
  get(@CurrentPrincipal() caller: Principal, @Param() params: ChannelParamsDto): Promise<ChannelDetailDto> {
    return this.channels.get(caller, params.channel_id);
  }

  @Post('organisation')
  @ApiOperation({
    operationId: 'channels.createForOrganisation',
    summary: 'Subscribe to all claim events in an organisation',
    description:
      'Needs an app credential or the claims:read:org scope. Connect a raw WebSocket or a Socket.IO client to the returned `websocket_url`.',
  })
  @ApiCreatedResponse({ type: CreatedOrganisationChannelDto })
  @ApiBadRequestResponse({ description: 'Invalid body or an event type that is not a claim event type.' })
  @ApiForbiddenResponse({
    description:
      'Requires scope events:read, and an app credential or claims:read:org; or the organisation is another one.',
  })
  createOrganisation(
    @CurrentPrincipal() caller: Principal,
    @Body() dto: CreateOrganisationChannelDto,
  ): Promise<CreatedOrganisationChannelDto> {
    return this.channels.createForOrganisation(caller, dto);
  }

  @Post('user')
  @ApiOperation({ operationId: 'channels.createForUser', summary: "Subscribe to a specific user's claim events" })
  @ApiCreatedResponse({ type: CreatedUserChannelDto })
  @ApiBadRequestResponse({ description: 'Invalid body or an event type that is not a claim event type.' })
  @ApiForbiddenResponse({
    description: "Requires scope events:read; or a user credential subscribing to another user's claims.",
  })
  createUser(@CurrentPrincipal() caller: Principal, @Body() dto: CreateUserChannelDto): Promise<CreatedUserChannelDto> {
    return this.channels.createForUser(caller, dto);
  }

  @Put(':channel_id/reconnect')
  @ApiOperation({
    operationId: 'channels.reconnect',
    summary: 'Reconnect a dropped channel and receive missed events',
    description:
      "Counts the matching events after the channel's cursor; they are replayed in seq order, before any live event, to the next client that attaches " +
      '(and to clients attached now). A client may also attach with `last_seq` to resume from its own position.',
  })
  @ApiOkResponse({ type: ReconnectResultDto })
  @ApiMalformedIdResponse('channel_id', 'chan')
  reconnect(@CurrentPrincipal() caller: Principal, @Param() params: ChannelParamsDto): Promise<ReconnectResultDto> {
    return this.channels.reconnect(caller, params.channel_id);
  }

  @Delete(':channel_id')
  @ApiOperation({
    operationId: 'channels.close',
    summary: 'Unsubscribe and close a realtime channel',
    description: 'Attached clients are disconnected with a reason.',
  })
  @ApiOkResponse({ type: ClosedChannelDto })
  @ApiMalformedIdResponse('channel_id', 'chan')
  close(@CurrentPrincipal() caller: Principal, @Param() params: ChannelParamsDto): Promise<ClosedChannelDto> {
    return this.channels.close(caller, params.channel_id);
  }
}
