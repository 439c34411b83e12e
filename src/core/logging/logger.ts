import { LoggerService } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import pino, { Logger } from 'pino';
import { pinoHttp } from 'pino-http';
import { isCredentialQueryParam } from '../auth/credentials';
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

/** JSON access log with a request id, taken from `X-Request-Id` when sane and echoed back. */
export function httpLogger(logger: Logger) {
  return pinoHttp({
    logger,
    genReqId: (req: IncomingMessage, res: ServerResponse) => {
      const incoming = req.headers['x-request-id'];
      const id = typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
      res.setHeader('X-Request-Id', id);
      return id;
    },
    customLogLevel: (_req, res, err) =>
      err || res.statusCode >= 500 ? 'error' : res.statusCode >= 400 ? 'warn' : 'info',
    autoLogging: { ignore: (req) => req.url === '/healthz' || req.url === '/metrics' },
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

/** Nest's logger interface on top of pino, so framework and app logs share one JSON stream. */
export class PinoLoggerService implements LoggerService {
  constructor(private readonly logger: Logger) {}

  private write(level: 'info' | 'error' | 'warn' | 'debug' | 'trace', message: unknown, params: unknown[]): void {
    const context = typeof params[params.length - 1] === 'string' ? (params.pop() as string) : undefined;
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
