import { ArgumentsHost, Catch, ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import type { Request, Response } from 'express';
import { noteRequestFailure } from '../../logging/logger';
import { type ErrorFamily, familyForPath, problemFromException, renderProblem, RETRY_AFTER_SECONDS } from '../errors';

/**
 * Turns any exception into the envelope of one family. An unexpected error (not an
 * HttpException) logs its cause with the request id and answers only that id: a 503 with
 * Retry-After when the database or the bus is unavailable (see `isUnavailable`), else a 500.
 */
@Catch()
export class EnvelopeExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger('Errors');

  constructor(private readonly family: ErrorFamily = 'standard') {}

  catch(exception: unknown, host: ArgumentsHost): void {
    if (host.getType() !== 'http') throw exception;
    const http = host.switchToHttp();
    const req = http.getRequest<Request & { id?: string }>();
    const res = http.getResponse<Response>();
    const problem = problemFromException(exception);
    const requestId = req.id ?? 'unknown';
    const unexpected = !(exception instanceof HttpException);
    if (unexpected && problem.status === 503) {
      // Expected while a dependency is down: one warn line per request, without a stack.
      const { message, code } = exception as { message?: unknown; code?: unknown };
      this.logger.warn(
        { requestId, path: req.path, cause: { message, code } },
        'request failed: a backing service is unavailable',
      );
      problem.message = `Service temporarily unavailable, retry in ${RETRY_AFTER_SECONDS} s (request id ${requestId})`;
    } else if (unexpected) {
      this.logger.error({ err: exception, requestId: req.id, path: req.path }, 'request failed');
      problem.message = `Internal server error (request id ${requestId})`;
    }
    if (res.headersSent) return;
    noteRequestFailure(res, problem);
    if (unexpected && problem.status === 503) res.setHeader('Retry-After', String(RETRY_AFTER_SECONDS));
    res.status(problem.status).json(renderProblem(this.familyFor(req.path), problem, req.path));
  }

  protected familyFor(_path: string): ErrorFamily {
    return this.family;
  }
}

/** Global default: `{ statusCode, error, message, details? }`. */
@Catch()
export class StandardExceptionFilter extends EnvelopeExceptionFilter {
  constructor() {
    super('standard');
  }
}

/**
 * The application-wide filter. Controllers pick their family with their own filter; errors raised
 * before a controller is chosen (an undecodable path parameter, say) get the family of their path.
 */
@Catch()
export class PathEnvelopeExceptionFilter extends EnvelopeExceptionFilter {
  constructor() {
    super('standard');
  }

  protected override familyFor(path: string): ErrorFamily {
    return familyForPath(path);
  }
}

/** Seed 001's `{ code, message, stack }`, for the raw WebSocket endpoints. */
@Catch()
export class Seed001ExceptionFilter extends EnvelopeExceptionFilter {
  constructor() {
    super('seed001');
  }
}

/** Seed 004's `{ success: false, message, errors? }`, for socket session subscriptions. */
@Catch()
export class Seed004ExceptionFilter extends EnvelopeExceptionFilter {
  constructor() {
    super('seed004');
  }
}
