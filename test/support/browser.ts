import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';

/**
 * Headless Chromium for the browser specs: Debian's package, driven by playwright-core (no
 * browser download). The specs are skipped where it is missing, unless REQUIRE_BROWSER=1 (CI
 * installs it), which turns its absence into a failure.
 */
export const CHROMIUM = '/usr/bin/chromium';
export const browserAvailable = existsSync(CHROMIUM);
if (!browserAvailable && process.env.REQUIRE_BROWSER === '1')
  throw new Error(`REQUIRE_BROWSER=1 but ${CHROMIUM} is missing (apt-get install chromium)`);
export const describeBrowser = browserAvailable ? describe : describe.skip;

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update'],
  });
}

/** What a page reported: Content-Security-Policy violations, uncaught exceptions, other console errors. */
export interface PageReport {
  cspViolations: string[];
  pageErrors: string[];
  /** Informational: libraries log deprecations as errors. */
  consoleErrors: string[];
}

/**
 * Records what `page` reports from now on. Violations come from the page's own
 * `securitypolicyviolation` events (installed before any script of the page runs) and from the
 * console, where Chromium logs each refusal.
 */
export async function watchPage(page: Page): Promise<PageReport> {
  const report: PageReport = { cspViolations: [], pageErrors: [], consoleErrors: [] };
  await page.exposeFunction('__reportCspViolation', (line: string) => report.cspViolations.push(line));
  // A string, not a function: this runs in the page (DOM types are not part of the test build).
  await page.addInitScript(`document.addEventListener('securitypolicyviolation', (e) => {
    window.__reportCspViolation(e.effectiveDirective + ' blocked ' + (e.blockedURI || '(inline)') + ' in ' + (e.sourceFile || e.documentURI));
  });`);
  page.on('console', (message) => {
    if (message.type() !== 'error') return;
    const text = message.text();
    if (/Content[- ]Security[- ]Policy/i.test(text)) report.cspViolations.push(text);
    else report.consoleErrors.push(text);
  });
  page.on('pageerror', (err) => report.pageErrors.push(err.message));
  return report;
}

/** A static web server of its own origin (a port of its own), standing in for a client team's web app. */
export interface StaticSite {
  /** http://127.0.0.1:<port> */
  origin: string;
  port: number;
  close(): Promise<void>;
}

const SOCKET_IO_CLIENT = join(process.cwd(), 'node_modules/socket.io/client-dist/socket.io.min.js');

/**
 * Serves `/` (the given HTML) and `/socket.io.min.js` (the Socket.IO browser client shipped in
 * node_modules) on a loopback port, `port` or a free one.
 */
export async function serveSite(html: string, port = 0): Promise<StaticSite> {
  const client = readFileSync(SOCKET_IO_CLIENT);
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(html);
    } else if (path === '/socket.io.min.js') {
      res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8' }).end(client);
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const actual = (server.address() as { port: number }).port;
  return {
    origin: `http://127.0.0.1:${actual}`,
    port: actual,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
