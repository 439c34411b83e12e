import { Body, Controller, Delete, Get, HttpCode, Param, Post, Put, Query } from '@nestjs/common';
import {
  ApiAcceptedResponse,
  ApiBadRequestResponse,
  ApiConflictResponse,
  ApiCreatedResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
} from '@nestjs/swagger';
import { Authenticated, CurrentPrincipal } from '../core/auth/decorators';
import type { Principal } from '../core/auth/principal';
import type { Page } from '../core/http/pagination';
import { StandardErrorDto } from '../core/http/error.dto';
import { ApiMalformedIdResponse } from '../core/http/validation';
import {
  RecoverDeliveriesDto,
  RecoveredDeliveriesDto,
  RotatedSecretDto,
} from '../core/webhooks/subscription-operations.dto';
import { ClaimSubscriptionsService } from './claim-subscriptions.service';
import {
  BuildPayloadDto,
  ClaimSubscriptionDetailDto,
  ClaimSubscriptionPageDto,
  ClaimSubscriptionParamsDto,
  CreatedClaimSubscriptionDto,
  DeletedNotificationDto,
  ListClaimSubscriptionsQueryDto,
  ListNotificationsQueryDto,
  MarkedReadDto,
  MarkReadDto,
  NotificationDetailDto,
  NotificationPageDto,
  NotificationParamsDto,
  NotificationPayloadDto,
  NotificationSummaryDto,
  NotifyStatusChangeDto,
  SentNotificationDto,
  SubscribeToClaimDto,
  UnsubscribedClaimDto,
} from './dto/notification.dto';
import { buildNotificationPayload } from './notification-payload';
import { NotificationsService } from './notifications.service';

@ApiTags('approval-notifications')
@Controller('api/v1/approval-notifications')
@Authenticated()
export class ApprovalNotificationsController {
  constructor(
    private readonly notifications: NotificationsService,
    private readonly subscriptions: ClaimSubscriptionsService,
  ) {}

  @Get()
  @ApiOperation({
    operationId: 'notifications.list',
    summary: 'List notifications for a user or claim',
    description: 'Newest first. Users see their own; app credentials and claims:read:org the organisation’s.',
  })
  @ApiOkResponse({ type: NotificationPageDto })
  @ApiBadRequestResponse({ description: 'Invalid query: page or limit out of range, `read` not true or false.' })
  list(
    @CurrentPrincipal() caller: Principal,
    @Query() query: ListNotificationsQueryDto,
  ): Promise<Page<NotificationSummaryDto>> {
    return this.notifications.list(caller, query);
  }

  @Post()
  @Authenticated('notifications:write')
  @ApiOperation({
    operationId: 'notifications.send',
    summary: 'Send a status-change notification',
    description:
      'Stores the notification with its payload and appends `status_changed` (plus `claim_submitted`/`claim_approved`/`claim_rejected` where the status maps) in one transaction. ' +
      "The recipient's sockets get a `notification` message at once; channels, WebSocket clients, webhooks and workspace subscriptions get the events.",
  })
  @ApiCreatedResponse({ type: SentNotificationDto })
  @ApiBadRequestResponse({
    description: 'Invalid body: unknown status, amount without currency, a currency that is not ISO 4217.',
  })
  notify(@CurrentPrincipal() caller: Principal, @Body() dto: NotifyStatusChangeDto): Promise<SentNotificationDto> {
    return this.notifications.notify(caller, dto);
  }

  @Post('payload')
  @HttpCode(200)
  @ApiOperation({
    operationId: 'notifications.buildPayload',
    summary: 'Build and preview a notification payload',
    description:
      'The title, body, action and severity a notification for this status change would carry; nothing is stored or sent.',
  })
  @ApiOkResponse({ type: NotificationPayloadDto })
  @ApiBadRequestResponse({
    description: 'Invalid body: unknown status, amount without currency, a currency that is not ISO 4217.',
  })
  payload(@Body() dto: BuildPayloadDto): NotificationPayloadDto {
    return buildNotificationPayload(dto);
  }

