import type { Browser, Locator, Page } from 'playwright-core';
import request from 'supertest';
import { describeBrowser, launchChromium, watchPage, type PageReport } from '../support/browser';
import { mintKey } from '../support/credentials';
import { freePort, startTestApp, type TestApp } from '../support/test-app';

/**
 * Swagger UI as a client team uses it, in headless Chromium: served under a strict
 * Content-Security-Policy, opened from 127.0.0.1 while PUBLIC_BASE_URL says localhost, authorised
 * with an API key, "Try it out" on the publish operation with its documented example, and the
 * authorisation still there after a reload.
 */
describeBrowser('Swagger UI in a browser (/docs)', () => {
  let t: TestApp;
  let browser: Browser;
  let key: string;

  beforeAll(async () => {
    const port = await freePort();
    // The page is opened as 127.0.0.1: "Try it out" must call that host, not PUBLIC_BASE_URL's.
    t = await startTestApp({ port, env: { PUBLIC_BASE_URL: `http://localhost:${port}` } });
    key = await mintKey(t, { org: 'org_001', scopes: ['events:publish', 'events:read'] });
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await t?.close();
  });

  const publishOperation = (page: Page): Locator =>
    page.locator('.opblock-post').filter({ has: page.locator('[data-path="/api/v1/events"]') });

  /** Expands POST /api/v1/events, runs its example and returns what the page shows. */
  async function tryPublish(page: Page): Promise<{ status: number; body: any; url: string }> {
    const operation = publishOperation(page);
    // Deep links reopen the operation expanded after a reload.
    if (!(await operation.getAttribute('class'))?.split(' ').includes('is-open'))
      await operation.locator('.opblock-summary').first().click();
    await operation.locator('button.try-out__btn').click();
    await operation.locator('button.execute').click();
    const live = operation.locator('.live-responses-table .response').first();
    await live.waitFor();
    const url = (await operation.locator('.request-url pre').innerText()).trim();
    const status = Number((await live.locator('.response-col_status').innerText()).trim());
    // A request that never got an answer ("Failed to fetch": CORS, CSP) shows no status code.
    if (!Number.isInteger(status))
      throw new Error(`no response from ${url}: ${await live.locator('.response-col_description').innerText()}`);
    const body = JSON.parse(await live.locator('.response-col_description pre').first().innerText());
    return { status, body, url };
  }

  async function openDocs(page: Page): Promise<void> {
    const response = await page.goto(`${t.url}/docs`);
    expect(response?.status()).toBe(200);
    await publishOperation(page).waitFor();
  }

  it('authorises with an API key, publishes the documented example, and keeps the key across a reload', async () => {
    const page = await browser.newPage();
    const report: PageReport = await watchPage(page);
    await openDocs(page);

    await page.locator('.auth-wrapper button.authorize').click();
    const scheme = page.locator('.modal-ux .auth-container').filter({ hasText: 'api-key' });
    await scheme.locator('input').fill(key);
    await scheme.locator('button.authorize').click();
    await scheme.locator('button.btn-done').click();

    const first = await tryPublish(page);
    expect(first.url).toBe(`${t.url}/api/v1/events`);
    expect(first.status).toBe(201);
    expect(first.body).toMatchObject({ type: 'claim_approved', seq: expect.any(Number) });
    expect(first.body.id).toEqual(expect.any(String));

    // What the page showed is what the server stored.
    const stored = await request(t.url).get('/api/v1/events').query({ after: 0 }).set('X-Api-Key', key);
    expect(stored.status).toBe(200);
    expect(stored.body.data.map((e: { id: string }) => e.id)).toContain(first.body.id);

    await page.reload();
    await publishOperation(page).waitFor();
    await expect(page.locator('.auth-wrapper button.authorize').getAttribute('class')).resolves.toContain('locked');
    const again = await tryPublish(page);
    // The example carries a producer id: publishing it again returns the original.
    expect(again.status).toBe(200);
    expect(again.body.id).toBe(first.body.id);

    expect(report.cspViolations).toEqual([]);
    expect(report.pageErrors).toEqual([]);
    await page.close();
  });

  it('is served with a Content-Security-Policy that allows no inline or foreign script', async () => {
    const res = await request(t.url).get('/docs');
    expect(res.status).toBe(200);
    const csp = String(res.headers['content-security-policy']);
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("connect-src 'self'");
    expect(csp).not.toContain('unsafe-eval');
    expect(csp).not.toMatch(/script-src[^;]*unsafe-inline/);
  });
});
