import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsBoolean, IsOptional, IsString, MaxLength } from 'class-validator';

/**
 * Bodies and answers of the webhook operations each subscription-owning API exposes on its
 * subscriptions: `POST …/:id/recover` (`DeliveryOperations.recover`) and `POST …/:id/rotate-secret`
 * (`WebhooksService.rotateSecret`).
 */
export class RecoverDeliveriesDto {
  @ApiProperty({
    format: 'date-time',
    example: '2026-03-26T08:00:00Z',
    description: 'Requeue deliveries logged at or after this RFC 3339 date-time.',
  })
  @IsString()
  @MaxLength(64)
  since: string;

  @ApiPropertyOptional({ format: 'date-time', example: '2026-03-27T08:00:00Z', description: '…and before this one.' })
  @IsOptional()
  @IsString()
  @MaxLength(64)
  until?: string;

  @ApiPropertyOptional({
    default: false,
    description: 'Also requeue `blocked` deliveries (logged but never sent while the subscription was blocked).',
  })
  @IsOptional()
  @IsBoolean()
  include_blocked?: boolean;
}

export class RecoveredDeliveriesDto {
  @ApiProperty({ example: 'sub_01jd3m7k2q8w6t5v4x3y2z1a0b' }) subscription_id: string;
  @ApiProperty({
    example: 42,
    description: 'Deliveries made owed again, due oldest first at WEBHOOK_RECOVER_RATE per second from now.',
  })
  queued: number;
  @ApiProperty({
    example: 0,
    description: 'Deliveries left as they were because their event is past retention.',
  })
  skipped: number;
  @ApiProperty({
    example: false,
    description:
      'One call requeues at most 10,000 deliveries; true when it stopped there. Call again with the same body: what it requeued is no longer failed, so the next call goes on from there.',
  })
  more: boolean;
}

/** `POST …/rotate-secret`: the new secret, shown only here. */
export class RotatedSecretDto {
  @ApiProperty({ example: 'sub_01jd3m7k2q8w6t5v4x3y2z1a0b' }) subscription_id: string;
  @ApiProperty({
    example: 'whsec_Nq0uJ7c3P4sRk2XvB9tLmYwE5hG8aZfD',
    description: 'The new secret: verifies the webhook-signature header (Standard Webhooks). Shown only here.',
  })
  signing_secret: string;
  @ApiProperty({
    example: '2026-03-27T08:00:00.000Z',
    description:
      'Until then deliveries carry two signatures, with the new secret and the old one, so a receiver verifies with either; after it, only the new secret verifies.',
  })
  previous_secret_expires_at: string;
}
