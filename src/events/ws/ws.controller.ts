import { BadRequestException, Body, Controller, Get, HttpCode, HttpException, Post, UseFilters } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiForbiddenResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiQuery,
  ApiResponse,
  ApiTags,
  ApiTooManyRequestsResponse,
  ApiUnauthorizedResponse,
} from '@nestjs/swagger';
import { Authenticated, CurrentPrincipal } from '../../core/auth/decorators';
import type { Principal } from '../../core/auth/principal';
import { WebSocketErrorDto } from '../../core/http/error.dto';
import { Seed001ExceptionFilter } from '../../core/http/filters/envelope-exception.filter';
import { UnknownEventTypesError, WsClientsService } from './ws-clients.service';
import { WsUnsubscribeDto, WsUnsubscribeResultDto } from './ws.dto';

const SUBSCRIBE = '/api/v1/ws/subscribe';
const UNSUBSCRIBE = '/api/v1/ws/unsubscribe';
const CLIENT_ID = 'wsc_01jd3m7k2q8w6t5v4x3y2z1a0b';
const MISSING_CREDENTIAL = 'Missing credential: send Authorization: Bearer <token> or X-Api-Key';

/** A raw WebSocket API error body as the server sends it: one stack entry for the error, or one per invalid field (`path` the field). */
function wsError(code: number, error: string, message: string, path: string, description = message) {
  return { code, message, stack: [{ code, description, error, path }] };
}

@ApiTags('websocket')
@Controller('api/v1/ws')
@UseFilters(Seed001ExceptionFilter)
@Authenticated()
export class WsController {
  constructor(private readonly clients: WsClientsService) {}

  @Get('subscribe')
  @ApiOperation({
    operationId: 'websocket.subscribe',
    summary: 'Subscribe to event notifications via WebSocket',
    description:
      'Upgrade this request to a WebSocket (send `Connection: Upgrade`, `Upgrade: websocket`). The credential is checked before ' +
      'the upgrade: `Authorization: Bearer`, `X-Api-Key`, or `?access_token=` for browsers. On open the server sends ' +
      '`{"type":"welcome","client_id":"wsc_…","user_id","event_types"}`, then `{"type":"event","event":<envelope>}` per event. ' +
      'Client frames: `{"action":"subscribe"|"unsubscribe","event_types":[…]}` and `{"action":"ping"}`. ' +
      'Server pings every 25 s and drops a client silent for 60 s; frames over 64 KiB get an `error` frame (over 1 MiB: closed ' +
      'with 1009); a client more than 1 MiB behind is closed with 1013. Before the server closes a connection it sends ' +
      '`{"type":"closed","reason"}`.',
  })
  @ApiQuery({
    name: 'event_types',
    required: false,
    type: String,
    example: 'claim_approved,claim_rejected',
    description:
      'Comma-separated or repeated; none means every type of the catalog (listed in the welcome). The set is explicit: unsubscribing the last type leaves none.',
  })
  @ApiResponse({ status: 101, description: 'Switching Protocols: the WebSocket is open.' })
  @ApiBadRequestResponse({
    type: WebSocketErrorDto,
    description: 'An unknown event type in `event_types` (answered to the upgrade request; `path` is `event_types`).',
    example: wsError(
      400,
      'Bad Request',
      'Unknown event type(s) claim_exploded. Known types: claim_submitted, claim_approved, claim_rejected, status_changed, comment_added, channel.follow',
      'event_types',
    ),
  })
  @ApiUnauthorizedResponse({
    type: WebSocketErrorDto,
    description: 'Missing, invalid, expired or revoked credential: checked before the upgrade, no socket is opened.',
    example: wsError(401, 'Unauthorized', MISSING_CREDENTIAL, SUBSCRIBE),
  })
  @ApiForbiddenResponse({
    type: WebSocketErrorDto,
    description: 'The credential may not receive events (scope events:read); checked before the upgrade.',
    example: wsError(403, 'Forbidden', 'Missing scope: events:read', SUBSCRIBE),
  })
  @ApiResponse({
    status: 426,
    type: WebSocketErrorDto,
    description: 'A plain GET without the WebSocket upgrade.',
    example: wsError(
      426,
      'Upgrade Required',
      'This endpoint only speaks WebSocket: send Connection: Upgrade and Upgrade: websocket',
      SUBSCRIBE,
    ),
  })
  @ApiTooManyRequestsResponse({
    type: WebSocketErrorDto,
    description: 'Too many sockets from this address or for this credential.',
    example: wsError(
      429,
      'Too Many Requests',
      'Too many sockets for this credential (WS_MAX_SOCKETS_PER_CREDENTIAL is 1000)',
      SUBSCRIBE,
    ),
  })
  subscribeWithoutUpgrade(): never {
    throw new HttpException(
      {
        statusCode: 426,
        error: 'Upgrade Required',
        message: 'This endpoint only speaks WebSocket: send Connection: Upgrade and Upgrade: websocket',
      },
      426,
    );
  }

  @Post('unsubscribe')
  @HttpCode(200)
  @ApiOperation({
    operationId: 'websocket.unsubscribe',
    summary: 'Unsubscribe a WebSocket client from event types',
    description:
      'Removes event types from a connected client without disconnecting it, on whichever node holds it. The client must belong to the authenticated user.',
  })
  @ApiOkResponse({ type: WsUnsubscribeResultDto })
  @ApiBadRequestResponse({
    type: WebSocketErrorDto,
    description: 'An invalid body (one stack entry per field, `path` the field) or an unknown event type.',
    example: wsError(
      400,
      'Bad Request',
      'Validation failed: client_id: client_id is required',
      'client_id',
      'client_id is required',
    ),
  })
  @ApiUnauthorizedResponse({
    type: WebSocketErrorDto,
    description: 'Missing, invalid, expired or revoked credential.',
    example: wsError(401, 'Unauthorized', MISSING_CREDENTIAL, UNSUBSCRIBE),
  })
  @ApiForbiddenResponse({
    type: WebSocketErrorDto,
    description: 'The client belongs to another user.',
    example: wsError(403, 'Forbidden', `Client ${CLIENT_ID} does not belong to the authenticated user`, UNSUBSCRIBE),
  })
  @ApiNotFoundResponse({
    type: WebSocketErrorDto,
    description: 'No such client is connected.',
    example: wsError(404, 'Not Found', `WebSocket client ${CLIENT_ID} is not connected`, UNSUBSCRIBE),
  })
  async unsubscribe(
    @CurrentPrincipal() caller: Principal,
    @Body() dto: WsUnsubscribeDto,
  ): Promise<WsUnsubscribeResultDto> {
    try {
      const { status: _status, ...result } = await this.clients.unsubscribe({ ...dto, caller });
      return result;
    } catch (err) {
      if (err instanceof UnknownEventTypesError) throw new BadRequestException(err.message);
      throw err;
    }
  }
}
