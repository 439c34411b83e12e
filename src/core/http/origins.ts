import type { INestApplication } from '@nestjs/common';
import type { CorsOptions } from '@nestjs/common/interfaces/external/cors-options.interface';
import type { NextFunction, Request, Response } from 'express';
import type { IncomingMessage } from 'node:http';
import type { AppConfig } from '../config';

/** Request headers a browser page may send to Herald (credentials, workspace, request id). */
export const CORS_ALLOWED_HEADERS = ['Authorization', 'X-Api-Key', 'Content-Type', 'X-Workspace-Id', 'X-Request-Id'];
/** Response headers a browser page may read besides the CORS-safelisted ones. */
export const CORS_EXPOSED_HEADERS = ['X-Request-Id', 'Retry-After'];
const CORS_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'];
/** How long a browser may cache a preflight answer. */
const PREFLIGHT_MAX_AGE_S = 600;

/**
 * Which web pages may use Herald from a browser (README "Browsers"). Herald's credentials are
 * never ambient (no cookies: a header, `auth.token` or `?access_token=`), so this is not what keeps
 * a foreign page from acting as a user; it keeps the browser rules the same on every transport:
 * a page whose origin is in CORS_ORIGINS may call REST, connect Socket.IO and open raw
 * WebSockets; any other page can do none of them.
 *
 * Clients that are not browsers send no `Origin` (Node's ws and socket.io-client, curl) or the
 * origin of the URL they connect to (Python's websocket-client), which is Herald's own, so they
 * are never refused.
 */
export class OriginPolicy {
  private readonly allowed: ReadonlySet<string>;
  private readonly publicOrigin: string;

  constructor(config: Pick<AppConfig, 'corsOrigins' | 'publicBaseUrl'>) {
    this.allowed = new Set(config.corsOrigins);
    this.publicOrigin = new URL(config.publicBaseUrl).origin;
  }

  /** True when CORS_ORIGINS names at least one origin. */
  get crossOriginEnabled(): boolean {
    return this.allowed.size > 0;
  }

  /** A page of this origin may call Herald across origins (CORS). */
  allowsCrossOrigin(origin: string | undefined): boolean {
    return origin !== undefined && this.allowed.has(origin);
  }

  /**
   * The `Origin` of a Socket.IO handshake or WebSocket upgrade that may not connect, or undefined
   * when it may: no `Origin`, Herald's own (the host the request was sent to, or PUBLIC_BASE_URL),
   * or one of CORS_ORIGINS.
   */
  refusedOrigin(req: Pick<IncomingMessage, 'headers'>): string | undefined {
    const origin = req.headers.origin;
    if (origin === undefined || this.allowed.has(origin) || origin === this.publicOrigin) return undefined;
    if (sameHost(origin, req.headers.host)) return undefined;
    return origin;
  }

  /** Options for the CORS middleware of the REST API (Express, through `app.enableCors`). */
  restCors(): CorsOptions {
    return {
      // A refused origin gets no CORS header at all (and its preflight reaches the router: 404).
      origin: (origin, callback) => callback(null, this.allowsCrossOrigin(origin)),
      methods: CORS_METHODS,
      allowedHeaders: CORS_ALLOWED_HEADERS,
      exposedHeaders: CORS_EXPOSED_HEADERS,
      maxAge: PREFLIGHT_MAX_AGE_S,
      optionsSuccessStatus: 204,
    };
  }

  /**
   * Options for engine.io's CORS middleware (Socket.IO's long-polling transport). Credentials are
   * allowed so a load balancer's sticky-session cookie survives `withCredentials: true`; the list
   * is exact, never reflected.
   */
  socketIoCors(): CorsOptions {
    return {
      origin: (origin, callback) => callback(null, this.allowsCrossOrigin(origin)),
      methods: ['GET', 'POST'],
      allowedHeaders: CORS_ALLOWED_HEADERS,
      credentials: true,
      maxAge: PREFLIGHT_MAX_AGE_S,
    };
  }
}

/**
 * CORS for the REST API: preflights from CORS_ORIGINS are answered 204 with the methods and
 * headers Herald takes; other origins get no CORS header. Without CORS_ORIGINS nothing is added.
 */
export function enableRestCors(app: INestApplication, config: AppConfig): void {
  const policy = new OriginPolicy(config);
  if (!policy.crossOriginEnabled) return;
  // The answer depends on Origin even when it adds nothing, so a cache must not share it across origins.
  app.use((_req: Request, res: Response, next: NextFunction) => {
    res.vary('Origin');
    next();
  });
  app.enableCors(policy.restCors());
}

/**
 * `Origin` names the host and port the request was sent to: a page of Herald itself. A `Host`
 * without a port means the default one of the page's scheme.
 */
function sameHost(origin: string, host: string | undefined): boolean {
  if (!host) return false;
  try {
    const page = new URL(origin);
    const target = new URL(`${page.protocol}//${host}`);
    return page.hostname === target.hostname && effectivePort(page) === effectivePort(target);
  } catch {
    return false;
  }
}

function effectivePort(url: URL): string {
  return url.port || (url.protocol === 'https:' ? '443' : '80');
}
