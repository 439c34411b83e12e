import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';

/**
 * The three error envelopes of docs/api-contracts.md "Error bodies" as Swagger schemas (errors.ts
 * renders them). `documentErrorResponses` (swagger.ts) gives every error response without a
 * schema the one of its path's family.
 */

export class FieldErrorDto {
  @ApiProperty({ example: 'resources', description: 'Path of the field: `rules[0].trigger`.' }) field: string;
  @ApiProperty({ example: 'resources is required' }) message: string;
}

/** Realtime channels, approval notifications, workspace subscriptions and every other endpoint. */
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

export class WebSocketErrorStackEntryDto {
  @ApiProperty({ type: 'integer', example: 400, description: 'The HTTP status, as `code` above.' }) code: number;
  @ApiProperty({ example: 'client_id is required' }) description: string;
  @ApiProperty({ example: 'Bad Request', description: 'The status text.' }) error: string;
  @ApiProperty({
    example: 'client_id',
    description: 'The invalid field, or the request path when the error is not about one field.',
  })
  path: string;
}

/** The raw WebSocket endpoints (`/api/v1/ws/…`). */
export class WebSocketErrorDto {
  @ApiProperty({ type: 'integer', example: 400, description: 'The HTTP status.' }) code: number;
  @ApiProperty({ example: 'Validation failed: client_id: client_id is required' }) message: string;
  @ApiProperty({
    type: [WebSocketErrorStackEntryDto],
    description: 'One entry per invalid field, else one entry for the error.',
  })
  stack: WebSocketErrorStackEntryDto[];
}

/** Socket session subscriptions (`/v1/events/…` and `/api/v1/events/…subscriptions`). */
export class SessionErrorDto {
  @ApiProperty({ type: 'boolean', enum: [false], example: false, description: 'Always false for an error.' })
  success: boolean;
  @ApiProperty({ example: 'Unknown session mO2rT1xq9bYk3LzA_7-c' }) message: string;
  @ApiPropertyOptional({
    type: [FieldErrorDto],
    description: 'One entry per invalid field (400 only).',
    example: [
      {
        field: 'condition.channelId',
        message: 'condition.channelId is required for channel.follow: a string of 1-128 characters',
      },
    ],
  })
  errors?: FieldErrorDto[];
}
