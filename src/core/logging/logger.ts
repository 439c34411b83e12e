import { LoggerService } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import pino, { Logger } from 'pino';
import { pinoHttp } from 'pino-http';
import { isCredentialQueryParam } from '../auth/credentials';
import type { Principal } from '../auth/principal';
import type { LogLevel } from '../config';

/**
 * Names that look like secrets even though Herald never reads a credential from them, compared
 * in letters and digits only, so `Access-Token`, `?access_token` and `api_key[]` count too.
 */
const SECRET_LOOKING_PARAMS = new Set(['accesstoken', 'token', 'apikey', 'key', 'xapikey', 'authorization']);

/** A query parameter name as URLSearchParams (and so Socket.IO) decodes it: `+` is a space, `%XX` a byte. */
function decodedParamName(raw: string): string {
  for (const name of new URLSearchParams(`&${raw}`).keys()) return name;
  return '';
}

/** Whether a logged URL must hide this parameter's value: every credential parameter, and secret-looking ones. */
export function isSecretQueryParam(decodedName: string): boolean {
  return (
    isCredentialQueryParam(decodedName) ||
    SECRET_LOOKING_PARAMS.has(decodedName.toLowerCase().replace(/[^a-z0-9]/g, ''))
  );
}

/**
 * Strips credentials that browsers may carry in a query string before a URL is logged. Parameters
 * are judged by their decoded name, the way the credential extractor reads them, so spelling the
 * name `access%5Ftoken` (or `%61ccess_token`) does not get a token into the log.
 */
