import { getEventListeners } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebhookSender } from '../../src/core/webhooks/webhook-sender';
import type { SendResult } from '../../src/core/webhooks/webhook.types';
import { waitFor } from '../support/sockets';
import { startTestApp, type TestApp } from '../support/test-app';

const IN_FLIGHT = 25;

/**
 * The delivery worker hands every request the same shutdown signal. With more than 10 requests
 * in flight, a listener per request on that signal made Node print a MaxListenersExceededWarning
 * (plain text on stderr, outside the JSON log).
 */
describe('webhook sender: many requests in flight under one shutdown signal', () => {
  let t: TestApp;
  let receiver: Server;
  let url: string;
  const held: ServerResponse[] = [];

  beforeAll(async () => {
    t = await startTestApp({ env: { WEBHOOK_ALLOW_PRIVATE: 'true', WEBHOOK_TIMEOUT: '30s' } });
    // Answers nothing until the test says so: every request stays in flight.
    receiver = createServer((req: IncomingMessage, res: ServerResponse) => {
      req.resume();
      held.push(res);
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
  });
  afterAll(async () => {
    for (const res of held) res.destroy();
    await new Promise((resolve) => receiver?.close(resolve));
    await t?.close();
  });

  it('holds one listener on the shared signal however many requests are in flight, and aborting it still cancels them all', async () => {
    const sender = t.app.get(WebhookSender);
    const shutdown = new AbortController();
    const results: Promise<SendResult>[] = [];
    for (let i = 0; i < IN_FLIGHT; i++) {
      results.push(
        sender.send(
          { url: `${url}?n=${i}`, method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' },
          shutdown.signal,
        ),
      );
    }
    await waitFor(`${IN_FLIGHT} requests at the receiver`, () => held.length === IN_FLIGHT);

    // Node warns past 10 listeners on one target. (Jest's sandboxed `process` does not see the
    // warning event, so the listeners are counted instead.)
    expect(getEventListeners(shutdown.signal, 'abort').length).toBe(1);

    shutdown.abort();
    const settled = await Promise.all(results);
    expect(settled.map((r) => r.error)).toEqual(Array(IN_FLIGHT).fill('Cancelled: the server is shutting down'));
  });

  it('a finished request leaves nothing behind on the signal, and an already aborted signal cancels at once', async () => {
    const sender = t.app.get(WebhookSender);
    const shutdown = new AbortController();
    held.length = 0;
    const first = sender.send({ url, method: 'POST', headers: {}, body: '{}' }, shutdown.signal);
    await waitFor('the request at the receiver', () => held.length === 1);
    held[0].writeHead(204).end();
    expect((await first).status).toBe(204);
    expect(getEventListeners(shutdown.signal, 'abort').length).toBeLessThanOrEqual(1);

    shutdown.abort();
    const late = await sender.send({ url, method: 'POST', headers: {}, body: '{}' }, shutdown.signal);
    expect(late.error).toBe('Cancelled: the server is shutting down');
  });
});