  @Post('subscriptions')
  @Authenticated('events:read')
  @ApiOperation({
    operationId: 'claimSubscriptions.create',
    summary: 'Subscribe a webhook to a claim’s status events',
    description:
      'The events of the claim are POSTed to `webhook_url`, signed per Standard Webhooks with `signing_secret` (returned only here). ' +
      'As when reading events: app credentials and `claims:read:org` get every event of the claim; a user credential subscribes for its own user and gets the events about that user.',
  })
  @ApiCreatedResponse({ type: CreatedClaimSubscriptionDto })
  @ApiBadRequestResponse({
    description: 'Invalid body, or a webhook_url Herald will not call (not http(s), or not a public address).',
  })
  subscribe(
    @CurrentPrincipal() caller: Principal,
    @Body() dto: SubscribeToClaimDto,
  ): Promise<CreatedClaimSubscriptionDto> {
    return this.subscriptions.subscribe(caller, dto);
  }

  // Declared before `:notification_id`, which would otherwise take `subscriptions` as a (malformed) id.
  @Get('subscriptions')
  @Authenticated('events:read')
  @ApiOperation({
    operationId: 'claimSubscriptions.list',
    summary: 'List claim event subscriptions',
    description:
      'Newest first; active subscriptions only (an unsubscribed one is gone). Never includes the signing secret. ' +
      'App credentials and `claims:read:org` see the organisation’s; a user credential only the subscriptions for its own user.',
  })
  @ApiOkResponse({ type: ClaimSubscriptionPageDto })
  @ApiBadRequestResponse({ description: 'Invalid query: page or limit out of range.' })
  listSubscriptions(
    @CurrentPrincipal() caller: Principal,
    @Query() query: ListClaimSubscriptionsQueryDto,
  ): Promise<Page<ClaimSubscriptionDetailDto>> {
    return this.subscriptions.list(caller, query);
  }

  @Get('subscriptions/:subscription_id')
  @Authenticated('events:read')
  @ApiOperation({
    operationId: 'claimSubscriptions.get',
    summary: 'Get a claim event subscription',
    description:
      'What subscribing returned except the signing secret, plus `webhook_url` and the delivery `state` and `issue`. ' +
      'Visible to the same callers as in the list; an unsubscribed subscription is a 404, as for DELETE.',
  })
  @ApiOkResponse({ type: ClaimSubscriptionDetailDto })
  @ApiMalformedIdResponse('subscription_id', 'sub')
  @ApiNotFoundResponse()
  getSubscription(
    @CurrentPrincipal() caller: Principal,
    @Param() params: ClaimSubscriptionParamsDto,
  ): Promise<ClaimSubscriptionDetailDto> {
    return this.subscriptions.get(caller, params.subscription_id);
  }

  @Delete('subscriptions/:subscription_id')
  @Authenticated('events:read')
  @ApiOperation({
    operationId: 'claimSubscriptions.delete',
    summary: 'Unsubscribe a webhook from a claim’s events',
  })
  @ApiOkResponse({ type: UnsubscribedClaimDto })
  @ApiMalformedIdResponse('subscription_id', 'sub')
  @ApiNotFoundResponse()
  unsubscribe(
    @CurrentPrincipal() caller: Principal,
    @Param() params: ClaimSubscriptionParamsDto,
  ): Promise<UnsubscribedClaimDto> {
    return this.subscriptions.unsubscribe(caller, params.subscription_id);
  }

