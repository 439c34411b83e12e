import request from 'supertest';
import { describeBrowser, launchChromium, watchPage } from '../support/browser';
import { startTestApp, type TestApp } from '../support/test-app';

/**
 * `/asyncapi` renders /asyncapi.json with a maintained renderer that Herald serves itself: the
 * page loads nothing from anywhere else, runs no inline script, and its assets are there.
 */

/** `src` and `href` of every tag, and the text of every <script> without `src`. */
function references(html: string): { urls: string[]; inlineScripts: string[] } {
  const urls = [...html.matchAll(/\s(?:src|href)="([^"]*)"/g)].map((m) => m[1]);
  const inlineScripts = [...html.matchAll(/<script(?![^>]*\ssrc=)[^>]*>([\s\S]*?)<\/script>/g)].map((m) => m[1]);
  return { urls, inlineScripts };
}

/** A path on Herald itself, or inline data (the empty favicon): nothing fetched from elsewhere. */
const sameOrigin = (url: string) => (url.startsWith('/') && !url.startsWith('//')) || url.startsWith('data:');

describe('the /asyncapi page', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(async () => {
    await t?.close();
  });

  it('is HTML that loads only same-origin assets, all served with their content types', async () => {
    const page = await request(t.url).get('/asyncapi');
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    const { urls, inlineScripts } = references(page.text);
    expect(inlineScripts).toEqual([]);
    expect(urls.length).toBeGreaterThanOrEqual(3);
    expect(urls.filter((u) => !sameOrigin(u))).toEqual([]);
    expect(urls).toContain('/asyncapi.json');

    const types: Record<string, RegExp> = {
      js: /^text\/javascript; charset=utf-8$/,
      css: /^text\/css; charset=utf-8$/,
    };
    const assets = urls.filter((u) => u.startsWith('/asyncapi/assets/'));
    expect(assets.map((u) => u.split('.').pop()).sort()).toEqual(['css', 'js', 'js']);
    for (const url of assets) {
      const res = await request(t.url).get(url).buffer(true);
      expect({ url, status: res.status }).toEqual({ url, status: 200 });
      expect(res.headers['content-type']).toMatch(types[url.split('.').pop()!]);
      expect(Number(res.headers['content-length'] ?? res.text.length)).toBeGreaterThan(0);
    }
    // The script of our own fetches the document from Herald itself.
    const init = await request(t.url).get(assets.find((u) => u.endsWith('asyncapi-page.js'))!);
    expect(init.text).toContain("url: '/asyncapi.json'");
    expect(init.text).not.toMatch(/https?:\/\//);

    // No inline script is allowed to run, and nothing is loaded from elsewhere.
    const csp = String(page.headers['content-security-policy']);
    const directive = (name: string) =>
      csp
        .split(';')
        .map((d) => d.trim())
        .find((d) => d.startsWith(`${name} `));
    expect(directive('script-src')).toBe("script-src 'self' 'unsafe-eval'");
    expect(directive('default-src')).toBe("default-src 'self'");
    expect(directive('connect-src')).toBe("connect-src 'self'");
  });

  it('answers 404 in the standard envelope for an asset it does not have', async () => {
    for (const name of ['nope.js', '..%2F..%2Fpackage.json', 'hasOwnProperty']) {
      const res = await request(t.url).get(`/asyncapi/assets/${name}`);
      expect(res.status).toBe(404);
      expect(res.body).toMatchObject({ statusCode: 404, error: 'Not Found' });
    }
  });

  it('is public and not part of the OpenAPI document', async () => {
    for (const path of ['/asyncapi', '/asyncapi.json', '/asyncapi/assets/asyncapi-page.js'])
      expect((await request(t.url).get(path)).status).toBe(200);
    const openapi = (await request(t.url).get('/docs-json')).body;
    expect(Object.keys(openapi.paths).filter((p) => p.startsWith('/asyncapi'))).toEqual([]);
  });
});

describeBrowser('the /asyncapi page in Chromium', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(async () => {
    await t?.close();
  });

  it('renders the document under its Content-Security-Policy, with no violation and no error', async () => {
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      const report = await watchPage(page);
      const requested: string[] = [];
      page.on('request', (r) => requested.push(r.url()));
      const res = await page.goto(`${t.url}/asyncapi`);
      expect(res?.status()).toBe(200);
      // A string, not a function: it runs in the page (DOM types are not part of the test build).
      await page.waitForFunction("document.body.innerText.includes('/api/v1/ws/subscribe')", null, {
        timeout: 30_000,
      });
      const text = String(await page.evaluate('document.body.innerText'));
      // The document's title, a channel of each transport, the catalog's types and the envelope.
      for (const expected of [
        'Herald realtime API',
        '/channels/{channel_id}',
        ...['claim_submitted', 'claim_approved', 'status_changed', 'channel.follow', 'notification', 'closing'],
        'CloudEventsEnvelope',
      ])
        expect({ expected, shown: text.includes(expected) }).toEqual({ expected, shown: true });
      expect(report.cspViolations).toEqual([]);
      expect(report.pageErrors).toEqual([]);
      expect(report.consoleErrors).toEqual([]);
      expect(requested.filter((u) => !u.startsWith(`${t.url}/`))).toEqual([]);
    } finally {
      await browser.close();
    }
  });
});
