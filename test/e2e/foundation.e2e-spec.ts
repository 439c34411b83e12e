import { SignJWT } from 'jose';
import request from 'supertest';
import { DataSource } from 'typeorm';
import { mintKey, signJwt } from '../support/credentials';
import { connectSocket } from '../support/sockets';
import { startTestApp, TEST_JWT_SECRET, TestApp } from '../support/test-app';
import { connectWs } from '../support/ws-client';

describe('foundation: auth, errors, docs, operations', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t?.close());

  describe('credentials', () => {
    it('401 without a credential, in the standard envelope', async () => {
      const res = await request(t.url).get('/api/v1/api-keys');
      expect(res.status).toBe(401);
      expect(res.body).toEqual({
        statusCode: 401,
        error: 'Unauthorized',
        message: expect.stringContaining('Missing credential'),
      });
    });

    it('401 for an unknown key and for a JWT with a bad signature', async () => {
      expect((await request(t.url).get('/api/v1/api-keys').set('X-Api-Key', 'hrld_nope')).status).toBe(401);
      const forged = await signJwt({ sub: 'u', org: 'org_001', scope: 'admin' }, { secret: 'x'.repeat(40) });
      const res = await request(t.url).get('/api/v1/api-keys').set('Authorization', `Bearer ${forged}`);
      expect(res.status).toBe(401);
      expect(res.body.message).toBe('Invalid bearer token: token signature is invalid');
    });

    it('the HERALD_BOOTSTRAP_KEY operator key works with both headers', async () => {
      expect((await request(t.url).get('/api/v1/api-keys').set('X-Api-Key', t.operatorToken)).status).toBe(200);
      expect(
        (await request(t.url).get('/api/v1/api-keys').set('Authorization', `Bearer ${t.operatorToken}`)).status,
      ).toBe(200);
    });

    it('key create → use → revoke → 401', async () => {
      const created = await request(t.url)
        .post('/api/v1/api-keys')
        .set('X-Api-Key', t.operatorToken)
        .send({ kind: 'app', organisation_id: 'org_keys', scopes: ['admin'], name: 'ci' });
      expect(created.status).toBe(201);
      expect(created.body).toMatchObject({
        kind: 'app',
        organisation_id: 'org_keys',
        scopes: ['admin'],
        revoked_at: null,
        name: 'ci',
      });
      expect(created.body.key_id).toMatch(/^key_[0-9a-z]{26}$/);
      const token: string = created.body.token;

      const listed = await request(t.url).get('/api/v1/api-keys').set('Authorization', `Bearer ${token}`);
      expect(listed.status).toBe(200);
      expect(listed.body.map((k: { key_id: string }) => k.key_id)).toEqual([created.body.key_id]);
      expect(JSON.stringify(listed.body)).not.toContain(token);

      const revoked = await request(t.url).delete(`/api/v1/api-keys/${created.body.key_id}`).set('X-Api-Key', token);
      expect(revoked.status).toBe(200);
      expect(revoked.body).toMatchObject({ key_id: created.body.key_id, revoked: true });

      const after = await request(t.url).get('/api/v1/api-keys').set('X-Api-Key', token);
      expect(after.status).toBe(401);
      expect(after.body.message).toContain('revoked');
    });

    it('an admin key manages only its own organisation', async () => {
      const admin = await mintKey(t, { org: 'org_a', scopes: ['admin'] });
      const foreign = await request(t.url)
        .post('/api/v1/api-keys')
        .set('X-Api-Key', admin)
        .send({ kind: 'app', organisation_id: 'org_b', scopes: [] });
      expect(foreign.status).toBe(403);

      const other = await request(t.url)
        .post('/api/v1/api-keys')
        .set('X-Api-Key', t.operatorToken)
        .send({ kind: 'app', organisation_id: 'org_b', scopes: [] });
      const hidden = await request(t.url).delete(`/api/v1/api-keys/${other.body.key_id}`).set('X-Api-Key', admin);
      expect(hidden.status).toBe(404);
      expect(hidden.body).toMatchObject({ statusCode: 404, error: 'Not Found' });
    });

    it('403 for a missing scope', async () => {
      const reader = await mintKey(t, { user: 'usr_1', scopes: ['events:read'] });
      const res = await request(t.url).get('/api/v1/api-keys').set('X-Api-Key', reader);
      expect(res.status).toBe(403);
      expect(res.body).toEqual({ statusCode: 403, error: 'Forbidden', message: 'Missing scope: admin' });
    });

    it('accepts a JWT from the identity provider', async () => {
      const jwt = await signJwt({ sub: 'usr_jwt', org: 'org_jwt', scope: 'admin', token_type: 'user' });
      const res = await request(t.url).get('/api/v1/api-keys').set('Authorization', `Bearer ${jwt}`);
      expect(res.status).toBe(200);
      expect(res.body).toEqual([]);
    });
    it('401 for a JWT without exp, on REST, the raw WebSocket upgrade and the Socket.IO handshake', async () => {
      const forever = await new SignJWT({
        sub: 'usr_jwt',
        org: 'org_jwt',
        scope: 'admin events:read',
        token_type: 'user',
      })
        .setProtectedHeader({ alg: 'HS256' })
        .setIssuedAt()
        .sign(new TextEncoder().encode(TEST_JWT_SECRET));
      const message = 'Invalid bearer token: token is missing the "exp" claim; Herald accepts only expiring tokens';
      const res = await request(t.url).get('/api/v1/api-keys').set('Authorization', `Bearer ${forever}`);
      expect(res.status).toBe(401);
      expect(res.body).toEqual({ statusCode: 401, error: 'Unauthorized', message });
      await expect(connectWs(`${t.url}/api/v1/ws/subscribe?access_token=${forever}`)).rejects.toMatchObject({
        status: 401,
        body: { message },
      });
      await expect(connectSocket(t.url, forever)).rejects.toMatchObject({ data: { code: 401, message } });
    });

    it('401 for a JWT living longer than AUTH_JWT_MAX_LIFETIME (24h by default)', async () => {
      const yearLong = await signJwt(
        { sub: 'usr_jwt', org: 'org_jwt', scope: 'admin', token_type: 'user' },
        { expiresIn: '365d' },
      );
      const res = await request(t.url).get('/api/v1/api-keys').set('Authorization', `Bearer ${yearLong}`);
      expect(res.status).toBe(401);
      expect(res.body.message).toBe(
        'Invalid bearer token: token lifetime (exp - iat) of 31536000 s exceeds the maximum of 86400 s',
      );
      const day = await signJwt(
        { sub: 'usr_jwt', org: 'org_jwt', scope: 'admin', token_type: 'user' },
        { expiresIn: '24h' },
      );
      expect((await request(t.url).get('/api/v1/api-keys').set('Authorization', `Bearer ${day}`)).status).toBe(200);
    });

    it('401 for a JWT naming the operator organisation "*": it reaches no operator data', async () => {
      for (const claims of [
        { org: '*', scope: 'admin', token_type: 'app' as const },
        { sub: 'usr_star', org: '*', scope: 'admin', token_type: 'user' as const },
      ]) {
        const jwt = await signJwt(claims);
        const res = await request(t.url).get('/api/v1/api-keys').set('Authorization', `Bearer ${jwt}`);
        expect(res.status).toBe(401);
        expect(res.body).toEqual({
          statusCode: 401,
          error: 'Unauthorized',
          message: 'Invalid bearer token: token claim "org" may not be "*"',
        });
        expect(JSON.stringify(res.body)).not.toContain('operator');
      }
    });
  });

  describe('validation and error envelopes', () => {
    it('400 naming an unknown field', async () => {
      const res = await request(t.url)
        .post('/api/v1/api-keys')
        .set('X-Api-Key', t.operatorToken)
        .send({ kind: 'app', organisation_id: 'org_v', scopes: [], colour: 'blue' });
      expect(res.status).toBe(400);
      expect(res.body.statusCode).toBe(400);
      expect(res.body.details).toEqual([{ field: 'colour', message: 'unknown field colour is not allowed' }]);
    });

    it('400 with a detail per broken field', async () => {
      const res = await request(t.url)
        .post('/api/v1/api-keys')
        .set('X-Api-Key', t.operatorToken)
        .send({ kind: 'robot', scopes: ['fly'] });
      expect(res.status).toBe(400);
      const fields = res.body.details.map((d: { field: string }) => d.field);
      expect(fields).toEqual(expect.arrayContaining(['kind', 'scopes']));
    });

    it('400 for malformed JSON, never 500', async () => {
      const res = await request(t.url)
        .post('/api/v1/api-keys')
        .set('X-Api-Key', t.operatorToken)
        .set('Content-Type', 'application/json')
        .send('{"kind": "app",');
      expect(res.status).toBe(400);
      expect(res.body).toEqual({ statusCode: 400, error: 'Bad Request', message: 'Malformed JSON in request body' });
    });

    it('413 for a 2 MiB body', async () => {
      const res = await request(t.url)
        .post('/api/v1/api-keys')
        .set('X-Api-Key', t.operatorToken)
        .set('Content-Type', 'application/json')
        .send(JSON.stringify({ name: 'x'.repeat(2 * 1024 * 1024) }));
      expect(res.status).toBe(413);
      expect(res.body).toMatchObject({ statusCode: 413, error: 'Payload Too Large' });
    });

    it('seed 001 paths answer in the 001 envelope', async () => {
      const res = await request(t.url)
        .post('/api/v1/ws/unsubscribe')
        .set('Content-Type', 'application/json')
        .send('{oops');
      expect(res.status).toBe(400);
      expect(res.body).toEqual({
        code: 400,
        message: 'Malformed JSON in request body',
        stack: [
          {
            code: 400,
            description: 'Malformed JSON in request body',
            error: 'Bad Request',
            path: '/api/v1/ws/unsubscribe',
          },
        ],
      });
    });

    it('seed 004 paths answer in the 004 envelope, at both mounts', async () => {
      for (const path of ['/v1/events/subscriptions', '/api/v1/events/subscriptions']) {
        const res = await request(t.url).post(path).set('Content-Type', 'application/json').send('{oops');
        expect(res.status).toBe(400);
        expect(res.body).toEqual({ success: false, message: 'Malformed JSON in request body' });
      }
    });

    it('unknown routes are a 404 in the standard envelope', async () => {
      const res = await request(t.url).get('/api/v1/nothing-here').set('X-Api-Key', t.operatorToken);
      expect(res.status).toBe(404);
      expect(res.body).toMatchObject({ statusCode: 404, error: 'Not Found' });
    });
  });

  describe('operations', () => {
    it('healthz and readyz answer without a credential', async () => {
      expect((await request(t.url).get('/healthz')).body).toEqual({ status: 'ok' });
      const ready = await request(t.url).get('/readyz');
      expect(ready.status).toBe(200);
      expect(ready.body.checks.database).toBe('up');
      if (t.config.redisUrl) expect(ready.body.checks.redis).toBe('up');
    });

    it('echoes a request id, or makes one', async () => {
      const given = await request(t.url).get('/healthz').set('X-Request-Id', 'req-123');
      expect(given.headers['x-request-id']).toBe('req-123');
      const made = await request(t.url).get('/healthz');
      expect(made.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    });

    it('exposes Prometheus metrics with the request histogram by route', async () => {
      await request(t.url).get('/api/v1/api-keys').set('X-Api-Key', t.operatorToken);
      const res = await request(t.url).get('/metrics');
      expect(res.status).toBe(200);
      expect(res.text).toContain('herald_process_cpu_user_seconds_total');
      expect(res.text).toMatch(
        /herald_http_request_duration_seconds_count\{method="GET",route="\/api\/v1\/api-keys",status="200"\} \d+/,
      );
    });

    it('serves Swagger UI and an OpenAPI 3 document with every route', async () => {
      expect((await request(t.url).get('/docs')).status).toBe(200);
      const doc = (await request(t.url).get('/docs-json')).body;
      expect(doc.openapi).toMatch(/^3\./);
      expect(Object.keys(doc.components.securitySchemes)).toEqual(expect.arrayContaining(['bearer', 'api-key']));
      const documented = new Set<string>();
      for (const [path, ops] of Object.entries<Record<string, unknown>>(doc.paths)) {
        for (const method of Object.keys(ops)) documented.add(`${method.toUpperCase()} ${path}`);
      }
      // The AsyncAPI document and its page describe the sockets; they are not REST operations.
      const routes = registeredRoutes(t).filter((r) => !/^GET \/(metrics|docs|asyncapi)/.test(r));
      expect(routes.length).toBeGreaterThan(4);
      for (const route of routes) expect(documented).toContain(route);
    });
  });
});

describe('readiness with a stopped database', () => {
  it('reports not ready, naming the database', async () => {
    const t = await startTestApp({ redis: false });
    try {
      await t.app.get(DataSource).destroy();
      const res = await request(t.url).get('/readyz');
      expect(res.status).toBe(503);
      expect(res.body).toMatchObject({ statusCode: 503, message: 'Not ready', details: [{ field: 'database' }] });
      expect((await request(t.url).get('/healthz')).status).toBe(200);
    } finally {
      await t.close().catch(() => undefined);
    }
  });
});

/** `METHOD /path/{param}` for every route Express has, in OpenAPI's path syntax. */
function registeredRoutes(t: TestApp): string[] {
  const express = t.app.getHttpAdapter().getInstance() as {
    router?: { stack: unknown[] };
    _router?: { stack: unknown[] };
  };
  const stack = (express.router ?? express._router)!.stack as {
    route?: { path: string; methods: Record<string, boolean> };
  }[];
  const out: string[] = [];
  for (const layer of stack) {
    if (!layer.route) continue;
    for (const method of Object.keys(layer.route.methods)) {
      out.push(`${method.toUpperCase()} ${layer.route.path.replace(/:(\w+)/g, '{$1}')}`);
    }
  }
  return out;
}
