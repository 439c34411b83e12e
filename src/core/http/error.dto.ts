import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';

/**
 * The error envelopes of docs/api-contracts.md "Error bodies" as Swagger schemas (errors.ts renders them). 004's
 * envelope is documented beside its controller; `documentErrorResponses` (swagger.ts) gives every
 * error response without a schema the one of its family.
 */

export class FieldErrorDto {
  @ApiProperty({ example: 'resources', description: 'Path of the field: `rules[0].trigger`.' }) field: string;
  @ApiProperty({ example: 'resources is required' }) message: string;
}

/** 000, 002, 003 and Herald's own endpoints. */
export class StandardErrorDto {
  @ApiProperty({ type: 'integer', example: 400 }) statusCode: number;
  @ApiProperty({ example: 'Bad Request', description: 'The status text.' }) error: string;
  @ApiProperty({ example: 'Validation failed: resources: resources is required' }) message: string;
  @ApiPropertyOptional({
    type: [FieldErrorDto],
    description: 'One entry per invalid field (400 only); a missing field gets one entry, "<field> is required".',
  })
  details?: FieldErrorDto[];
}

export class Seed001StackEntryDto {
  @ApiProperty({ type: 'integer', example: 400, description: 'The HTTP status, as `code` above.' }) code: number;
  @ApiProperty({ example: 'client_id is required' }) description: string;
  @ApiProperty({ example: 'Bad Request', description: 'The status text.' }) error: string;
  @ApiProperty({
    example: 'client_id',
    description: 'The invalid field, or the request path when the error is not about one field.',
  })
  path: string;
}

/** Seed 001's error body, for the raw WebSocket endpoints. */
export class Seed001ErrorDto {
  @ApiProperty({ type: 'integer', example: 400, description: 'The HTTP status.' }) code: number;
  @ApiProperty({ example: 'Validation failed: client_id: client_id is required' }) message: string;
  @ApiProperty({
    type: [Seed001StackEntryDto],
    description: 'One entry per invalid field, else one entry for the error.',
  })
  stack: Seed001StackEntryDto[];
}
