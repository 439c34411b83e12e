import { Body, Controller, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiHeader,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
} from '@nestjs/swagger';
import { Authenticated, CurrentPrincipal, CurrentWorkspace } from '../core/auth/decorators';
import type { Principal } from '../core/auth/principal';
import { StandardErrorDto } from '../core/http/error.dto';
import type { DeliveryLogEntry } from '../core/webhooks/webhook.types';
import { WebhooksService } from '../core/webhooks/webhooks.service';
import {
  AlertHistoryQueryDto,
  SUBSCRIPTION_OR_DRAFT,
  SubscriptionAlertLogDto,
  SubscriptionParamsDto,
  SubscriptionTestResultDto,
  TestSubscriptionDto,
} from './dto/subscription.dto';
import { SubscriptionTestService } from './subscription-test.service';
import { SubscriptionsService } from './subscriptions.service';

function toAlertLog(e: DeliveryLogEntry): SubscriptionAlertLogDto {
  return {
    id: e.id,
    subscription_id: e.endpoint_id,
    event_id: e.event_id,
    rule_index: e.rule_index,
    match: { hash: e.match_hash, index: e.match_index },
    action: 'webhook',
    status: e.status,
    attempts: e.attempts,
    response_status: e.response_status,
    error: e.error,
    created_at: e.created_at,
    delivered_at: e.delivered_at,
    duration_ms: e.duration_ms,
  };
}

@ApiTags('subscriptions')
@Controller('api/v2/subscriptions')
@ApiHeader({
  name: 'X-Workspace-Id',
  required: false,
  description: "The current workspace; defaults to the credential's first.",
})
export class SubscriptionsV2Controller {
  constructor(
    private readonly tests: SubscriptionTestService,
    private readonly subscriptions: SubscriptionsService,
    private readonly webhooks: WebhooksService,
  ) {}

  @Post('test')
  @HttpCode(200)
  @Authenticated('subscriptions:write')
  @ApiOperation({
    operationId: 'subscriptions.test',
    summary: 'Test an existing subscription or a draft',
    description:
      '`preview` shows, per rule, whether it matched (trigger, resources, failed conditions with the actual value, whether the subscription’s owner may read the event) and the exact request each action would send, ' +
      'signed with a throwaway secret made for the call (`signed_with`), never the subscription’s own. ' +
      '`send` also sends it once, signed with the subscription’s secret, and reports the response; it needs subscriptions:write and the subscription’s owner, an app or an admin credential (else 403). ' +
      'Everything a test sends is marked as one: requests carry the header `herald-test: true` and `"test": true` in the signed body, socket messages `"test": true`; neither carries a log `sequence`. ' +
      'A past match (`test.match.hash`) is replayed only for a caller that may read its event. Header values of actions are shown as `********`. Tests never touch the delivery log.',
  })
  @ApiOkResponse({ type: SubscriptionTestResultDto })
  @ApiBadRequestResponse({
    type: StandardErrorDto,
    description:
      'Neither (or both) of `subscription` and `draft`, an invalid draft, no test input, a `ruleIndex` past the rules, an unknown past match.',
    example: {
      statusCode: 400,
      error: 'Bad Request',
      message: `Validation failed: subscription: ${SUBSCRIPTION_OR_DRAFT}`,
      details: [{ field: 'subscription', message: SUBSCRIPTION_OR_DRAFT }],
    },
  })
  @ApiNotFoundResponse({ description: 'No such subscription in the current workspace.' })
  test(
    @CurrentPrincipal() caller: Principal,
    @CurrentWorkspace() workspace: string,
    @Body() dto: TestSubscriptionDto,
  ): Promise<SubscriptionTestResultDto> {
    return this.tests.run(caller, workspace, dto);
  }

  @Get('alerts/history')
  @Authenticated()
  @ApiOperation({
    operationId: 'alertHistory.list',
    summary: 'Delivery log of the current workspace',
    description:
      '`before` (default): newest first, older than `datetime`; `after`: oldest first, newer than it. Every page holds exactly `limit` entries except the last. ' +
      'Entry times (`created_at`, RFC 3339 UTC with microseconds) are unique within the workspace: pass the last `created_at` as the next `datetime` to see every entry exactly once.',
  })
  @ApiOkResponse({ type: [SubscriptionAlertLogDto] })
  @ApiBadRequestResponse({
    description:
      'Invalid query: `limit` not one of 50, 100, 250, 500, an unknown status or direction, a malformed `datetime`.',
  })
  async history(
    @CurrentPrincipal() caller: Principal,
    @CurrentWorkspace() workspace: string,
    @Query() query: AlertHistoryQueryDto,
  ): Promise<SubscriptionAlertLogDto[]> {
    const entries = await this.webhooks.listDeliveries({
      organisation_id: caller.organisation_id,
      workspace_id: workspace,
      ...query,
    });
    return entries.map(toAlertLog);
  }

  @Get(':id/alerts/history')
  @Authenticated()
  @ApiOperation({
    operationId: 'alertHistory.listForSubscription',
    summary: 'Delivery log of one subscription',
    description: 'Paged like `GET /api/v2/subscriptions/alerts/history`.',
  })
  @ApiOkResponse({ type: [SubscriptionAlertLogDto] })
  @ApiBadRequestResponse({
    description:
      'Invalid query: `limit` not one of 50, 100, 250, 500, an unknown status or direction, a malformed `datetime`.',
  })
  @ApiNotFoundResponse()
  async subscriptionHistory(
    @CurrentPrincipal() caller: Principal,
    @CurrentWorkspace() workspace: string,
    @Param() params: SubscriptionParamsDto,
    @Query() query: AlertHistoryQueryDto,
  ): Promise<SubscriptionAlertLogDto[]> {
    await this.subscriptions.require(caller, workspace, params.id);
    const entries = await this.webhooks.listDeliveries({
      organisation_id: caller.organisation_id,
      workspace_id: workspace,
      endpoint_id: params.id,
      ...query,
    });
    return entries.map(toAlertLog);
  }
}
