import { Body, Controller, Delete, Get, HttpCode, Param, Post, UseFilters } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiBody,
  ApiForbiddenResponse,
  ApiOkResponse,
  ApiOperation,
  ApiParam,
  ApiTags,
  ApiUnauthorizedResponse,
} from '@nestjs/swagger';
import { Authenticated, CurrentPrincipal } from '../../core/auth/decorators';
import type { Principal } from '../../core/auth/principal';
import { Seed004ExceptionFilter } from '../../core/http/filters/envelope-exception.filter';
import {
  Seed004ErrorDto,
  SessionSubscriptionDto,
  SessionSubscriptionListDto,
  SuccessDto,
} from './session-subscription.dto';
import { SessionSubscriptionsService } from './session-subscriptions.service';

const EXAMPLE = {
  type: 'channel.follow',
  version: '1',
  // The seed writes SOCKET_SESSION_ID; a real one is a Socket.IO socket.id, 20 characters.
  sessionId: 'mO2rT1xq9bYk3LzA_7-c',
  condition: { channelId: '9b7f3c2a-2f41-4f5e-9f54-6c1d8a2b7e90' },
};

/** Seed 004, served at `/v1/events` as documented and at `/api/v1/events` beside the rest of the API. */
@ApiTags('socket-sessions')
@Controller(['v1/events', 'api/v1/events'])
@UseFilters(Seed004ExceptionFilter)
@Authenticated()
@ApiUnauthorizedResponse({ type: Seed004ErrorDto, description: 'No or invalid access token.' })
@ApiForbiddenResponse({
  type: Seed004ErrorDto,
  description: 'The session is another user’s, the token kind is wrong, or a scope is missing.',
})
@ApiBadRequestResponse({
  type: Seed004ErrorDto,
  description: 'Unsupported type or version, malformed or missing condition, unknown session.',
})
export class SessionSubscriptionsController {
  constructor(private readonly sessions: SessionSubscriptionsService) {}

  @Get(':sessionId/subscriptions')
  @ApiOperation({
    summary: 'Get Events Subscriptions',
    description: 'Lists active event subscriptions for a socket session.',
  })
  @ApiParam({
    name: 'sessionId',
    example: EXAMPLE.sessionId,
    description:
      'The Socket.IO socket.id (20 characters of A-Z, a-z, 0-9, _ and -); anything else is an unknown session (400).',
  })
  @ApiOkResponse({ type: SessionSubscriptionListDto })
  async list(
    @CurrentPrincipal() caller: Principal,
    @Param('sessionId') sessionId: string,
  ): Promise<SessionSubscriptionListDto> {
    return { success: true, message: 'success', data: await this.sessions.list(caller, sessionId) };
  }

  @Post('subscriptions')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Post Events Subscriptions',
    description:
      'Subscribes the socket session to a supported event stream. channel.follow requires a user access token with scope users.read. Idempotent.',
  })
  @ApiBody({ type: SessionSubscriptionDto, examples: { 'channel.follow': { value: EXAMPLE } } })
  @ApiOkResponse({ type: SuccessDto })
  async subscribe(@CurrentPrincipal() caller: Principal, @Body() dto: SessionSubscriptionDto): Promise<SuccessDto> {
    await this.sessions.subscribe(caller, dto);
    return { success: true, message: 'success' };
  }

  @Delete('subscriptions')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Delete Events Subscriptions',
    description: 'Removes an event subscription from the socket session.',
  })
  @ApiBody({ type: SessionSubscriptionDto, examples: { 'channel.follow': { value: EXAMPLE } } })
  @ApiOkResponse({ type: SuccessDto })
  async unsubscribe(@CurrentPrincipal() caller: Principal, @Body() dto: SessionSubscriptionDto): Promise<SuccessDto> {
    await this.sessions.unsubscribe(caller, dto);
    return { success: true, message: 'success' };
  }
}
