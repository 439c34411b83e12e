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
  ApiUnauthorizedResponse,
} from '@nestjs/swagger';
import { Authenticated, CurrentPrincipal } from '../../core/auth/decorators';
import type { Principal } from '../../core/auth/principal';
import { Seed001ExceptionFilter } from '../../core/http/filters/envelope-exception.filter';
import { UnknownEventTypesError, WsClientsService } from './ws-clients.service';
import { Seed001ErrorDto, WsUnsubscribeDto, WsUnsubscribeResultDto } from './ws.dto';

@ApiTags('websocket')
@Controller('api/v1/ws')
@UseFilters(Seed001ExceptionFilter)
@Authenticated()
@ApiUnauthorizedResponse({ type: Seed001ErrorDto })
export class WsController {
  constructor(private readonly clients: WsClientsService) {}

  @Get('subscribe')
  @ApiOperation({
    summary: 'Subscribe to event notifications via WebSocket',
    description:
      'Upgrade this request to a WebSocket (send `Connection: Upgrade`, `Upgrade: websocket`). The credential is checked before ' +
      'the upgrade: `Authorization: Bearer`, `X-Api-Key`, or `?access_token=` for browsers. On open the server sends ' +
      '`{"type":"welcome","client_id":"wsc_…","user_id","event_types"}`, then `{"type":"event","event":<envelope>}` per event. ' +
      'Client frames: `{"action":"subscribe"|"unsubscribe","event_types":[…]}` and `{"action":"ping"}`. ' +
      'Server pings every 25 s and drops a client silent for 60 s; frames are limited to 64 KiB; a client more than 1 MiB ' +
      'behind is closed with 1013.',
  })
  @ApiQuery({ name: 'event_types', required: false, description: 'Comma-separated or repeated; empty means all types.' })
  @ApiResponse({ status: 101, description: 'Switching Protocols: the WebSocket is open.' })
  @ApiBadRequestResponse({ type: Seed001ErrorDto, description: 'Unknown event type.' })
  @ApiResponse({ status: 426, type: Seed001ErrorDto, description: 'A plain GET without the WebSocket upgrade.' })
  subscribeWithoutUpgrade(): never {
    throw new HttpException(
      { statusCode: 426, error: 'Upgrade Required', message: 'This endpoint only speaks WebSocket: send Connection: Upgrade and Upgrade: websocket' },
      426,
    );
  }

  @Post('unsubscribe')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Unsubscribe from specific event types',
    description:
      'Removes event types from a connected client without disconnecting it, on whichever node holds it. The client must belong to the authenticated user.',
  })
  @ApiOkResponse({ type: WsUnsubscribeResultDto })
  @ApiBadRequestResponse({ type: Seed001ErrorDto })
  @ApiForbiddenResponse({ type: Seed001ErrorDto, description: 'The client belongs to another user.' })
  @ApiNotFoundResponse({ type: Seed001ErrorDto, description: 'No such client is connected.' })
  async unsubscribe(@CurrentPrincipal() caller: Principal, @Body() dto: WsUnsubscribeDto): Promise<WsUnsubscribeResultDto> {
    try {
      const { status: _status, ...result } = await this.clients.unsubscribe({ ...dto, caller });
      return result;
    } catch (err) {
      if (err instanceof UnknownEventTypesError) throw new BadRequestException(err.message);
      throw err;
    }
  }
}
