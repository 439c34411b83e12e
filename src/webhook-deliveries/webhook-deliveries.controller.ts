import { Controller, ForbiddenException, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import {
  ApiAcceptedResponse,
  ApiBadRequestResponse,
  ApiConflictResponse,
  ApiForbiddenResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
} from '@nestjs/swagger';
import { Authenticated, CurrentPrincipal } from '../core/auth/decorators';
import { deliveryScopeOf, managesWebhooks, resendsFor, type Principal } from '../core/auth/principal';
import { StandardErrorDto } from '../core/http/error.dto';
import { ApiMalformedIdResponse } from '../core/http/validation';
import { DeliveryNotFoundException, DeliveryOperations } from '../core/webhooks/delivery-operations.service';
import type { DeliveryAttempt, DeliveryLogEntry } from '../core/webhooks/webhook.types';
import {
  DeliveryParamsDto,
  ListWebhookDeliveriesQueryDto,
  WebhookDeliveryDetailDto,
  WebhookDeliveryDto,
  WebhookDeliveryPageDto,
} from './dto/webhook-delivery.dto';

function toDelivery(e: DeliveryLogEntry): WebhookDeliveryDto {
  return {
    id: e.id,
    subscription_id: e.endpoint_id,
    event_id: e.event_id,
    event_seq: e.event_seq,
    status: e.status,
    attempt_count: e.attempts,
    response_status: e.response_status,
    error: e.error,
    created_at: e.created_at,
    delivered_at: e.delivered_at,
    duration_ms: e.duration_ms,
    next_attempt_at: e.next_attempt_at,
  };
}

function toDetail(e: DeliveryLogEntry, attempts: DeliveryAttempt[]): WebhookDeliveryDetailDto {
  return {
    ...toDelivery(e),
    attempts: attempts.map((a) => ({
      attempt: a.attempt,
      attempted_at: a.attempted_at,
      outcome: a.outcome,
      request_headers: a.request_headers,
      response_status: a.response_status,
      response_body: a.response_body,
      duration_ms: a.duration_ms,
      error: a.error,
    })),
  };
}

/**
 * One delivery log for every webhook Herald sends, whichever API owns the subscription (claim
 * webhooks and workspace subscriptions alike). The workspace alert history reads the same records.
 */
@ApiTags('webhook-deliveries')
@Controller('api/v1/webhook-deliveries')
export class WebhookDeliveriesController {
  constructor(private readonly operations: DeliveryOperations) {}

  @Get()
  @Authenticated('events:read')
  @ApiOperation({
    operationId: 'webhookDeliveries.list',
    summary: 'List webhook deliveries',
    description:
      'Newest first. Pass `next_cursor` as `cursor` for the next page: paging never skips or repeats an entry, and deliveries logged meanwhile appear only on a new first page. ' +
      'An app, an `admin` or a holder of claims:read:org sees the whole organisation’s deliveries; a user those of the subscriptions it owns. ' +
      'Deliveries of workspace subscriptions appear only for credentials of their workspace.',
  })
  @ApiOkResponse({ type: WebhookDeliveryPageDto })
  @ApiBadRequestResponse({
    type: StandardErrorDto,
    description: 'A malformed filter, date-time or cursor.',
    example: {
      statusCode: 400,
      error: 'Bad Request',
      message: 'since must be an RFC 3339 date-time, e.g. 2026-03-26T08:14:22.123456Z',
    },
  })
  async list(
    @CurrentPrincipal() caller: Principal,
    @Query() query: ListWebhookDeliveriesQueryDto,
  ): Promise<WebhookDeliveryPageDto> {
    const scope = deliveryScopeOf(caller);
    if (scope === null) return { data: [], next_cursor: null };
    const page = await this.operations.list({
      organisation_id: caller.organisation_id,
      ...scope,
      endpoint_id: query.subscription_id,
      event_id: query.event_id,
      status: query.status,
      since: query.since,
      until: query.until,
      limit: query.limit,
      cursor: query.cursor,
    });
    return { data: page.entries.map(toDelivery), next_cursor: page.next_cursor };
  }

  @Get(':delivery_id')
  @Authenticated('events:read')
  @ApiOperation({
    operationId: 'webhookDeliveries.get',
    summary: 'Get a webhook delivery with its attempts',
    description:
      'Each attempt: when, the request headers Herald sent (signature included, never the secret), the response status, the first 4 KiB of the response body, the duration and the error. ' +
      '`next_attempt_at` while the delivery is owed. At most the newest 100 attempts are listed (`attempt_count` is the total). Visible to the same callers as in the list.',
  })
  @ApiOkResponse({ type: WebhookDeliveryDetailDto })
  @ApiMalformedIdResponse('delivery_id', 'dlv')
  @ApiNotFoundResponse({ type: StandardErrorDto, description: 'No such delivery visible to the caller.' })
  async get(
    @CurrentPrincipal() caller: Principal,
    @Param() params: DeliveryParamsDto,
  ): Promise<WebhookDeliveryDetailDto> {
    const scope = deliveryScopeOf(caller);
    if (scope === null) throw new DeliveryNotFoundException(params.delivery_id);
    const { entry, attempts } = await this.operations.get(caller.organisation_id, params.delivery_id, scope);
    return toDetail(entry, attempts);
  }

  @Post(':delivery_id/resend')
  @HttpCode(202)
  @Authenticated()
  @ApiOperation({
    operationId: 'webhookDeliveries.resend',
    summary: 'Resend a webhook delivery',
    description:
      'Makes a delivered, failed, blocked, rate-limited or cancelled delivery owed again, due now: the next attempt carries the same `webhook-id` (receivers drop duplicates by it), ' +
      'is logged as its own attempt, and if it fails is retried on the retry schedule again. The body is rebuilt from the event log. ' +
      'Who may: as for recovering the subscription: for a workspace subscription scope subscriptions:write and its owning user, an app or `admin`; ' +
      'for a claim webhook scope notifications:write and its own user or an org-wide reader (else 403; a delivery the caller cannot see is a 404).',
  })
  @ApiAcceptedResponse({ type: WebhookDeliveryDto, description: 'The delivery, `pending` and due now.' })
  @ApiForbiddenResponse({
    type: StandardErrorDto,
    description:
      'Without subscriptions:write or notifications:write, or not one who may send to this subscription again.',
  })
  @ApiMalformedIdResponse('delivery_id', 'dlv')
  @ApiNotFoundResponse({ type: StandardErrorDto, description: 'No such delivery visible to the caller.' })
  @ApiConflictResponse({
    type: StandardErrorDto,
    description:
      'The delivery is still owed, its subscription was removed or is not `on`, or its event is past retention.',
    example: {
      statusCode: 409,
      error: 'Conflict',
      message:
        'Subscription sub_01jd3m7k2q8w6t5v4x3y2z1a0b is blocked: turn it on before resending or recovering its deliveries',
    },
  })
  async resend(@CurrentPrincipal() caller: Principal, @Param() params: DeliveryParamsDto): Promise<WebhookDeliveryDto> {
    if (!managesWebhooks(caller))
      throw new ForbiddenException('Resending needs scope subscriptions:write or notifications:write');
    const scope = deliveryScopeOf(caller);
    if (scope === null) throw new DeliveryNotFoundException(params.delivery_id);
    return toDelivery(
      await this.operations.resend(caller.organisation_id, params.delivery_id, scope, (subscription) =>
        resendsFor(caller, subscription),
      ),
    );
  }
}
