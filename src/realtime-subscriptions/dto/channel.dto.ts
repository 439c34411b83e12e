import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { ArrayMaxSize, ArrayUnique, IsArray, IsIn, IsOptional, IsString } from 'class-validator';
import { CLAIM_EVENT_TYPES } from '../../core/event-log/event-catalog';
import { PageQueryDto, PaginationDto } from '../../core/http/pagination';
import { IsExternalId, IsPrefixedId } from '../../core/http/validation';

const EVENT_TYPES_MESSAGE = `each event type must be one of ${CLAIM_EVENT_TYPES.join(', ')}`;

export class CreateOrganisationChannelDto {
  @ApiProperty({ example: 'org_001', description: "Must be the credential's organisation." })
  @IsExternalId()
  organisation_id: string;

  @ApiPropertyOptional({
    example: 'usr_coord99',
    description: 'The user who owns the channel (may attach to it). Defaults to the calling user.',
  })
  @IsOptional()
  @IsExternalId()
  user_id?: string;

  @ApiPropertyOptional({
    type: [String],
    enum: CLAIM_EVENT_TYPES,
    example: ['status_changed', 'claim_submitted', 'claim_approved', 'claim_rejected'],
    description: 'Omitted or empty: every claim event type.',
  })
  @IsOptional()
  @IsArray()
  @ArrayUnique()
  @ArrayMaxSize(20)
  @IsIn(CLAIM_EVENT_TYPES, { each: true, message: EVENT_TYPES_MESSAGE })
  event_types?: string[];
}

export class CreateUserChannelDto {
  @ApiProperty({ example: 'usr_84cd12ef' })
  @IsExternalId()
  user_id: string;

  @ApiPropertyOptional({
    type: [String],
    enum: CLAIM_EVENT_TYPES,
    example: ['status_changed', 'comment_added'],
    description: 'Omitted or empty: every claim event type.',
  })
  @IsOptional()
  @IsArray()
  @ArrayUnique()
  @ArrayMaxSize(20)
  @IsIn(CLAIM_EVENT_TYPES, { each: true, message: EVENT_TYPES_MESSAGE })
  event_types?: string[];
}

/** `/:channel_id`: an id that is not a chan_ id is a 400, like a malformed id in a body. */
export class ChannelParamsDto {
  @ApiProperty({ description: 'The `channel_id` returned when the channel was created.' })
  @IsPrefixedId('chan')
  channel_id: string;
}

export class ListChannelsQueryDto extends PageQueryDto {
  @ApiPropertyOptional({ example: 'org_001' })
  @IsOptional()
  @IsString()
  organisation_id?: string;

  @ApiPropertyOptional({ example: 'usr_coord99' })
  @IsOptional()
  @IsString()
  user_id?: string;

  @ApiPropertyOptional({ enum: ['connected', 'disconnected'] })
  @IsOptional()
  @IsIn(['connected', 'disconnected'])
  status?: 'connected' | 'disconnected';

  @ApiPropertyOptional({ enum: ['organisation_claims', 'user_claims'] })
  @IsOptional()
  @IsIn(['organisation_claims', 'user_claims'])
  subscription_type?: 'organisation_claims' | 'user_claims';
}

export class ChannelSummaryDto {
  @ApiProperty({ example: 'chan_01jd3m7k2q8w6t5v4x3y2z1a0b' }) channel_id: string;
  @ApiProperty({ enum: ['organisation_claims', 'user_claims'] }) subscription_type: string;
  @ApiProperty({ example: 'org_001' }) organisation_id: string;
  @ApiProperty({ type: String, nullable: true, example: 'usr_coord99' }) user_id: string | null;
  @ApiProperty({ enum: ['connected', 'disconnected'], description: 'connected while at least one client is attached' })
  status: string;
  @ApiProperty({ example: '2026-03-26T08:00:00.000Z' }) created_at: string;
  @ApiProperty({ type: String, nullable: true, example: '2026-03-26T08:14:22.000Z' }) last_event_at: string | null;
}

export class ChannelPageDto {
  @ApiProperty({ type: [ChannelSummaryDto] }) data: ChannelSummaryDto[];
  @ApiProperty({ type: PaginationDto }) pagination: PaginationDto;
}

export class ChannelDetailDto extends ChannelSummaryDto {
  @ApiProperty({ example: 14, description: 'Matching events since the channel was created, attached or not.' })
  event_count: number;
  @ApiProperty({ example: 'wss://realtime.example.com/channels/chan_01jd3m7k2q8w6t5v4x3y2z1a0b' })
  websocket_url: string;
}

export class CreatedOrganisationChannelDto {
  @ApiProperty() channel_id: string;
  @ApiProperty({ example: 'organisation_claims' }) subscription_type: string;
  @ApiProperty() organisation_id: string;
  @ApiProperty({ type: String, nullable: true }) user_id: string | null;
  @ApiProperty({ example: 'wss://realtime.example.com/channels/chan_01jd3m7k2q8w6t5v4x3y2z1a0b' })
  websocket_url: string;
  @ApiProperty({ enum: ['connected', 'disconnected'] }) status: string;
  @ApiProperty() created_at: string;
}

export class CreatedUserChannelDto {
  @ApiProperty() channel_id: string;
  @ApiProperty({ example: 'user_claims' }) subscription_type: string;
  @ApiProperty() user_id: string;
  @ApiProperty() websocket_url: string;
  @ApiProperty({ enum: ['connected', 'disconnected'] }) status: string;
  @ApiProperty() created_at: string;
}

export class ReconnectResultDto {
  @ApiProperty() channel_id: string;
  @ApiProperty({ enum: ['connected', 'disconnected'] }) status: string;
  @ApiProperty({ example: '2026-03-26T09:15:00.000Z' }) reconnected_at: string;
  @ApiProperty({
    example: 2,
    description:
      "Matching events after the channel's cursor; replayed in seq order to the next client that attaches (and to those attached now).",
  })
  missed_events: number;
  @ApiProperty({ type: 'integer', nullable: true, example: 118, description: 'First seq of the replayed range.' })
  from_seq: number | null;
  @ApiProperty({ type: 'integer', nullable: true, example: 131, description: 'Last seq of the replayed range.' })
  to_seq: number | null;
  @ApiProperty({ example: true, description: 'false when retention already pruned part of the gap.' })
  complete: boolean;
}

export class ClosedChannelDto {
  @ApiProperty() channel_id: string;
  @ApiProperty({ example: true }) unsubscribed: boolean;
  @ApiProperty() closed_at: string;
}
