import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import {
  IsBoolean,
  IsIn,
  IsNumber,
  IsOptional,
  IsString,
  Length,
  Max,
  Min,
  ValidateBy,
  ValidateIf,
} from 'class-validator';
import { PageQueryDto, PaginationDto } from '../../core/http/pagination';
import { IsExternalId, IsPrefixedId, IsPresent } from '../../core/http/validation';
import { CLAIM_STATUSES, ISO_CURRENCIES, type ClaimStatus } from '../notification-payload';

const CURRENCY_MESSAGE = 'currency must be an ISO 4217 code such as NOK, EUR or USD';
const upper = ({ value }: { value: unknown }) => (typeof value === 'string' ? value.toUpperCase() : value);

/**
 * At most four decimal places. class-validator's own `maxDecimalPlaces` throws (a 500) on numbers
 * JavaScript prints in exponent form, such as 1e-7, so the places are checked here instead.
 */
function HasAtMostFourDecimals() {
  return ValidateBy({
    name: 'hasAtMostFourDecimals',
    validator: {
      validate: (value: unknown) => typeof value !== 'number' || Math.round(value * 1e4) / 1e4 === value,
      defaultMessage: () => 'amount may have at most 4 decimal places',
    },
  });
}

class MoneyFields {
  @ApiPropertyOptional({ example: 4850, description: 'Printed with two decimals; give currency with it.' })
  @ValidateIf((o: MoneyFields) => o.amount !== undefined || o.currency !== undefined)
  @IsPresent('amount is required with currency')
  @IsNumber({ allowNaN: false, allowInfinity: false }, { message: 'amount must be a number' })
  @HasAtMostFourDecimals()
  @Min(0)
  @Max(1e12)
  amount?: number;

  @ApiPropertyOptional({ example: 'NOK', description: 'ISO 4217 code; give amount with it.' })
  @ValidateIf((o: MoneyFields) => o.amount !== undefined || o.currency !== undefined)
  @Transform(upper)
  @IsPresent('currency is required with amount')
  @IsIn([...ISO_CURRENCIES], { message: CURRENCY_MESSAGE })
  currency?: string;
}

export class NotifyStatusChangeDto extends MoneyFields {
  @ApiProperty({ example: 'clm_9f2a3b4c' })
  @IsExternalId()
  claim_id: string;

  @ApiProperty({ enum: CLAIM_STATUSES, example: 'approved' })
  @IsIn(CLAIM_STATUSES, { message: `new_status must be one of ${CLAIM_STATUSES.join(', ')}` })
  new_status: ClaimStatus;

  @ApiProperty({ example: 'usr_84cd12ef' })
  @IsExternalId()
  recipient_user_id: string;

  @ApiPropertyOptional({ example: 'All receipts verified.' })
  @IsOptional()
  @IsString()
  @Length(0, 2000)
  comment?: string;
}

export class BuildPayloadDto extends MoneyFields {
  @ApiProperty({ enum: CLAIM_STATUSES, example: 'rejected' })
  @IsIn(CLAIM_STATUSES, { message: `status must be one of ${CLAIM_STATUSES.join(', ')}` })
  status: ClaimStatus;

  @ApiPropertyOptional({ example: 'Missing receipt for hotel stay.' })
  @IsOptional()
  @IsString()
  @Length(0, 2000)
  comment?: string;

  @ApiPropertyOptional({ example: 'clm_9f2a3b4c' })
  @IsOptional()
  @IsExternalId()
  claim_id?: string;
}

export class NotificationPayloadDto {
  @ApiProperty({ example: 'Expense claim approved' }) title: string;
  @ApiProperty({ example: 'Your expense claim for 4850.00 NOK has been approved.' }) body: string;
  @ApiProperty({ example: '/claims/clm_9f2a3b4c' }) action_url: string;
  @ApiProperty({ example: 'View claim' }) action_label: string;
  @ApiProperty({ enum: ['info', 'success', 'warning', 'error'], example: 'success' }) severity: string;
}

export class SentNotificationDto {
  @ApiProperty({ example: 'notif_01jd3m7k2q8w6t5v4x3y2z1a0b' }) notification_id: string;
  @ApiProperty({ example: 'clm_9f2a3b4c' }) claim_id: string;
  @ApiProperty({ example: 'usr_84cd12ef' }) recipient_user_id: string;
  @ApiProperty({ enum: CLAIM_STATUSES, example: 'approved' }) new_status: string;
  @ApiProperty({ example: '2026-03-26T08:10:00.000Z' }) sent_at: string;
}

export class NotificationSummaryDto extends SentNotificationDto {
  @ApiProperty({ type: String, nullable: true, example: 'All receipts verified.' }) comment: string | null;
  @ApiProperty({ example: false }) read: boolean;
}

export class NotificationDetailDto extends NotificationSummaryDto {
  @ApiProperty({ type: NotificationPayloadDto }) payload: NotificationPayloadDto;
}

