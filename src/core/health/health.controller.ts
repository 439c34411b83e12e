import { Controller, Get, Header, Res, ServiceUnavailableException } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiExcludeEndpoint,
  ApiOkResponse,
  ApiOperation,
  ApiProperty,
  ApiServiceUnavailableResponse,
  ApiTags,
} from '@nestjs/swagger';
import type { Response } from 'express';
import { Public } from '../auth/decorators';
import { Database } from '../database/database.service';
import { StandardErrorDto } from '../http/error.dto';
import { RedisConnections } from '../redis/redis.service';
import { MetricsService } from './metrics.service';

const CHECK_TIMEOUT_MS = 2000;

class LivenessDto {
  @ApiProperty({ enum: ['ok'], example: 'ok' }) status: 'ok';
}

class ReadinessDto {
  @ApiProperty({ enum: ['ready'], example: 'ready' }) status: 'ready';
  @ApiProperty({
    type: 'object',
    additionalProperties: { type: 'string', enum: ['up'] },
    example: { database: 'up', redis: 'up' },
    description: 'Each dependency checked: `database`, and `redis` when configured.',
  })
  checks: Record<string, 'up'>;
}

/** The body parser answers every path, the probes too: a NUL in the URL is refused before any route. */
const ApiNulInUrlResponse = () =>
  ApiBadRequestResponse({
    description: 'A NUL character (`%00`) in the URL.',
    example: {
      statusCode: 400,
      error: 'Bad Request',
      message: 'NUL characters (\\u0000, %00) are not allowed',
    },
  });

function withTimeout<T>(work: Promise<T>, what: string): Promise<T> {
  return Promise.race([
    work,
    new Promise<T>((_, reject) =>
      setTimeout(
        () => reject(new Error(`${what} did not answer within ${CHECK_TIMEOUT_MS} ms`)),
        CHECK_TIMEOUT_MS,
      ).unref(),
    ),
  ]);
}

@ApiTags('operations')
@Public()
@Controller()
export class HealthController {
  constructor(
    private readonly db: Database,
    private readonly redis: RedisConnections,
    private readonly metrics: MetricsService,
  ) {}

  @Get('healthz')
  @ApiOperation({ operationId: 'health.live', summary: 'Liveness: the process is up' })
  @ApiOkResponse({ type: LivenessDto })
  @ApiNulInUrlResponse()
  healthz(): LivenessDto {
    return { status: 'ok' };
  }

  @Get('readyz')
  @ApiOperation({ operationId: 'health.ready', summary: 'Readiness: the database (and Redis, when configured) answer' })
  @ApiOkResponse({ type: ReadinessDto })
  @ApiNulInUrlResponse()
  @ApiServiceUnavailableResponse({
    description: 'A dependency is down; `details` names it.',
    type: StandardErrorDto,
    example: {
      statusCode: 503,
      error: 'Service Unavailable',
      message: 'Not ready',
      details: [{ field: 'redis', message: 'Connection is closed.' }],
    },
  })
  async readyz() {
    const checks: Record<string, string> = {};
    const failures: { field: string; message: string }[] = [];
    const probe = async (name: string, check: () => Promise<void>) => {
      try {
        await withTimeout(check(), name);
        checks[name] = 'up';
      } catch (err) {
        checks[name] = 'down';
        failures.push({ field: name, message: err instanceof Error ? err.message : String(err) });
      }
    };
    await probe('database', () => this.db.ping());
    if (this.redis.enabled) await probe('redis', () => this.redis.ping());
    if (failures.length) {
      throw new ServiceUnavailableException({
        statusCode: 503,
        error: 'Service Unavailable',
        message: 'Not ready',
        details: failures,
      });
    }
    return { status: 'ready', checks };
  }

  @Get('metrics')
  @ApiExcludeEndpoint()
  @Header('Cache-Control', 'no-store')
  async prometheus(@Res() res: Response) {
    res.setHeader('Content-Type', this.metrics.registry.contentType);
    res.send(await this.metrics.registry.metrics());
  }
}
