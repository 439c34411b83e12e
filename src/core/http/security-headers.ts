import helmet from 'helmet';
import type { IncomingMessage, ServerResponse } from 'node:http';

type Middleware = (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => void;

/**
 * The HTML pages Herald serves, and their assets: Swagger UI (`/docs`) and the AsyncAPI
 * document's page (`/asyncapi`). `/docs-json` and `/asyncapi.json` are data, not pages.
 */
const PAGE_PREFIXES = ['/docs', '/asyncapi'];

export function isPagePath(path: string): boolean {
  return PAGE_PREFIXES.some((prefix) => path === prefix || path.startsWith(`${prefix}/`));
}

/**
 * What the pages may load: scripts, styles, images and fonts from Herald itself, requests to
 * Herald itself (Swagger UI's "Try it out"), nothing else. Inline styles are allowed because both
 * renderers inject them (Swagger UI's page has a <style> block); inline scripts are not.
 */
export const PAGE_CSP = {
  'default-src': ["'self'"],
  'base-uri': ["'self'"],
  'script-src': ["'self'"],
  'style-src': ["'self'", "'unsafe-inline'"],
  'img-src': ["'self'", 'data:'],
  'font-src': ["'self'", 'data:'],
  'connect-src': ["'self'"],
  'object-src': ["'none'"],
  'form-action': ["'self'"],
  'frame-ancestors': ["'none'"],
};

/** Everything else is JSON or text a browser must never run or frame. */
export const API_CSP = {
  'default-src': ["'none'"],
  'base-uri': ["'none'"],
  'form-action': ["'none'"],
  'frame-ancestors': ["'none'"],
};

/**
 * The usual security headers (helmet's defaults: HSTS, nosniff, frame options, referrer and
 * cross-origin policies, ...) on every HTTP response, with a Content-Security-Policy as strict as
 * each kind of response allows. `useDefaults: false` keeps helmet's `upgrade-insecure-requests`
 * out: it would send a plain-HTTP deployment's "Try it out" requests to https.
 */
export function securityHeaders(): Middleware {
  const forPages = helmet({
    contentSecurityPolicy: { useDefaults: false, directives: PAGE_CSP },
    xFrameOptions: { action: 'deny' },
  });
  const forApi = apiSecurityHeaders();
  return (req, res, next) => (isPagePath(pathOf(req)) ? forPages : forApi)(req, res, next);
}

/** The headers of API responses alone, for servers that serve no page (engine.io's long-polling). */
export function apiSecurityHeaders(): Middleware {
  return helmet({
    contentSecurityPolicy: { useDefaults: false, directives: API_CSP },
    xFrameOptions: { action: 'deny' },
  });
}

function pathOf(req: IncomingMessage): string {
  const url = req.url ?? '/';
  const query = url.indexOf('?');
  return query === -1 ? url : url.slice(0, query);
}
