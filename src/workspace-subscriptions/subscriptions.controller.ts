import { Body, Controller, Delete, Get, HttpCode, Param, Post } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiCreatedResponse,
  ApiHeader,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
} from '@nestjs/swagger';
import { Authenticated, CurrentPrincipal, CurrentWorkspace } from '../core/auth/decorators';
import type { Principal } from '../core/auth/principal';
import {
  ChangeStateDto,
  CreatedSubscriptionViewDto,
  OperationResultDto,
  SaveSubscriptionDto,
  SubscriptionParamsDto,
  SubscriptionTemplateDto,
  SubscriptionViewDto,
} from './dto/subscription.dto';
import { describeTemplates } from './subscription-templates';
import { SubscriptionsService } from './subscriptions.service';

const WORKSPACE_HEADER = {
  name: 'X-Workspace-Id',
  required: false,
  description: "The current workspace; defaults to the credential's first.",
};

@ApiTags('subscriptions')
@Controller('api/v1')
@ApiHeader(WORKSPACE_HEADER)
export class SubscriptionsController {
  constructor(private readonly subscriptions: SubscriptionsService) {}

  @Get('subscriptions')
  @Authenticated()
  @ApiOperation({ summary: 'Subscriptions of the current workspace' })
  @ApiOkResponse({ type: [SubscriptionViewDto] })
  list(@CurrentPrincipal() caller: Principal, @CurrentWorkspace() workspace: string): Promise<SubscriptionViewDto[]> {
    return this.subscriptions.list(caller, workspace);
  }

  @Post('subscriptions')
  @Authenticated('subscriptions:write')
  @ApiOperation({
    summary: 'Create a subscription by rules or by template',
    description: '`signing_secret` (for webhook actions) is returned only here.',
  })
  @ApiCreatedResponse({ type: CreatedSubscriptionViewDto })
  @ApiBadRequestResponse({
    description:
      'A missing field, an unknown trigger, a bad condition operator or a $regex RE2 cannot run (with its path), conditions over a size limit, a template input that breaks its schema.',
  })
  create(
    @CurrentPrincipal() caller: Principal,
    @CurrentWorkspace() workspace: string,
    @Body() dto: SaveSubscriptionDto,
  ): Promise<CreatedSubscriptionViewDto> {
    return this.subscriptions.create(caller, workspace, dto);
  }

  @Get('subscriptions/:id')
  @Authenticated()
  @ApiOperation({ summary: 'A subscription' })
  @ApiOkResponse({ type: SubscriptionViewDto })
  @ApiNotFoundResponse()
  get(
    @CurrentPrincipal() caller: Principal,
    @CurrentWorkspace() workspace: string,
    @Param() params: SubscriptionParamsDto,
  ): Promise<SubscriptionViewDto> {
    return this.subscriptions.get(caller, workspace, params.id);
  }

  @Post('subscriptions/:id')
  @HttpCode(200)
  @Authenticated('subscriptions:write')
  @ApiOperation({ summary: 'Replace a subscription (same shape as create)' })
  @ApiOkResponse({ type: SubscriptionViewDto })
  @ApiNotFoundResponse()
  replace(
    @CurrentPrincipal() caller: Principal,
    @CurrentWorkspace() workspace: string,
    @Param() params: SubscriptionParamsDto,
    @Body() dto: SaveSubscriptionDto,
  ): Promise<SubscriptionViewDto> {
    return this.subscriptions.replace(caller, workspace, params.id, dto);
  }

  @Delete('subscriptions/:id')
  @Authenticated('subscriptions:write')
  @ApiOperation({ summary: 'Delete a subscription' })
  @ApiOkResponse({ type: OperationResultDto })
  @ApiNotFoundResponse()
  delete(
    @CurrentPrincipal() caller: Principal,
    @CurrentWorkspace() workspace: string,
    @Param() params: SubscriptionParamsDto,
  ): Promise<OperationResultDto> {
    return this.subscriptions.delete(caller, workspace, params.id);
  }

  @Post('subscriptions/:id/state')
  @HttpCode(200)
  @Authenticated('subscriptions:write')
  @ApiOperation({
    summary: 'Change a subscription’s state',
    description: 'off: nothing is evaluated. blocked: matches are logged `blocked`, nothing is sent. on: resumes.',
  })
  @ApiOkResponse({ type: SubscriptionViewDto })
  @ApiNotFoundResponse()
  setState(
    @CurrentPrincipal() caller: Principal,
    @CurrentWorkspace() workspace: string,
    @Param() params: SubscriptionParamsDto,
    @Body() dto: ChangeStateDto,
  ): Promise<SubscriptionViewDto> {
    return this.subscriptions.setState(caller, workspace, params.id, dto.state, dto.issue);
  }

  @Get('subscription-templates')
  @Authenticated()
  @ApiOperation({ summary: 'Built-in subscription templates: input JSON Schema and topics' })
  @ApiOkResponse({ type: [SubscriptionTemplateDto] })
  templates(): SubscriptionTemplateDto[] {
    return describeTemplates();
  }
}
