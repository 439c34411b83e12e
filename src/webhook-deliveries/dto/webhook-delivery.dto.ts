import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsIn, IsInt, IsOptional, IsString, Matches, Max, MaxLength, Min } from 'class-validator';
import { IsExternalId, IsPrefixedId } from '../../core/http/validation';
import type { DeliveryStatus } from '../../core/webhooks/webhook.types';

export const DELIVERY_STATUSES: DeliveryStatus[] = [
  'pending',
  'delivered',
  'failed',
  'rate_limited',
  'blocked',
  'cancelled',
];

/** Claim webhook subscriptions (`sub_`) and workspace subscriptions (`wsub_`) both have deliveries. */
const SUBSCRIPTION_ID = /^(sub|wsub)_[0-9a-z]{26}$/;
const SUBSCRIPTION_ID_MESSAGE = 'subscription_id must be a subscription id (sub_… or wsub_…)';
const DATE_TIME_EXAMPLE = '2026-03-26T08:00:00Z';

export class DeliveryParamsDto {
  @ApiProperty({ description: 'The delivery id; it is also the `webhook-id` header of every attempt.' })
  @IsPrefixedId('dlv')
  delivery_id: string;
}

export class ListWebhookDeliveriesQueryDto {
  @ApiPropertyOptional({
    description: 'Only deliveries to this subscription (a claim webhook `sub_…` or a workspace subscription `wsub_…`).',
    pattern: SUBSCRIPTION_ID.source,
    example: 'sub_01jd3m7k2q8w6t5v4x3y2z1a0b',
  })
  @IsOptional()
  @Matches(SUBSCRIPTION_ID, { message: SUBSCRIPTION_ID_MESSAGE })
  subscription_id?: string;

  @ApiPropertyOptional({ description: 'Only deliveries of this event.', example: 'evt_01jd3m7k2q8w6t5v4x3y2z1a0b' })
  @IsOptional()
  @IsExternalId()
  event_id?: string;

  @ApiPropertyOptional({ enum: DELIVERY_STATUSES })
  @IsOptional()
  @IsIn(DELIVERY_STATUSES, { message: `status must be one of ${DELIVERY_STATUSES.join(', ')}` })
  status?: DeliveryStatus;

  @ApiPropertyOptional({
    format: 'date-time',
    example: DATE_TIME_EXAMPLE,
    description: 'Deliveries logged at or after this RFC 3339 date-time.',
  })
  @IsOptional()
  @IsString()
  @MaxLength(64)
  since?: string;

  @ApiPropertyOptional({
    format: 'date-time',
    example: '2026-03-27T08:00:00Z',
    description: 'Deliveries logged before this RFC 3339 date-time.',
  })
  @IsOptional()
  @IsString()
  @MaxLength(64)
  until?: string;

  @ApiPropertyOptional({ type: 'integer', minimum: 1, maximum: 100, default: 20 })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(100)
  limit: number = 20;

  @ApiPropertyOptional({
    description: '`next_cursor` of the previous page; omit for the newest deliveries.',
    example: 'MjAyNi0wMy0yNlQwODoxNDoyMi4xMjM0NTZa',
  })
  @IsOptional()
  @IsString()
  @MaxLength(128)
  cursor?: string;
}

export class WebhookDeliveryDto {
  @ApiProperty({
    example: 'dlv_01jd3m7k2q8w6t5v4x3y2z1a0b',
    description: 'Also the `webhook-id` of every attempt: receivers drop duplicates by it.',
  })
  id: string;
  @ApiProperty({ example: 'sub_01jd3m7k2q8w6t5v4x3y2z1a0b' }) subscription_id: string;
  @ApiProperty({ example: 'evt_01jd3m7k2q8w6t5v4x3y2z1a0b' }) event_id: string;
  @ApiProperty({ example: 1042 }) event_seq: number;
  @ApiProperty({
    enum: DELIVERY_STATUSES,
    example: 'delivered',
    description:
      '`pending` is owed (first attempt or a retry due at `next_attempt_at`); the rest are final. `blocked` and `rate_limited` were never sent; `cancelled` was owed when its subscription was removed or turned off.',
  })
  status: DeliveryStatus;
  @ApiProperty({ example: 1, description: 'Attempts made so far.' }) attempt_count: number;
  @ApiProperty({ type: 'integer', nullable: true, example: 200, description: 'Status of the last response.' })
  response_status: number | null;
  @ApiProperty({ type: 'string', nullable: true, example: null, description: 'Why the last attempt failed.' })
  error: string | null;
  @ApiProperty({
    format: 'date-time',
    example: '2026-03-26T08:14:22.123456Z',
    description: 'When the delivery was logged: RFC 3339 UTC with microseconds, unique within the organisation.',
  })
  created_at: string;
  @ApiProperty({ type: 'string', format: 'date-time', nullable: true, example: '2026-03-26T08:14:22.310Z' })
  delivered_at: string | null;
  @ApiProperty({ type: 'integer', nullable: true, example: 184, description: 'Duration of the last attempt.' })
  duration_ms: number | null;
  @ApiProperty({
    type: 'string',
    format: 'date-time',
    nullable: true,
    example: null,
    description: 'When the next attempt is due, while the delivery is `pending`.',
  })
  next_attempt_at: string | null;
}

export class WebhookDeliveryPageDto {
  @ApiProperty({ type: [WebhookDeliveryDto] }) data: WebhookDeliveryDto[];
  @ApiProperty({
    type: 'string',
    nullable: true,
    example: 'MjAyNi0wMy0yNlQwODoxNDoyMi4xMjM0NTZa',
    description: 'Pass as `cursor` for the next (older) page; null on the last page.',
  })
  next_cursor: string | null;
}

export class WebhookAttemptDto {
  @ApiProperty({ example: 1 }) attempt: number;
  @ApiProperty({ format: 'date-time', example: '2026-03-26T08:14:22.126Z' }) attempted_at: string;
  @ApiProperty({ enum: ['delivered', 'retrying', 'failed'], example: 'delivered' }) outcome: string;
  @ApiProperty({
    type: 'object',
    additionalProperties: { type: 'string' },
    nullable: true,
    example: {
      'content-type': 'application/json',
      'user-agent': 'Herald-Webhooks/1',
      'webhook-id': 'dlv_01jd3m7k2q8w6t5v4x3y2z1a0b',
      'webhook-timestamp': '1774512862',
      'webhook-signature': 'v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=',
      'x-team': '********',
    },
    description:
      'The request headers as sent, signature included (never the secret). Values of headers the subscription itself adds are shown as `********`.',
  })
  request_headers: Record<string, string> | null;
  @ApiProperty({ type: 'integer', nullable: true, example: 200 }) response_status: number | null;
  @ApiProperty({
    type: 'string',
    nullable: true,
    example: '{"ok":true}',
    description: 'The first 4 KiB of the response body (UTF-8).',
  })
  response_body: string | null;
  @ApiProperty({ example: 184 }) duration_ms: number;
  @ApiProperty({ type: 'string', nullable: true, example: null }) error: string | null;
}

export class WebhookDeliveryDetailDto extends WebhookDeliveryDto {
  @ApiProperty({ type: [WebhookAttemptDto], description: 'Every attempt, oldest first.' })
  attempts: WebhookAttemptDto[];
}
