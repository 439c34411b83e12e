import request from 'supertest';
import { io, type Socket } from 'socket.io-client';
import { mintKey } from '../support/credentials';
import { connectWs, type UpgradeRefusal, type WsConnection } from '../support/ws-client';
import { startTestApp, type TestApp } from '../support/test-app';

/**
 * The browser rules over plain HTTP, as a browser would ask (README "Browsers"): CORS preflights
 * and the headers of real answers for an allowed and a foreign origin, the same list on Socket.IO
 * and raw WebSocket handshakes, clients without a browser left alone, and the security headers on
 * every kind of response.
 */
const ALLOWED = 'https://app.example.com';
const FOREIGN = 'https://evil.example.net';
const REQUEST_HEADERS = ['authorization', 'x-api-key', 'content-type', 'x-workspace-id', 'x-request-id'];

const corsHeaders = (res: { headers: Record<string, unknown> }) =>
  Object.keys(res.headers).filter((h) => h.startsWith('access-control-'));

describe('browser access over HTTP (CORS_ORIGINS, security headers)', () => {
  let t: TestApp;
  let key: string;
  const sockets: Socket[] = [];
  const conns: WsConnection[] = [];

  beforeAll(async () => {
    t = await startTestApp({ env: { CORS_ORIGINS: `http://localhost:5173, ${ALLOWED}/` } });
    key = await mintKey(t, { org: 'org_b', user: 'usr_b', scopes: ['events:read', 'users.read'] });
  });
  afterAll(async () => {
    for (const s of sockets) s.close();
    for (const c of conns) c.ws.terminate();
    await t?.close();
  });

  describe('REST', () => {
    it('answers a preflight from an allowed origin with 204, the methods and the headers Herald takes', async () => {
      const res = await request(t.url)
        .options('/api/v1/events/subscriptions')
        .set('Origin', ALLOWED)
        .set('Access-Control-Request-Method', 'POST')
        .set('Access-Control-Request-Headers', REQUEST_HEADERS.join(','));
      expect(res.status).toBe(204);
      expect(res.headers['access-control-allow-origin']).toBe(ALLOWED);
      expect(res.headers['access-control-allow-methods'].split(',')).toEqual(
        expect.arrayContaining(['GET', 'POST', 'PUT', 'DELETE']),
      );
      const allowed = res.headers['access-control-allow-headers'].toLowerCase().split(',');
      expect(allowed).toEqual(expect.arrayContaining(REQUEST_HEADERS));
      expect(res.headers['access-control-allow-credentials']).toBeUndefined();
      expect(res.headers.vary).toMatch(/Origin/);
    });

    it('lets an allowed page read the answer, X-Request-Id and Retry-After included', async () => {
      const res = await request(t.url)
        .post('/api/v1/events/subscriptions')
        .set('Origin', 'http://localhost:5173')
        .set('X-Api-Key', key)
        .send({});
      expect(res.status).toBe(400);
      // The error envelope of the path is unchanged.
      expect(res.body).toMatchObject({ success: false });
      expect(res.headers['access-control-allow-origin']).toBe('http://localhost:5173');
      expect(res.headers['access-control-expose-headers'].toLowerCase().split(',')).toEqual(
        expect.arrayContaining(['x-request-id', 'retry-after']),
      );
      expect(res.headers['x-request-id']).toEqual(expect.any(String));
    });

    it('gives another origin no CORS header at all, on a preflight or an answer', async () => {
      const preflight = await request(t.url)
        .options('/api/v1/events/subscriptions')
        .set('Origin', FOREIGN)
        .set('Access-Control-Request-Method', 'POST')
        .set('Access-Control-Request-Headers', 'x-api-key,content-type');
      expect(corsHeaders(preflight)).toEqual([]);
      expect(preflight.status).toBe(404);

      const answer = await request(t.url).get('/api/v1/event-types').set('Origin', FOREIGN).set('X-Api-Key', key);
      expect(answer.status).toBe(200);
      expect(corsHeaders(answer)).toEqual([]);
      // Cached answers must not be shared with an allowed origin.
      expect(answer.headers.vary).toMatch(/Origin/);
    });

    it('adds no CORS header when CORS_ORIGINS is not set', async () => {
      const plain = await startTestApp();
      try {
        const preflight = await request(plain.url)
          .options('/api/v1/events')
          .set('Origin', ALLOWED)
          .set('Access-Control-Request-Method', 'POST');
        expect(preflight.status).toBe(404);
        expect(corsHeaders(preflight)).toEqual([]);
        const polling = await request(plain.url)
          .get('/socket.io/')
          .query({ EIO: 4, transport: 'polling' })
          .set('Origin', ALLOWED);
        expect(polling.status).toBe(403);
        expect(corsHeaders(polling)).toEqual([]);
      } finally {
        await plain.close();
      }
    });
  });

  describe('Socket.IO', () => {
    const connect = (origin?: string) =>
      new Promise<Socket>((resolve, reject) => {
        const socket = io(t.url, {
          transports: ['websocket'],
          reconnection: false,
          forceNew: true,
          auth: { token: key },
          ...(origin ? { extraHeaders: { Origin: origin } } : {}),
        });
        sockets.push(socket);
        socket.once('connect', () => resolve(socket));
        socket.once('connect_error', reject);
      });

    it('accepts a handshake with no Origin, its own, or an allowed one, and refuses any other', async () => {
      await expect(connect()).resolves.toBeDefined();
      await expect(connect(t.url)).resolves.toBeDefined();
      await expect(connect(ALLOWED)).resolves.toBeDefined();
      await expect(connect(FOREIGN)).rejects.toThrow(/websocket error/);
    });

    it('answers long-polling for the allowed origins only', async () => {
      const allowed = await request(t.url)
        .get('/socket.io/')
        .query({ EIO: 4, transport: 'polling' })
        .set('Origin', ALLOWED);
      expect(allowed.status).toBe(200);
      expect(allowed.headers['access-control-allow-origin']).toBe(ALLOWED);
      expect(allowed.headers['access-control-allow-credentials']).toBe('true');

      const foreign = await request(t.url)
        .get('/socket.io/')
        .query({ EIO: 4, transport: 'polling' })
        .set('Origin', FOREIGN);
      expect(foreign.status).toBe(403);
      expect(JSON.parse(foreign.text)).toMatchObject({ message: `Origin ${FOREIGN} is not allowed (CORS_ORIGINS)` });
      expect(corsHeaders(foreign)).toEqual([]);
    });
  });

  describe('raw WebSockets', () => {
    const refusal = (url: string, headers: Record<string, string>) =>
      connectWs(url, { headers }).then(
        (conn) => {
          conns.push(conn);
          throw new Error('the upgrade was accepted');
        },
        (err: UpgradeRefusal) => err,
      );

    it('refuses an upgrade from a foreign origin with 403 in the path envelope, before the credential is looked at', async () => {
      // No credential at all: the answer is 403 for the origin, not 401.
      const subscribe = await refusal(`${t.url}/api/v1/ws/subscribe`, { Origin: FOREIGN });
      expect(subscribe.status).toBe(403);
      expect(subscribe.body).toEqual({
        code: 403,
        message: `Origin ${FOREIGN} is not allowed (CORS_ORIGINS)`,
        stack: [
          {
            code: 403,
            description: `Origin ${FOREIGN} is not allowed (CORS_ORIGINS)`,
            error: 'Forbidden',
            path: '/api/v1/ws/subscribe',
          },
        ],
      });
      const withKey = await refusal(`${t.url}/api/v1/ws/subscribe`, { Origin: FOREIGN, 'X-Api-Key': key });
      expect(withKey.status).toBe(403);

      const channel = await request(t.url)
        .post('/api/v1/realtime-subscriptions/user')
        .set('X-Api-Key', key)
        .send({ user_id: 'usr_b' });
      expect(channel.status).toBe(201);
      const attach = await refusal(channel.body.websocket_url, { Origin: FOREIGN });
      expect(attach.status).toBe(403);
      expect(attach.body).toMatchObject({
        statusCode: 403,
        error: 'Forbidden',
        message: `Origin ${FOREIGN} is not allowed (CORS_ORIGINS)`,
      });
    });

    it.each([
      ['no Origin (Node, curl)', {}],
      ['its own origin (Python websocket-client)', { Origin: 'OWN' }],
      ['an allowed origin', { Origin: ALLOWED }],
    ])('opens with %s', async (_name, origin: Record<string, string>) => {
      const headers = { 'X-Api-Key': key, ...(origin.Origin === 'OWN' ? { Origin: t.url } : origin) };
      const conn = await connectWs(`${t.url}/api/v1/ws/subscribe`, { headers });
      conns.push(conn);
      await expect(conn.next((f) => f.type === 'welcome', 'welcome')).resolves.toMatchObject({ type: 'welcome' });
    });
  });

  describe('security headers', () => {
    const HELMET = {
      'x-content-type-options': 'nosniff',
      'x-frame-options': 'DENY',
      'referrer-policy': 'no-referrer',
      'cross-origin-opener-policy': 'same-origin',
      'strict-transport-security': expect.stringContaining('max-age='),
    };

    it.each([
      ['a JSON answer', '/healthz', 200],
      ['an error', '/api/v1/events', 401],
      ['an unknown path', '/nowhere', 404],
      ['the OpenAPI document', '/docs-json', 200],
      ['metrics', '/metrics', 200],
    ])('sends them, with a CSP that allows nothing, on %s', async (_name, path, status) => {
      const res = await request(t.url).get(path);
      expect(res.status).toBe(status);
      expect(res.headers).toMatchObject(HELMET);
      expect(res.headers['content-security-policy']).toBe(
        "default-src 'none';base-uri 'none';form-action 'none';frame-ancestors 'none'",
      );
      expect(res.headers['x-powered-by']).toBeUndefined();
    });

    it('sends them on Swagger UI and its assets, with a CSP for same-origin scripts', async () => {
      for (const path of ['/docs', '/docs/swagger-ui-init.js']) {
        const res = await request(t.url).get(path);
        expect(res.status).toBe(200);
        expect(res.headers).toMatchObject(HELMET);
        expect(res.headers['content-security-policy']).toMatch(/(^|;)script-src 'self'(;|$)/);
      }
    });

    it("sends them on Socket.IO's long-polling answers", async () => {
      const res = await request(t.url).get('/socket.io/').query({ EIO: 4, transport: 'polling' });
      expect(res.status).toBe(200);
      expect(res.headers).toMatchObject(HELMET);
    });
  });
});
