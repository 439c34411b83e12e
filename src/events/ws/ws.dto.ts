import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { ArrayMaxSize, IsArray, IsOptional, IsString } from 'class-validator';
import { IsPrefixedId } from '../../core/http/validation';

export class WsUnsubscribeDto {
  @ApiProperty({ example: 'wsc_01jd3m7k2q8w6t5v4x3y2z1a0b', description: 'The `client_id` from the welcome frame.' })
  @IsPrefixedId('wsc', { message: 'client_id must be a wsc_ id from the welcome frame' })
  client_id: string;

  @ApiProperty({ type: [String], example: ['claim_rejected'] })
  @IsArray()
  @ArrayMaxSize(50)
  @IsString({ each: true })
  event_types: string[];

  @ApiPropertyOptional({ example: 'usr_84cd12ef', description: 'When given, must be the user the client belongs to.' })
  @IsOptional()
  @IsString()
  user_id?: string;
}

export class WsUnsubscribeResultDto {
  @ApiProperty({ example: 'wsc_01jd3m7k2q8w6t5v4x3y2z1a0b' }) client_id: string;
  @ApiProperty({ type: String, nullable: true, example: 'usr_84cd12ef', description: 'null for an app client.' })
  user_id: string | null;
  @ApiProperty({
    type: [String],
    example: ['claim_approved'],
    description: 'The event types the client still receives.',
  })
  event_types: string[];
}
