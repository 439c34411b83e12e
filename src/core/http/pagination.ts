import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsInt, IsOptional, Max, Min } from 'class-validator';

/**
 * Upper bounds for numeric query values. Anything past them would reach the database as an
 * integer it cannot hold (Postgres answers "out of range for type bigint"), or lose precision
 * as a JavaScript number, so it is a 400 instead.
 */
export const MAX_PAGE = 1_000_000_000;
/** Highest seq a cursor may name: seqs are handled as JavaScript numbers. */
export const MAX_SEQ_CURSOR = Number.MAX_SAFE_INTEGER;

/** `?page=1&limit=20` (docs/api-contracts.md "Ids, times, paging"). */
export class PageQueryDto {
  @ApiPropertyOptional({ type: 'integer', minimum: 1, maximum: MAX_PAGE, default: 1 })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(MAX_PAGE)
  page: number = 1;

  @ApiPropertyOptional({ type: 'integer', minimum: 1, maximum: 100, default: 20 })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(100)
  limit: number = 20;
}

export class PaginationDto {
  @ApiProperty({ type: 'integer', example: 1 }) page: number;
  @ApiProperty({ type: 'integer', example: 20 }) limit: number;
  @ApiProperty({ type: 'integer', example: 3 }) total: number;
}

export interface Page<T> {
  data: T[];
  pagination: PaginationDto;
}

export function pageOf<T>(data: T[], query: PageQueryDto, total: number): Page<T> {
  return { data, pagination: { page: query.page, limit: query.limit, total } };
}

export function pageOffset(query: PageQueryDto): number {
  return (query.page - 1) * query.limit;
}
