import { HttpException, HttpStatus } from '@nestjs/common';
import { STATUS_CODES } from 'node:http';
import { isUnavailable } from './unavailable';

/**
 * What a 503 for an unavailable database or bus tells the client to wait before retrying: long
 * enough for a failover or a restart to make progress, short enough for a publisher to hold on.
 */
export const RETRY_AFTER_SECONDS = 5;

/**
 * The three error envelopes of docs/api-contracts.md "Error bodies":
 * - `standard` (000, 002, 003 and Herald's own endpoints): `{ statusCode, error, message, details? }`
 * - `seed001` (raw WebSocket endpoints): `{ code, message, stack: [{ code, description, error, path }] }`
 * - `seed004` (socket session subscriptions): `{ success: false, message, errors? }`
 */
export type ErrorFamily = 'standard' | 'seed001' | 'seed004';

export interface FieldError {
  field: string;
  message: string;
}

/** What every filter knows about a failure before it picks an envelope. */
export interface Problem {
  status: number;
  error: string;
  message: string;
  details?: FieldError[];
}

export function statusText(status: number): string {
  const name = HttpStatus[status] as string | undefined;
  if (!name) return STATUS_CODES[status] ?? 'Error';
  return name
    .toLowerCase()
    .split('_')
    .map((w) => w.charAt(0).toUpperCase() + w.slice(1))
    .join(' ');
}

/** Raised for a body or query that fails validation; carries one entry per broken rule. */
export class ValidationFailedException extends HttpException {
  constructor(details: FieldError[], message = 'Validation failed') {
    super({ statusCode: 400, error: 'Bad Request', message, details }, 400);
  }
}

export function problemFromException(exception: unknown): Problem {
  if (exception instanceof HttpException) {
    const status = exception.getStatus();
    const body = exception.getResponse();
    if (typeof body === 'string') return { status, error: statusText(status), message: body };
    const record = body as Record<string, unknown>;
    const rawMessage = record.message;
    const message = Array.isArray(rawMessage)
      ? rawMessage.join('; ')
      : typeof rawMessage === 'string'
        ? rawMessage
        : exception.message;
    const details = Array.isArray(record.details) ? (record.details as FieldError[]) : undefined;
    const error = typeof record.error === 'string' ? record.error : statusText(status);
    return { status, error, message, ...(details ? { details } : {}) };
  }
  // An outage passes and the request may be retried as is; a bug does not.
  if (isUnavailable(exception))
    return { status: 503, error: statusText(503), message: 'Service temporarily unavailable' };
  return { status: 500, error: 'Internal Server Error', message: 'Internal server error' };
}

/** Errors raised by the body parser carry `status` and a `type` such as `entity.parse.failed`. */
export function problemFromBodyParser(err: {
  status?: number;
  statusCode?: number;
  type?: string;
  message?: string;
}): Problem {
  const status = err.status ?? err.statusCode ?? 400;
  if (err.type === 'entity.too.large') {
    return { status: 413, error: statusText(413), message: 'Request body is larger than the 1 MiB limit' };
  }
  if (err.type === 'entity.parse.failed') {
    return { status: 400, error: statusText(400), message: 'Malformed JSON in request body' };
  }
  if (err.type === 'encoding.unsupported' || err.type === 'charset.unsupported') {
    return { status: 415, error: statusText(415), message: err.message ?? 'Unsupported body encoding' };
  }
  if (status >= 400 && status < 500)
    return { status, error: statusText(status), message: err.message ?? 'Bad request body' };
  return { status: 400, error: statusText(400), message: 'Unreadable request body' };
}

export function renderProblem(family: ErrorFamily, problem: Problem, path: string): Record<string, unknown> {
  switch (family) {
    case 'seed001':
      return {
        code: problem.status,
        message: problem.message,
        stack: problem.details?.length
          ? problem.details.map((d) => ({
              code: problem.status,
              description: d.message,
              error: problem.error,
              path: d.field,
            }))
          : [{ code: problem.status, description: problem.message, error: problem.error, path }],
      };
    case 'seed004':
      return {
        success: false,
        message: problem.message,
        ...(problem.details?.length ? { errors: problem.details } : {}),
      };
    default:
      return {
        statusCode: problem.status,
        error: problem.error,
        message: problem.message,
        ...(problem.details?.length ? { details: problem.details } : {}),
      };
  }
}

/**
 * Which envelope a request outside any controller (body parser, unknown route) gets.
 * Controllers choose theirs explicitly with a filter; this mirrors those choices by path.
 */
export function familyForPath(path: string): ErrorFamily {
  if (/^\/api\/v1\/ws(\/|$)/.test(path)) return 'seed001';
  if (/^(\/api)?\/v1\/events\/(subscriptions|[^/]+\/subscriptions)\/?$/.test(path)) return 'seed004';
  if (/^\/v1\/events(\/|$)/.test(path)) return 'seed004';
  return 'standard';
}
