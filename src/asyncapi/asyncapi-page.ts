import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/**
 * The rendered document at `/asyncapi`: @asyncapi/react-component's standalone bundle and its
 * stylesheet, served by Herald from node_modules, and a small script of our own that renders
 * `/asyncapi.json` with them. The page has no inline script, so its Content-Security-Policy
 * allows scripts from Herald only; the bundle compiles JSON Schemas with ajv as it loads (code
 * generation), which needs `'unsafe-eval'` besides.
 */
export const PAGE_PATH = '/asyncapi';
export const DOCUMENT_PATH = '/asyncapi.json';
export const ASSETS_PATH = '/asyncapi/assets';

/**
 * The page's own policy, replacing the one of Herald's other pages: `'unsafe-eval'` for the
 * renderer (see above), and no inline styles, which it does not need.
 */
export const ASYNCAPI_PAGE_CSP = [
  "default-src 'self'",
  "base-uri 'self'",
  "script-src 'self' 'unsafe-eval'",
  "script-src-attr 'none'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const INIT_SCRIPT = `// Renders ${DOCUMENT_PATH} with the AsyncAPI standalone bundle loaded before this script.
AsyncApiStandalone.render(
  {
    schema: { url: '${DOCUMENT_PATH}', options: { method: 'GET', headers: { Accept: 'application/json' } } },
    config: { show: { sidebar: true }, sidebar: { showOperations: 'byDefault' } },
  },
  document.getElementById('asyncapi'),
);
`;

export const PAGE_HTML = `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1" />
    <title>Herald realtime API (AsyncAPI)</title>
    <link rel="icon" href="data:," />
    <link rel="stylesheet" href="${ASSETS_PATH}/asyncapi.css" />
  </head>
  <body>
    <div id="asyncapi">
      <noscript>This page needs JavaScript. The document itself is at <a href="${DOCUMENT_PATH}">${DOCUMENT_PATH}</a>.</noscript>
    </div>
    <script src="${ASSETS_PATH}/asyncapi-standalone.js"></script>
    <script src="${ASSETS_PATH}/asyncapi-page.js"></script>
  </body>
</html>
`;

export type Asset = { type: string } & ({ file: string } | { body: string });

const JS = 'text/javascript; charset=utf-8';

/**
 * The page's assets by name. The renderer's files are found through Node's module resolution,
 * from this file in a build and from the working directory under the test runner (which loads
 * the sources as ES modules, without `__filename`); a missing file leaves its asset out.
 */
export function pageAssets(): Record<string, Asset> {
  const assets: Record<string, Asset> = { 'asyncapi-page.js': { type: JS, body: INIT_SCRIPT } };
  const root = rendererRoot();
  if (!root) return assets;
  const files: Record<string, Asset> = {
    'asyncapi-standalone.js': { type: JS, file: join(root, 'browser', 'standalone', 'index.js') },
    'asyncapi.css': { type: 'text/css; charset=utf-8', file: join(root, 'styles', 'default.min.css') },
  };
  for (const [name, asset] of Object.entries(files))
    if ('file' in asset && existsSync(asset.file)) assets[name] = asset;
  return assets;
}

function rendererRoot(): string | undefined {
  const from = typeof __filename === 'string' ? __filename : join(process.cwd(), 'package.json');
  try {
    return dirname(createRequire(from).resolve('@asyncapi/react-component/package.json'));
  } catch {
    return undefined;
  }
}
