import { ApiExtraModels, ApiProperty, ApiPropertyOptional, getSchemaPath } from '@nestjs/swagger';
import { Transform, Type } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayMinSize,
  IsArray,
  IsInt,
  IsISO8601,
  IsObject,
  IsOptional,
  IsString,
  Matches,
  Max,
  Min,
  ValidateNested,
} from 'class-validator';
import type { EventEnvelope } from '../../core/event-log/envelope';
import { MAX_SEQ_CURSOR } from '../../core/http/pagination';
import { IsExternalId } from '../../core/http/validation';

export class PublishEventDto {
  @ApiProperty({ example: 'claim_approved', description: 'A type from GET /api/v1/event-types.' })
  @IsString()
  @Matches(/^[a-z][a-z0-9_.-]{0,63}$/, { message: 'type must be an event type name such as claim_approved' })
  type: string;

  @ApiPropertyOptional({ example: '1', description: "Defaults to the type's latest version." })
  @IsOptional()
  @IsString()
  @Matches(/^\d{1,4}$/, { message: 'version must be a numeric string such as "1"' })
  version?: string;

  @ApiPropertyOptional({
    example: 'claim-9f2a3b4c-approved-1',
    description: 'Producer-chosen id. Publishing the same id again returns the original (200) and stores nothing.',
  })
  @IsOptional()
  @IsExternalId()
  id?: string;

  @ApiPropertyOptional({
    example: 'org_001',
    description: "Defaults to the credential's organisation; only the operator key may name another.",
  })
  @IsOptional()
  @IsExternalId()
  organisation_id?: string;

  @ApiPropertyOptional({ example: 'usr_84cd12ef' })
  @IsOptional()
  @IsExternalId()
  user_id?: string;

  @ApiPropertyOptional({ example: 'clm_9f2a3b4c' })
  @IsOptional()
  @IsExternalId()
  claim_id?: string;

  @ApiPropertyOptional({ example: '9b7f3c2a-2f41-4f5e-9f54-6c1d8a2b7e90' })
  @IsOptional()
  @IsExternalId()
  channel_id?: string;

  @ApiProperty({
    type: 'object',
    additionalProperties: true,
    example: { amount: 4850, currency: 'NOK', approver: 'usr_coord99' },
  })
  @IsObject()
  data: Record<string, unknown>;

  @ApiPropertyOptional({
    example: '2026-03-26T08:14:22Z',
    description: 'When it happened; defaults to when Herald received it.',
  })
  @IsOptional()
  @IsISO8601({ strict: true })
  occurred_at?: string;
}

export class PublishBatchDto {
  @ApiProperty({ type: [PublishEventDto], minItems: 1, maxItems: 500 })
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(500)
  @ValidateNested({ each: true })
  @Type(() => PublishEventDto)
  events: PublishEventDto[];
}

export class EventDto {
  @ApiProperty({ example: 'evt_01jd3m7k2q8w6t5v4x3y2z1a0b' }) id: string;
  @ApiProperty({ example: 42, description: 'Position in the global log; strictly increasing, no gaps.' }) seq: number;
  @ApiProperty({ example: 'claim_approved' }) type: string;
  @ApiProperty({ example: '1' }) version: string;
  @ApiProperty({ example: 'org_001' }) organisation_id: string;
  @ApiProperty({ type: String, nullable: true, example: 'usr_84cd12ef' }) user_id: string | null;
  @ApiProperty({ type: String, nullable: true, example: 'clm_9f2a3b4c' }) claim_id: string | null;
  @ApiProperty({ type: String, nullable: true, example: null }) channel_id: string | null;
  @ApiProperty({ type: 'object', additionalProperties: true }) data: Record<string, unknown>;
  @ApiProperty({ example: '2026-03-26T08:14:22.000Z' }) occurred_at: string;
  @ApiProperty({ example: '2026-03-26T08:14:22.120Z' }) received_at: string;
}

export class PublishBatchResultDto {
  @ApiProperty({ type: [EventDto], description: 'In request order; duplicates come back as the original.' })
  events: EventDto[];
  @ApiProperty({ example: 2 }) created: number;
  @ApiProperty({ example: 0 }) duplicates: number;
}

