import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsObject, IsOptional, IsString, Length, Matches, ValidateBy } from 'class-validator';

/**
 * Presence and type only, with one field error either way; whether it is a session id at all
 * is the service's question, answered like an unknown session (seed 004's 400).
 */
function IsSessionIdField(): PropertyDecorator {
  return ValidateBy({
    name: 'isSessionIdField',
    validator: {
      validate: (value: unknown) => typeof value === 'string' && value.length > 0,
      defaultMessage: (args) =>
        args?.value === undefined || args.value === null || args.value === ''
          ? 'sessionId is required'
          : 'sessionId must be a string',
    },
  });
}

export class SessionSubscriptionDto {
  @ApiProperty({ example: 'channel.follow', description: 'Event type to subscribe to (GET /api/v1/event-types).' })
  @IsString()
  @Length(1, 64)
  type: string;

  @ApiPropertyOptional({ example: '1', description: 'Subscription version. Defaults to 1 when omitted.' })
  @IsOptional()
  @IsString()
  @Matches(/^\d{1,4}$/, { message: 'version must be a numeric string such as "1"' })
  version?: string;

  @ApiProperty({
    example: 'mO2rT1xq9bYk3LzA_7-c',
    pattern: '^[A-Za-z0-9_-]{20}$',
    description:
      'Socket session id (the Socket.IO `socket.id`, 20 characters of A-Z, a-z, 0-9, _ and -) that should join the subscription room. ' +
      'Anything else is answered like an unknown session: 400.',
  })
  @IsSessionIdField()
  sessionId: string;

  @ApiProperty({
    type: 'object',
    additionalProperties: { type: 'string' },
    example: { channelId: '9b7f3c2a-2f41-4f5e-9f54-6c1d8a2b7e90' },
    description: 'The condition fields the event type requires (channel.follow: `channelId`).',
  })
  @IsObject()
  condition: Record<string, unknown>;
}

export class SessionSubscriptionItemDto {
  @ApiProperty({ example: 'channel.follow' }) type: string;
  @ApiProperty({ example: '1' }) version: string;
  @ApiProperty({
    type: 'object',
    additionalProperties: { type: 'string' },
    example: { channelId: '9b7f3c2a-2f41-4f5e-9f54-6c1d8a2b7e90' },
  })
  condition: Record<string, string>;
}

export class SuccessDto {
  @ApiProperty({ example: true }) success: boolean;
  @ApiProperty({ example: 'success' }) message: string;
}

export class SessionSubscriptionListDto extends SuccessDto {
  @ApiProperty({ type: [SessionSubscriptionItemDto] }) data: SessionSubscriptionItemDto[];
}
