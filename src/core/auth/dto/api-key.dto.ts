import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { ArrayMaxSize, ArrayUnique, IsArray, IsIn, IsOptional, IsString, Length, ValidateIf } from 'class-validator';
import { IsExternalId, IsPrefixedId, IsPresent } from '../../http/validation';
import { IsFutureDateTime } from '../key-expiry';
import { SCOPES } from '../principal';

export class CreateApiKeyDto {
  @ApiProperty({ enum: ['user', 'app'], example: 'app' })
  @IsIn(['user', 'app'])
  kind: 'user' | 'app';

  @ApiPropertyOptional({ example: 'usr_84cd12ef', description: 'Required for user keys, forbidden for app keys.' })
  @ValidateIf((o: CreateApiKeyDto) => o.kind === 'user' || (o.user_id !== undefined && o.user_id !== null))
  @IsPresent('user_id is required for a user key')
  @IsExternalId()
  user_id?: string;

  @ApiPropertyOptional({
    example: 'org_001',
    description: "Defaults to the caller's organisation. Only the operator key may name another.",
  })
  @IsOptional()
  @IsExternalId()
  organisation_id?: string;

  @ApiPropertyOptional({ type: [String], example: ['ws_finance'] })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(100)
  @ArrayUnique()
  @IsExternalId({ each: true, message: 'each workspace id must be 1-128 characters of letters, digits and ._:-' })
  workspace_ids?: string[];

  @ApiProperty({ type: [String], enum: SCOPES, example: ['events:publish', 'events:read'] })
  @IsArray()
  @ArrayUnique()
  @IsIn(SCOPES as unknown as string[], { each: true, message: `each scope must be one of ${SCOPES.join(', ')}` })
  scopes: string[];

  @ApiPropertyOptional({ example: 'claims backend' })
  @IsOptional()
  @IsString()
  @Length(1, 200)
  name?: string;

  @ApiPropertyOptional({
    type: String,
    format: 'date-time',
    nullable: true,
    example: '2030-01-31T00:00:00Z',
    description:
      'When the key stops working (RFC 3339 date-time with a time zone; must be in the future). From then on it is refused ' +
      'with 401 "API key expired" on every transport. Omit, or send null, for a key that does not expire.',
  })
  @IsOptional()
  @IsFutureDateTime()
  expires_at?: string | null;
}

/** `/:key_id`: an id that is not a key_ id is a 400. */
export class ApiKeyParamsDto {
  @ApiProperty({ description: 'The `key_id` returned when the key was created.' })
  @IsPrefixedId('key')
  key_id: string;
}

export class ApiKeyDto {
  @ApiProperty({ example: 'key_01jd3m7k2q8w6t5v4x3y2z1a0b' }) key_id: string;
  @ApiProperty({ type: String, nullable: true, example: 'claims backend' }) name: string | null;
  @ApiProperty({ enum: ['user', 'app'] }) kind: 'user' | 'app';
  @ApiProperty({ type: String, nullable: true, example: null }) user_id: string | null;
  @ApiProperty({ example: 'org_001' }) organisation_id: string;
  @ApiProperty({ type: [String] }) workspace_ids: string[];
  @ApiProperty({ type: [String] }) scopes: string[];
  @ApiProperty({ description: 'The key may manage keys of every organisation.' }) operator: boolean;
  @ApiProperty({ example: 'hrld_Ab3', description: 'The first characters of the token.' }) token_hint: string;
  @ApiProperty({ example: '2026-03-26T08:00:00.000Z' }) created_at: string;
  @ApiProperty({
    type: String,
    nullable: true,
    example: 'key_01jd3m7k2q8w6t5v4x3y2z1a0c',
    description:
      'Who created the key: the id of the API key that created it, `jwt:<sub>` (user token) or `jwt:<org>` (app token) for a ' +
      'JWT, or `operator` for keys made outside the API (the bootstrap operator key, `npm run key:create`). Null for a key made ' +
      'before this was recorded by an app JWT or the command line.',
  })
  created_by: string | null;
  @ApiProperty({
    type: String,
    format: 'date-time',
    nullable: true,
    example: '2030-01-31T00:00:00.000Z',
    description: 'When the key stops working (UTC); null if it does not expire.',
  })
  expires_at: string | null;
  @ApiProperty({ type: String, format: 'date-time', nullable: true, example: null }) revoked_at: string | null;
}

export class CreatedApiKeyDto extends ApiKeyDto {
  @ApiProperty({ description: 'The secret token. Shown only in this response; Herald keeps only its hash.' })
  token: string;
}

export class RevokedApiKeyDto {
  @ApiProperty() key_id: string;
  @ApiProperty({ example: true }) revoked: boolean;
  @ApiProperty() revoked_at: string;
}