  @Post('subscriptions/:subscription_id/rotate-secret')
  @HttpCode(200)
  @Authenticated('notifications:write')
  @ApiOperation({
    operationId: 'claimSubscriptions.rotateSecret',
    summary: 'Rotate a claim subscription’s signing secret',
    description:
      'Returns a new `signing_secret`, shown only here. Until `previous_secret_expires_at` (WEBHOOK_SECRET_ROTATION_OVERLAP, 24 h by default) ' +
      'each delivery carries two `v1,` signatures in `webhook-signature`, with the new and the old secret, so a receiver verifies with either while it switches; ' +
      'after that only the new one verifies. Rotating again within that time drops the older secret at once. ' +
      'May rotate: whoever may unsubscribe it (app credentials and `claims:read:org` for the organisation’s, a user for its own); any other subscription is a 404.',
  })
  @ApiOkResponse({ type: RotatedSecretDto })
  @ApiMalformedIdResponse('subscription_id', 'sub')
  @ApiNotFoundResponse()
  rotateSecret(
    @CurrentPrincipal() caller: Principal,
    @Param() params: ClaimSubscriptionParamsDto,
  ): Promise<RotatedSecretDto> {
    return this.subscriptions.rotateSecret(caller, params.subscription_id);
  }

  @Post('subscriptions/:subscription_id/recover')
  @HttpCode(202)
  @Authenticated('notifications:write')
  @ApiOperation({
    operationId: 'claimSubscriptions.recover',
    summary: 'Recover a claim subscription’s failed deliveries',
    description:
      'Makes every `failed` delivery logged since `since` (and before `until`; with `include_blocked`, `blocked` ones too) owed again, oldest first, ' +
      'due at most WEBHOOK_RECOVER_RATE per second (10 by default) so fresh deliveries keep flowing. Each keeps its `webhook-id`. Deliveries whose event is past retention are skipped. ' +
      'The subscription must be delivering (`state` on). May recover: whoever may unsubscribe it; any other subscription is a 404.',
  })
  @ApiAcceptedResponse({ type: RecoveredDeliveriesDto })
  @ApiMalformedIdResponse('subscription_id', 'sub')
  @ApiNotFoundResponse()
  @ApiConflictResponse({ type: StandardErrorDto, description: 'The subscription is blocked.' })
  recover(
    @CurrentPrincipal() caller: Principal,
    @Param() params: ClaimSubscriptionParamsDto,
    @Body() dto: RecoverDeliveriesDto,
  ): Promise<RecoveredDeliveriesDto> {
    return this.subscriptions.recover(caller, params.subscription_id, dto);
  }

  @Get(':notification_id')
  @ApiOperation({ operationId: 'notifications.get', summary: 'Get notification with full payload' })
  @ApiOkResponse({ type: NotificationDetailDto })
  @ApiMalformedIdResponse('notification_id', 'notif')
  @ApiNotFoundResponse()
  get(@CurrentPrincipal() caller: Principal, @Param() params: NotificationParamsDto): Promise<NotificationDetailDto> {
    return this.notifications.get(caller, params.notification_id);
  }

  @Put(':notification_id')
  @ApiOperation({ operationId: 'notifications.markRead', summary: 'Mark notification as read (or unread)' })
  @ApiOkResponse({ type: MarkedReadDto })
  @ApiMalformedIdResponse('notification_id', 'notif', '`notification_id` is not a notif_ id, or the body is invalid.')
  @ApiNotFoundResponse()
  markRead(
    @CurrentPrincipal() caller: Principal,
    @Param() params: NotificationParamsDto,
    @Body() dto: MarkReadDto,
  ): Promise<MarkedReadDto> {
    return this.notifications.markRead(caller, params.notification_id, dto.read);
  }

  @Delete(':notification_id')
  @ApiOperation({ operationId: 'notifications.delete', summary: 'Delete a notification' })
  @ApiOkResponse({ type: DeletedNotificationDto })
  @ApiMalformedIdResponse('notification_id', 'notif')
  @ApiNotFoundResponse()
  delete(
    @CurrentPrincipal() caller: Principal,
    @Param() params: NotificationParamsDto,
  ): Promise<DeletedNotificationDto> {
    return this.notifications.delete(caller, params.notification_id);
  }
}
