import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsObject, IsOptional, IsString, Length, Matches } from 'class-validator';

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

  @ApiProperty({ example: 'SOCKET_SESSION_ID', description: 'Socket session id (the Socket.IO `socket.id`) that should join the subscription room.' })
  @IsString()
  @Length(1, 64)
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
  @ApiProperty({ type: 'object', additionalProperties: { type: 'string' }, example: { channelId: '9b7f3c2a-2f41-4f5e-9f54-6c1d8a2b7e90' } })
  condition: Record<string, string>;
}

export class SuccessDto {
  @ApiProperty({ example: true }) success: boolean;
  @ApiProperty({ example: 'success' }) message: string;
}

export class SessionSubscriptionListDto extends SuccessDto {
  @ApiProperty({ type: [SessionSubscriptionItemDto] }) data: SessionSubscriptionItemDto[];
}

/** Seed 004's error envelope. */
export class Seed004ErrorDto {
  @ApiProperty({ example: false }) success: boolean;
  @ApiProperty({ example: 'Unknown session SOCKET_SESSION_ID' }) message: string;
  @ApiPropertyOptional({ example: [{ field: 'condition.channelId', message: 'condition.channelId is required for channel.follow' }] })
  errors?: { field: string; message: string }[];
}
