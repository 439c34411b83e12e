import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsInt, IsOptional, Max, Min } from 'class-validator';

/** `?page=1&limit=20` (SPEC "Page lists"). */
export class PageQueryDto {
  @ApiPropertyOptional({ minimum: 1, default: 1 })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  page: number = 1;

  @ApiPropertyOptional({ minimum: 1, maximum: 100, default: 20 })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(100)
  limit: number = 20;
}

export class PaginationDto {
  @ApiProperty({ example: 1 }) page: number;
  @ApiProperty({ example: 20 }) limit: number;
  @ApiProperty({ example: 3 }) total: number;
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
