import { Body, Controller, Delete, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiCreatedResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiQuery,
  ApiTags,
} from '@nestjs/swagger';
import { ApiMalformedIdResponse } from '../http/validation';
import { ApiKeysService } from './api-keys.service';
import { Authenticated, CurrentPrincipal } from './decorators';
import { ApiKeyDto, ApiKeyParamsDto, CreateApiKeyDto, CreatedApiKeyDto, RevokedApiKeyDto } from './dto/api-key.dto';
import type { Principal } from './principal';

@ApiTags('api-keys')
@Controller('api/v1/api-keys')
@Authenticated('admin')
export class ApiKeysController {
  constructor(private readonly keys: ApiKeysService) {}

  @Post()
  @ApiOperation({
    operationId: 'apiKeys.create',
    summary: 'Create an API key',
    description:
      'The token is shown once, in this response. With `expires_at` the key stops working at that time (401 "API key expired"). ' +
      '`created_by` records the creating credential.',
  })
  @ApiCreatedResponse({ type: CreatedApiKeyDto })
  @ApiBadRequestResponse({
    description: 'A field is invalid, e.g. `expires_at` is not an RFC 3339 date-time or not in the future.',
  })
  create(@CurrentPrincipal() caller: Principal, @Body() dto: CreateApiKeyDto): Promise<CreatedApiKeyDto> {
    return this.keys.create(caller, dto);
  }

  @Get()
  @ApiOperation({
    operationId: 'apiKeys.list',
    summary: "List the organisation's API keys (tokens are never returned)",
  })
  @ApiQuery({ name: 'organisation_id', required: false, description: 'Operator key only: the organisation to list.' })
  @ApiOkResponse({ type: [ApiKeyDto] })
  list(@CurrentPrincipal() caller: Principal, @Query('organisation_id') organisationId?: string): Promise<ApiKeyDto[]> {
    return this.keys.list(caller, typeof organisationId === 'string' ? organisationId : undefined);
  }

  @Delete(':key_id')
  @HttpCode(200)
  @ApiOperation({ operationId: 'apiKeys.revoke', summary: 'Revoke an API key; it stops working at once' })
  @ApiOkResponse({ type: RevokedApiKeyDto })
  @ApiMalformedIdResponse('key_id', 'key')
  @ApiNotFoundResponse({ description: 'No such key in this organisation.' })
  revoke(@CurrentPrincipal() caller: Principal, @Param() params: ApiKeyParamsDto): Promise<RevokedApiKeyDto> {
    return this.keys.revoke(caller, params.key_id);
  }
}
