import { applyDecorators, Body, Controller, Delete, Get, HttpCode, Param, Post, UseFilters } from '@nestjs/common';
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
import { SessionErrorDto } from '../../core/http/error.dto';
import { Seed004ExceptionFilter } from '../../core/http/filters/envelope-exception.filter';
import { SessionSubscriptionDto, SessionSubscriptionListDto, SuccessDto } from './session-subscription.dto';
import { SessionSubscriptionsService } from './session-subscriptions.service';

const EXAMPLE = {
  type: 'channel.follow',
  version: '1',
  // A real session id is a Socket.IO socket.id, 20 characters.
  sessionId: 'mO2rT1xq9bYk3LzA_7-c',
  condition: { channelId: '9b7f3c2a-2f41-4f5e-9f54-6c1d8a2b7e90' },
};
const CONDITION_MESSAGE = 'condition.channelId is required for channel.follow: a string of 1-128 characters';

/** The errors every operation here may answer, each in this API's `{ success: false, message, errors? }` envelope. */
function ApiSessionErrors(badRequest: { description: string; example: SessionErrorDto }) {
  return applyDecorators(
    ApiBadRequestResponse({ type: SessionErrorDto, ...badRequest }),
    ApiUnauthorizedResponse({
      type: SessionErrorDto,
      description: 'Missing, invalid, expired or revoked credential.',
      example: { success: false, message: 'Missing credential: send Authorization: Bearer <token> or X-Api-Key' },
    }),
    ApiForbiddenResponse({
      type: SessionErrorDto,
      description:
        'The session is another user’s, the token kind is wrong (channel.follow needs a user token), or a scope is missing (users.read).',
      example: { success: false, message: `Session ${EXAMPLE.sessionId} belongs to another user` },
    }),
  );
}

const SUBSCRIBE_ERRORS = {
  description: 'Unsupported type or version, a malformed or missing condition, or an unknown session.',
  example: {
    success: false,
    message: `Malformed condition: ${CONDITION_MESSAGE}`,
    errors: [{ field: 'condition.channelId', message: CONDITION_MESSAGE }],
  },
};

/**
 * Served at `/v1/events` and, beside the rest of the API, at `/api/v1/events`: each operation is
 * documented at both paths, and the copy under `/api` has an operationId of its own (swagger.ts).
 */
@ApiTags('socket-sessions')
@Controller(['v1/events', 'api/v1/events'])
@UseFilters(Seed004ExceptionFilter)
@Authenticated()
export class SessionSubscriptionsController {
  constructor(private readonly sessions: SessionSubscriptionsService) {}

  @Get(':sessionId/subscriptions')
  @ApiOperation({
    operationId: 'sessionSubscriptions.list',
    summary: 'List the event subscriptions of a socket session',
    description: 'Lists active event subscriptions for a socket session.',
  })
  @ApiParam({
    name: 'sessionId',
    example: EXAMPLE.sessionId,
    description:
      'The Socket.IO socket.id (20 characters of A-Z, a-z, 0-9, _ and -); anything else is an unknown session (400).',
  })
  @ApiOkResponse({ type: SessionSubscriptionListDto })
  @ApiSessionErrors({
    description: 'An unknown session (or another organisation’s).',
    example: { success: false, message: `Unknown session ${EXAMPLE.sessionId}` },
  })
  async list(
    @CurrentPrincipal() caller: Principal,
    @Param('sessionId') sessionId: string,
  ): Promise<SessionSubscriptionListDto> {
    return { success: true, message: 'success', data: await this.sessions.list(caller, sessionId) };
  }

  @Post('subscriptions')
  @HttpCode(200)
  @ApiOperation({
    operationId: 'sessionSubscriptions.create',
    summary: 'Subscribe a socket session to an event type',
    description:
      'Subscribes the socket session to a supported event stream. channel.follow requires a user access token with scope users.read. Idempotent.',
  })
  @ApiBody({ type: SessionSubscriptionDto, examples: { 'channel.follow': { value: EXAMPLE } } })
  @ApiOkResponse({ type: SuccessDto })
  @ApiSessionErrors(SUBSCRIBE_ERRORS)
  async subscribe(@CurrentPrincipal() caller: Principal, @Body() dto: SessionSubscriptionDto): Promise<SuccessDto> {
    await this.sessions.subscribe(caller, dto);
    return { success: true, message: 'success' };
  }

  @Delete('subscriptions')
  @HttpCode(200)
  @ApiOperation({
    operationId: 'sessionSubscriptions.delete',
    summary: 'Unsubscribe a socket session from an event type',
    description: 'Removes an event subscription from the socket session.',
  })
  @ApiBody({ type: SessionSubscriptionDto, examples: { 'channel.follow': { value: EXAMPLE } } })
  @ApiOkResponse({ type: SuccessDto })
  @ApiSessionErrors(SUBSCRIBE_ERRORS)
  async unsubscribe(@CurrentPrincipal() caller: Principal, @Body() dto: SessionSubscriptionDto): Promise<SuccessDto> {
    await this.sessions.unsubscribe(caller, dto);
    return { success: true, message: 'success' };
  }
}
