import { Body, Controller, Delete, Get, HttpCode, Param, Post } from '@nestjs/common';
import {
  ApiAcceptedResponse,
  ApiBadRequestResponse,
  ApiConflictResponse,
  ApiCreatedResponse,
  ApiHeader,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
} from '@nestjs/swagger';
import { Authenticated, CurrentPrincipal, CurrentWorkspace } from '../core/auth/decorators';
import type { Principal } from '../core/auth/principal';
import { StandardErrorDto } from '../core/http/error.dto';
import {
  RecoverDeliveriesDto,
  RecoveredDeliveriesDto,
  RotatedSecretDto,
} from '../core/webhooks/subscription-operations.dto';
import {
  ChangeStateDto,
  CreatedSubscriptionViewDto,
  OperationResultDto,
  SaveSubscriptionDto,
  StateChangedViewDto,
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
  @ApiOperation({ operationId: 'subscriptions.list', summary: 'Subscriptions of the current workspace' })
  @ApiOkResponse({ type: [SubscriptionViewDto] })
  list(@CurrentPrincipal() caller: Principal, @CurrentWorkspace() workspace: string): Promise<SubscriptionViewDto[]> {
    return this.subscriptions.list(caller, workspace);
  }

  @Post('subscriptions')
  @Authenticated('subscriptions:write')
  @ApiOperation({
    operationId: 'subscriptions.create',
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
  @ApiOperation({ operationId: 'subscriptions.get', summary: 'Get a subscription' })
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
  @ApiOperation({ operationId: 'subscriptions.replace', summary: 'Replace a subscription (same shape as create)' })
  @ApiOkResponse({ type: SubscriptionViewDto })
  @ApiBadRequestResponse({ description: 'An invalid body, as for create.' })
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
  @ApiOperation({ operationId: 'subscriptions.delete', summary: 'Delete a subscription' })
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
    operationId: 'subscriptions.setState',
    summary: 'Change a subscription’s state',
    description:
      'off: nothing is evaluated. blocked: matches are logged `blocked`, nothing is sent. on: resumes. ' +
      'Turning a subscription with a webhook action on also answers `undelivered`: how many of its deliveries failed or were blocked. They are not resent unless `POST /api/v1/subscriptions/:id/recover` asks.',
  })
  @ApiOkResponse({ type: StateChangedViewDto })
  @ApiBadRequestResponse({ description: 'An unknown state, or an issue over 500 characters.' })
  @ApiNotFoundResponse()
  setState(
    @CurrentPrincipal() caller: Principal,
    @CurrentWorkspace() workspace: string,
    @Param() params: SubscriptionParamsDto,
    @Body() dto: ChangeStateDto,
  ): Promise<StateChangedViewDto> {
    return this.subscriptions.setState(caller, workspace, params.id, dto.state, dto.issue);
  }

  @Post('subscriptions/:id/rotate-secret')
  @HttpCode(200)
  @Authenticated('subscriptions:write')
  @ApiOperation({
    operationId: 'subscriptions.rotateSecret',
    summary: 'Rotate a subscription’s webhook signing secret',
    description:
      'Returns a new `signing_secret`, shown only here. Until `previous_secret_expires_at` (WEBHOOK_SECRET_ROTATION_OVERLAP, 24 h by default) ' +
      'each delivery carries two `v1,` signatures in `webhook-signature`, with the new and the old secret, so a receiver verifies with either while it switches; ' +
      'after that only the new one verifies. Rotating again within that time drops the older secret at once. ' +
      'Needs the subscription’s owning user, an app or an `admin` credential (else 403).',
  })
  @ApiOkResponse({ type: RotatedSecretDto })
  @ApiNotFoundResponse()
  @ApiConflictResponse({ description: 'The subscription has no webhook action, so it has no signing secret.' })
  rotateSecret(
    @CurrentPrincipal() caller: Principal,
    @CurrentWorkspace() workspace: string,
    @Param() params: SubscriptionParamsDto,
  ): Promise<RotatedSecretDto> {
    return this.subscriptions.rotateSecret(caller, workspace, params.id);
  }

  @Post('subscriptions/:id/recover')
  @HttpCode(202)
  @Authenticated('subscriptions:write')
  @ApiOperation({
    operationId: 'subscriptions.recover',
    summary: 'Recover a subscription’s failed webhook deliveries',
    description:
      'Makes every `failed` delivery logged since `since` (and before `until`; with `include_blocked`, `blocked` ones too) owed again, oldest first, ' +
      'due at most WEBHOOK_RECOVER_RATE per second (10 by default) so fresh deliveries keep flowing. Each keeps its `webhook-id`. Deliveries whose event is past retention are skipped. ' +
      'The subscription must be `on`. Needs the subscription’s owning user, an app or an `admin` credential (else 403).',
  })
  @ApiAcceptedResponse({ type: RecoveredDeliveriesDto })
  @ApiBadRequestResponse({ description: 'An invalid body: `since` missing or not an RFC 3339 date-time.' })
  @ApiNotFoundResponse()
  @ApiConflictResponse({
    type: StandardErrorDto,
    description: 'The subscription has no webhook action, or is not `on`.',
  })
  recover(
    @CurrentPrincipal() caller: Principal,
    @CurrentWorkspace() workspace: string,
    @Param() params: SubscriptionParamsDto,
    @Body() dto: RecoverDeliveriesDto,
  ): Promise<RecoveredDeliveriesDto> {
    return this.subscriptions.recover(caller, workspace, params.id, dto);
  }

  @Get('subscription-templates')
  @Authenticated()
  @ApiOperation({
    operationId: 'subscriptionTemplates.list',
    summary: 'Built-in subscription templates: input JSON Schema and topics',
  })
  @ApiOkResponse({ type: [SubscriptionTemplateDto] })
  templates(): SubscriptionTemplateDto[] {
    return describeTemplates();
  }
}