export class NotificationPageDto {
  @ApiProperty({ type: [NotificationSummaryDto] }) data: NotificationSummaryDto[];
  @ApiProperty({ type: PaginationDto }) pagination: PaginationDto;
}

/** `/:notification_id`: an id that is not a notif_ id is a 400, like a malformed id in a body. */
export class NotificationParamsDto {
  @ApiProperty({ description: 'The `notification_id` returned when the notification was sent.' })
  @IsPrefixedId('notif')
  notification_id: string;
}

export class ListNotificationsQueryDto extends PageQueryDto {
  @ApiPropertyOptional({ example: 'usr_84cd12ef' })
  @IsOptional()
  @IsString()
  recipient_user_id?: string;

  @ApiPropertyOptional({ example: 'clm_9f2a3b4c' })
  @IsOptional()
  @IsString()
  claim_id?: string;

  @ApiPropertyOptional({ type: Boolean })
  @IsOptional()
  @Transform(({ value }) => (value === 'true' ? true : value === 'false' ? false : value))
  @IsBoolean({ message: 'read must be true or false' })
  read?: boolean;
}

export class MarkReadDto {
  @ApiProperty({ example: true })
  @IsBoolean()
  read: boolean;
}

export class MarkedReadDto {
  @ApiProperty() notification_id: string;
  @ApiProperty({ example: true }) read: boolean;
  @ApiProperty({ example: '2026-03-26T08:15:00.000Z' }) updated_at: string;
}

export class DeletedNotificationDto {
  @ApiProperty({ example: true }) deleted: boolean;
  @ApiProperty() notification_id: string;
}

export class SubscribeToClaimDto {
  @ApiProperty({ example: 'clm_9f2a3b4c' })
  @IsExternalId()
  claim_id: string;

  @ApiProperty({ example: 'usr_84cd12ef' })
  @IsExternalId()
  user_id: string;

  @ApiProperty({ example: 'https://client.example.com/webhooks/claim-events' })
  @IsString()
  @Length(1, 2048)
  webhook_url: string;
}

/** `/subscriptions/:subscription_id`: an id that is not a sub_ id is a 400. */
export class ClaimSubscriptionParamsDto {
  @ApiProperty({ description: 'The `subscription_id` returned when subscribing.' })
  @IsPrefixedId('sub')
  subscription_id: string;
}

export class ClaimSubscriptionDto {
  @ApiProperty({ example: 'sub_01jd3m7k2q8w6t5v4x3y2z1a0b' }) subscription_id: string;
  @ApiProperty() claim_id: string;
  @ApiProperty() user_id: string;
  @ApiProperty({ example: true }) active: boolean;
  @ApiProperty() created_at: string;
}

export class CreatedClaimSubscriptionDto extends ClaimSubscriptionDto {
  @ApiProperty({
    example: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
    description: 'Verifies the webhook-signature header (Standard Webhooks). Shown only here.',
  })
  signing_secret: string;
}

/** `GET /subscriptions`: `?page&limit`, optionally narrowed to one user or claim. */
export class ListClaimSubscriptionsQueryDto extends PageQueryDto {
  @ApiPropertyOptional({
    example: 'usr_84cd12ef',
    description: 'Only subscriptions for this user. A plain user credential sees only its own either way.',
  })
  @IsOptional()
  @IsString()
  user_id?: string;

  @ApiPropertyOptional({ example: 'clm_9f2a3b4c' })
  @IsOptional()
  @IsString()
  claim_id?: string;
}

/** A subscription read back: what subscribing returned, minus the secret, plus where it delivers and how. */
export class ClaimSubscriptionDetailDto {
  @ApiProperty({ example: 'sub_01jd3m7k2q8w6t5v4x3y2z1a0b' }) subscription_id: string;
  @ApiProperty({ example: 'clm_9f2a3b4c' }) claim_id: string;
  @ApiProperty({ example: 'usr_84cd12ef' }) user_id: string;
  @ApiProperty({ example: 'https://client.example.com/webhooks/claim-events' }) webhook_url: string;
  @ApiProperty({ example: true }) active: boolean;
  @ApiProperty({
    enum: ['on', 'off', 'blocked'],
    example: 'on',
    description:
      'Delivery state of the webhook: `blocked` after repeated failures (see `issue`), `off` when not sending.',
  })
  state: string;
  @ApiProperty({
    type: String,
    nullable: true,
    example: null,
    description: 'Why the webhook is blocked, if it is.',
  })
  issue: string | null;
  @ApiProperty({ example: '2026-03-26T08:00:00.000Z' }) created_at: string;
}

export class ClaimSubscriptionPageDto {
  @ApiProperty({ type: [ClaimSubscriptionDetailDto] }) data: ClaimSubscriptionDetailDto[];
  @ApiProperty({ type: PaginationDto }) pagination: PaginationDto;
}

export class UnsubscribedClaimDto {
  @ApiProperty({ example: true }) unsubscribed: boolean;
  @ApiProperty() subscription_id: string;
}