export function redactUrlQuery(url: string | undefined): string | undefined {
  const start = url?.indexOf('?') ?? -1;
  if (url === undefined || start < 0) return url;
  // Split on `#` and `;` too: a fragment or a `;`-separated pair is no credential to Herald, but
  // whoever sent one meant it as a parameter, and over-redacting costs nothing.
  const query = url
    .slice(start + 1)
    .split(/([&#;])/)
    .map((pair) => {
      const eq = pair.indexOf('=');
      const name = eq < 0 ? pair : pair.slice(0, eq);
      return eq >= 0 && isSecretQueryParam(decodedParamName(name)) ? `${name}=[redacted]` : pair;
    })
    .join('');
  return `${url.slice(0, start)}?${query}`;
}

export function createLogger(level: LogLevel): Logger {
  return pino({
    level,
    base: { service: 'herald' },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: {
      paths: [
        'req.headers.authorization',
        'req.headers["x-api-key"]',
        'req.headers.cookie',
        'res.headers["set-cookie"]',
        '*.token',
        '*.signing_secret',
      ],
      censor: '[redacted]',
    },
  });
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Who is calling, as every log line shows it: ids only, never the credential itself. */
export function callerOf(principal: Principal): {
  credential: Principal['credential'];
  key_id: string | null;
  organisation_id: string;
  user_id: string | null;
} {
  return {
    credential: principal.credential,
    key_id: principal.key_id ?? null,
    organisation_id: principal.organisation_id,
    user_id: principal.user_id ?? null,
  };
}

/** Why a request failed, as its client was told; kept on the response for the request-completed line. */
interface RequestFailure {
  message: string;
  details?: { field: string; message: string }[];
}

const FAILURE = Symbol('herald.requestFailure');
/** A validation error can name many fields; the log line keeps the first few. */
const LOGGED_DETAILS = 10;

/** Records what a failed request's client was told, for its request-completed log line. */
export function noteRequestFailure(res: ServerResponse, failure: RequestFailure): void {
  (res as ServerResponse & { [FAILURE]?: RequestFailure })[FAILURE] = failure;
}

/**
 * What the request-completed line adds to pino-http's: who called (`caller`, once the credential
 * checked out) and, for a 4xx or 5xx, what the client was told (`reason`, and `details` for a
 * validation failure).
 */
function completedFields(req: IncomingMessage, res: ServerResponse, fields: object): object {
  const principal = (req as IncomingMessage & { principal?: Principal }).principal;
  const failure = res.statusCode >= 400 ? (res as ServerResponse & { [FAILURE]?: RequestFailure })[FAILURE] : undefined;
  if (!principal && !failure) return fields;
  return {
    ...fields,
    ...(principal ? { caller: callerOf(principal) } : {}),
    ...(failure ? { reason: failure.message } : {}),
    ...(failure?.details?.length ? { details: failure.details.slice(0, LOGGED_DETAILS) } : {}),
  };
}

/** The request's id: `X-Request-Id` when sane, else a new UUID; echoed back in the same header. */
function requestIdOf(req: IncomingMessage, res: ServerResponse): string {
  const incoming = req.headers['x-request-id'];
  const id = typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
  res.setHeader('X-Request-Id', id);
  return id;
}

/**
 * JSON access log with a request id, taken from `X-Request-Id` when sane and echoed back. One line
 * per request when it completes, at `info`, `warn` for a 4xx and `error` for a 5xx.
 *
 * At level `silent` no line can be written, so only the request id is kept: pino-http would still
 * build a child logger per request (serialising and redacting the request into its bindings), a
 * twentieth of a node's CPU under load for lines that are then dropped.
 */
export function httpLogger(logger: Logger) {
  if (logger.level === 'silent')
    return (req: IncomingMessage, res: ServerResponse, next: () => void) => {
      (req as IncomingMessage & { id?: string }).id = requestIdOf(req, res);
      next();
    };
  return pinoHttp({
    logger,
    genReqId: requestIdOf,
    customLogLevel: (_req, res, err) =>
      err || res.statusCode >= 500 ? 'error' : res.statusCode >= 400 ? 'warn' : 'info',
    autoLogging: { ignore: (req) => req.url === '/healthz' || req.url === '/metrics' },
    customSuccessObject: (req, res, fields) => completedFields(req, res, fields),
    customErrorObject: (req, res, _err, fields) => completedFields(req, res, fields),
    serializers: {
      req: (req: { id: string; method: string; url: string; remoteAddress?: string }) => ({
        id: req.id,
        method: req.method,
        url: redactUrlQuery(req.url),
        remoteAddress: req.remoteAddress,
      }),
      res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
    },
  });
}

/**
 * Nest's start-up chatter: a line per module and per route (about sixty). Logged at `debug`, so
 * at `info` start-up shows what an operator needs, the listening line and a generated operator key.
 */
const ROUTINE_CONTEXTS = new Set(['RoutesResolver', 'RouterExplorer', 'InstanceLoader', 'WebSocketsController']);

/** Nest's logger interface on top of pino, so framework and app logs share one JSON stream. */
export class PinoLoggerService implements LoggerService {
  constructor(private readonly logger: Logger) {}

  private write(level: 'info' | 'error' | 'warn' | 'debug' | 'trace', message: unknown, params: unknown[]): void {
    const context = typeof params[params.length - 1] === 'string' ? (params.pop() as string) : undefined;
    if (level === 'info' && context !== undefined && ROUTINE_CONTEXTS.has(context)) level = 'debug';
    if (message !== null && typeof message === 'object') {
      const msg = typeof params[0] === 'string' ? (params[0] as string) : undefined;
      this.logger[level]({ context, ...(message as object) }, msg);
    } else {
      this.logger[level]({ context }, String(message));
    }
  }

  log(message: unknown, ...params: unknown[]): void {
    this.write('info', message, params);
  }
  error(message: unknown, ...params: unknown[]): void {
    this.write('error', message, params);
  }
  warn(message: unknown, ...params: unknown[]): void {
    this.write('warn', message, params);
  }
  debug(message: unknown, ...params: unknown[]): void {
    this.write('debug', message, params);
  }
  verbose(message: unknown, ...params: unknown[]): void {
    this.write('trace', message, params);
  }
}
