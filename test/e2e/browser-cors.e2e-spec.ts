import type { Browser, Page } from 'playwright-core';
import { EventsGateway } from '../../src/core/gateway/events.gateway';
import { describeBrowser, launchChromium, serveSite, watchPage, type StaticSite } from '../support/browser';
import { mintKey } from '../support/credentials';
import { publish } from '../support/events';
import { waitFor } from '../support/sockets';
import { startTestApp, type TestApp } from '../support/test-app';

const CHANNEL = '9b7f3c2a-2f41-4f5e-9f54-6c1d8a2b7e90';

/**
 * A client team's web app on its own origin, in headless Chromium: it connects the Socket.IO
 * browser client, subscribes that session over REST (POST /api/v1/events/subscriptions with an
 * API key) and opens a raw WebSocket. All of it works from an origin in CORS_ORIGINS; from any
 * other origin the browser, or Herald, stops each one.
 */
const APP_PAGE = `<!doctype html>
<html>
<head><meta charset="utf-8"><title>client app</title><script src="/socket.io.min.js"></script></head>
<body>
<script>
  window.received = [];
  window.connectAndSubscribe = async (herald, key, transports, channelId) => {
    const socket = io(herald, { auth: { token: key }, transports, reconnection: false, timeout: 5000 });
    window.socket = socket;
    socket.on('channel.follow', (event) => window.received.push(event));
    const connected = await new Promise((resolve) => {
      socket.once('connect', () => resolve({ ok: true, transport: socket.io.engine.transport.name }));
      socket.once('connect_error', (err) => resolve({ ok: false, error: err.message }));
    });
    let subscribe;
    try {
      const res = await fetch(herald + '/api/v1/events/subscriptions', {
        method: 'POST',
        headers: { 'X-Api-Key': key, 'Content-Type': 'application/json' },
        body: JSON.stringify({ type: 'channel.follow', version: '1', sessionId: socket.id || 'no-session', condition: { channelId } }),
      });
      subscribe = { ok: true, status: res.status, body: await res.json(), requestId: res.headers.get('x-request-id') };
    } catch (err) {
      subscribe = { ok: false, error: String(err) };
    }
    return { connected, subscribe };
  };
  window.openRawWebSocket = (url) =>
    new Promise((resolve) => {
      const ws = new WebSocket(url);
      ws.onmessage = (m) => { resolve({ ok: true, frame: JSON.parse(m.data) }); ws.close(); };
      ws.onerror = () => resolve({ ok: false });
    });
</script>
</body>
</html>`;

interface Attempt {
  connected: { ok: boolean; transport?: string; error?: string };
  subscribe: { ok: boolean; status?: number; body?: any; requestId?: string | null; error?: string };
}

describeBrowser('a web app on another origin (CORS_ORIGINS)', () => {
  let allowedSite: StaticSite;
  let otherSite: StaticSite;
  let t: TestApp;
  let browser: Browser;
  let user: string;
  let producer: string;
  const pages: Page[] = [];

  beforeAll(async () => {
    allowedSite = await serveSite(APP_PAGE);
    otherSite = await serveSite(APP_PAGE);
    t = await startTestApp({ env: { CORS_ORIGINS: `${allowedSite.origin},https://app.example.com` } });
    user = await mintKey(t, { org: 'org_web', user: 'usr_web', scopes: ['users.read', 'events:read'] });
    producer = await mintKey(t, { org: 'org_web', scopes: ['events:publish'] });
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await t?.close();
    await allowedSite?.close();
    await otherSite?.close();
  });

  async function open(site: StaticSite) {
    const page = await browser.newPage();
    pages.push(page);
    const report = await watchPage(page);
    await page.goto(`${site.origin}/`);
    return { page, report };
  }

  const connectAndSubscribe = (page: Page, transports: string[]): Promise<Attempt> =>
    page.evaluate(
      ([herald, key, transports, channel]) => (globalThis as any).connectAndSubscribe(herald, key, transports, channel),
      [t.url, user, transports, CHANNEL] as const,
    );

  it.each([
    ['long-polling, then upgraded', ['polling', 'websocket']],
    ['WebSocket only', ['websocket']],
  ])(
    'from an allowed origin: connects Socket.IO (%s), subscribes the session over REST and receives the event',
    async (_name, transports) => {
      const { page, report } = await open(allowedSite);
      const attempt = await connectAndSubscribe(page, transports);
      expect(attempt.connected).toMatchObject({ ok: true });
      expect(attempt.subscribe).toMatchObject({ ok: true, status: 200, body: { success: true, message: 'success' } });
      // An exposed header: the page can read the id to quote in a support request.
      expect(attempt.subscribe.requestId).toEqual(expect.any(String));

      const event = await publish(t.url, producer, { type: 'channel.follow', channel_id: CHANNEL, user_id: 'usr_fan' });
      expect(event.status).toBe(201);
      await waitFor(
        'the event in the page',
        async () => (await page.evaluate(() => (globalThis as any).received.length as number)) > 0,
      );
      const received = await page.evaluate(() => (globalThis as any).received as any[]);
      expect(received).toEqual([
        expect.objectContaining({ id: event.body.id, type: 'channel.follow', channelid: CHANNEL }),
      ]);
      expect(report.cspViolations).toEqual([]);
      expect(report.pageErrors).toEqual([]);
      await page.evaluate(() => (globalThis as any).socket.close());
    },
  );

  it.each([
    ['long-polling', ['polling', 'websocket']],
    ['WebSocket only', ['websocket']],
  ])('from another origin: Socket.IO (%s) and the REST call are both stopped', async (_name, transports) => {
    const { page } = await open(otherSite);
    const attempt = await connectAndSubscribe(page, transports);
    expect(attempt.connected.ok).toBe(false);
    expect(attempt.subscribe).toMatchObject({ ok: false, error: expect.stringContaining('Failed to fetch') });

    // Herald holds no socket opened from that page.
    const sockets = await t.app.get(EventsGateway).server.fetchSockets();
    expect(sockets.filter((s) => s.handshake.headers.origin === otherSite.origin)).toEqual([]);
  });

  it('opens a raw WebSocket from an allowed origin; one from another origin is refused', async () => {
    const url = `${t.url.replace(/^http/, 'ws')}/api/v1/ws/subscribe?event_types=channel.follow&access_token=${user}`;
    const allowed = await open(allowedSite);
    await expect(allowed.page.evaluate((u) => (globalThis as any).openRawWebSocket(u), url)).resolves.toEqual({
      ok: true,
      frame: expect.objectContaining({ type: 'welcome', event_types: ['channel.follow'] }),
    });
    const other = await open(otherSite);
    await expect(other.page.evaluate((u) => (globalThis as any).openRawWebSocket(u), url)).resolves.toEqual({
      ok: false,
    });
  });
});