function toList({ value }: { value: unknown }): string[] | undefined {
  if (value === undefined) return undefined;
  const parts = (Array.isArray(value) ? value : [value]).flatMap((v) => String(v).split(','));
  return parts.map((s) => s.trim()).filter(Boolean);
}

export class ListEventsQueryDto {
  @ApiPropertyOptional({
    type: 'integer',
    description: 'Return events with seq greater than this.',
    default: 0,
    minimum: 0,
    maximum: MAX_SEQ_CURSOR,
  })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(0)
  @Max(MAX_SEQ_CURSOR)
  after: number = 0;

  @ApiPropertyOptional({ type: 'integer', default: 100, minimum: 1, maximum: 1000 })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(1000)
  limit: number = 100;

  @ApiPropertyOptional({
    description: 'Event types, comma-separated or repeated.',
    type: String,
    example: 'claim_approved,claim_rejected',
  })
  @IsOptional()
  @Transform(toList)
  @IsArray()
  @ArrayMaxSize(50)
  @IsString({ each: true })
  type?: string[];
}

export class EventPageDto {
  @ApiProperty({ type: [EventDto] }) data: EventDto[];
  @ApiProperty({ example: 42, description: 'Pass as `after` to read on.' }) next_after: number;
  @ApiProperty({ example: false }) has_more: boolean;
}

export class EventTypeVersionDto {
  @ApiProperty({
    type: 'object',
    additionalProperties: true,
    nullable: true,
    description:
      'JSON Schema (draft-07) of `data` for this version. Publishing checks `data` against it: a 400 whose `details` ' +
      'name each invalid field (`data.amount`). Fields it does not name are allowed. null: the version declares none.',
    example: {
      type: 'object',
      properties: { amount: { type: 'number' }, currency: { type: 'string' } },
      additionalProperties: true,
    },
  })
  schema: Record<string, unknown> | null;

  @ApiProperty({
    type: 'object',
    additionalProperties: true,
    description:
      'An event of this type and version as Socket.IO, raw WebSocket and webhook clients receive it: the CloudEvents ' +
      'envelope (GET /asyncapi.json describes it), whose `data` passes the schema.',
    example: {
      specversion: '1.0',
      id: 'evt_01jd3m7k2q8w6t5v4x3y2z1a0b',
      type: 'claim_approved',
      source: '/organisations/org_001',
      subject: 'claims/clm_9f2a3b4c',
      time: '2026-03-26T08:14:22.000Z',
      datacontenttype: 'application/json',
      data: { claim_id: 'clm_9f2a3b4c', amount: 4850, currency: 'NOK', approver: 'usr_coord99' },
      sequence: '42',
      typeversion: '1',
      organisationid: 'org_001',
      userid: 'usr_84cd12ef',
      claimid: 'clm_9f2a3b4c',
    },
  })
  example: EventEnvelope;
}

@ApiExtraModels(EventTypeVersionDto)
export class EventTypeDto {
  @ApiProperty({ example: 'channel.follow' }) type: string;
  @ApiProperty({ type: [String], example: ['1'] }) versions: string[];
  @ApiProperty({ example: 'channels' }) category: string;
  @ApiProperty() description: string;
  @ApiProperty({
    type: [String],
    example: ['channelId'],
    description: 'Condition fields a socket session subscription must give.',
  })
  conditions: string[];
  @ApiProperty({ type: [String], example: ['user'], description: 'Token kinds that may subscribe.' })
  token_kinds: string[];
  @ApiProperty({ example: 'users.read', description: 'Scope a session subscription needs.' }) scope: string;
  @ApiProperty({
    type: 'object',
    additionalProperties: { $ref: getSchemaPath(EventTypeVersionDto) },
    description: 'Keyed by version, one entry for each of `versions`: the schema of `data` and an example event.',
  })
  schemas: Record<string, EventTypeVersionDto>;
}

export class EventTypeListDto {
  @ApiProperty({ type: [EventTypeDto] }) data: EventTypeDto[];
}
