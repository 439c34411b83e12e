import fc from 'fast-check';
import request from 'supertest';
import { mintKey, signJwt } from '../support/credentials';
import { connectSocket } from '../support/sockets';
import { startTestApp, TestApp } from '../support/test-app';
import { connectWs, WsConnection } from '../support/ws-client';
import { fromSchema, nastyString, someString } from './arbitraries';
import {
  envelopeProblem,
  familyOf,
  loadDocument,
  OpenApiDocument,
  Operation,
  operationsOf,
  readBody,
} from './contract';

/**
 * Property: whatever arrives — random or malformed bodies, headers, query strings and ids, on
 * every operation of the OpenAPI document, and random frames on the raw WebSocket endpoint —
 * Herald never answers 5xx, never hangs, never crashes, and every error is the documented
 * envelope of its family. `FUZZ_RUNS` sets the HTTP case count (10,000 by default, as CI runs it).
 */
const HTTP_RUNS = Number(process.env.FUZZ_RUNS ?? 10_000);
const WS_RUNS = Number(process.env.FUZZ_WS_RUNS ?? 2_000);
const SEED = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : undefined;

const LONG = 30 * 60_000;

describe('fuzzing every endpoint', () => {
  let t: TestApp;
  let doc: OpenApiDocument;
  let operations: Operation[];
  const credentials: Record<string, string | undefined> = {};
  const ids: string[] = [];

  beforeAll(async () => {
    t = await startTestApp({ env: { WEBHOOK_ALLOW_PRIVATE: 'true' } });
    doc = await loadDocument(t.url);
    operations = operationsOf(doc);

    const all = [
      'admin',
      'events:publish',
      'events:read',
      'claims:read:org',
      'users.read',
      'notifications:write',
      'subscriptions:write',
    ];
    credentials.operator = t.operatorToken;
    credentials.admin = await mintKey(t, { kind: 'app', org: 'org_f', scopes: all, workspaces: ['ws_f'] });
    credentials.user = await mintKey(t, {
      user: 'usr_f1',
      org: 'org_f',
      scopes: all.filter((s) => s !== 'admin' && s !== 'claims:read:org'),
      workspaces: ['ws_f'],
    });
    credentials.bare = await mintKey(t, { kind: 'app', org: 'org_f' });
    credentials.userJwt = await signJwt({
      sub: 'usr_f2',
      org: 'org_f',
      scope: 'events:read users.read subscriptions:write',
      workspaces: ['ws_f'],
      token_type: 'user',
    });
    credentials.expiredJwt = await signJwt(
      { sub: 'usr_f2', org: 'org_f' },
      { expiresIn: Math.floor(Date.now() / 1000) - 60 },
    );
    credentials.otherSecretJwt = await signJwt(
      { sub: 'usr_f2', org: 'org_f' },
      { secret: 'another-secret-that-is-also-32-bytes-long' },
    );
    credentials.garbage = 'hrld_not_a_key';
    credentials.none = undefined;

    // Real ids of every kind, so a share of cases reach the code behind "not found".
    const admin = { Authorization: `Bearer ${credentials.admin}` };
    const channel = await request(t.url)
      .post('/api/v1/realtime-subscriptions/organisation')
      .set(admin)
      .send({ organisation_id: 'org_f' });
    const notification = await request(t.url)
      .post('/api/v1/approval-notifications')
      .set(admin)
      .send({ claim_id: 'clm_f1', new_status: 'approved', recipient_user_id: 'usr_f1', amount: 12, currency: 'NOK' });
    const claimSub = await request(t.url)
      .post('/api/v1/approval-notifications/subscriptions')
      .set(admin)
      .send({ claim_id: 'clm_f1', user_id: 'usr_f1', webhook_url: 'http://127.0.0.1:9/hook' });
    const wsub = await request(t.url)
      .post('/api/v1/subscriptions')
      .set(admin)
      .send({
        rules: [{ trigger: 'claim_approved', conditions: {} }],
        resources: ['organisations/org_f'],
        actions: [{ type: 'socket' }],
      });
    const key = await request(t.url)
      .post('/api/v1/api-keys')
      .set(admin)
      .send({ kind: 'app', scopes: ['events:read'] });
    const socket = await connectSocket(t.url, credentials.user);
    // A delivery to the claim subscription (its receiver refuses connections: it is logged all the same).
    await request(t.url)
      .post('/api/v1/events')
      .set(admin)
      .send({ type: 'comment_added', claim_id: 'clm_f1', user_id: 'usr_f1', data: {} });
    let delivery: string | undefined;
    for (let tries = 0; !delivery && tries < 200; tries++) {
      const page = await request(t.url).get('/api/v1/webhook-deliveries').set(admin);
      delivery = (page.body as { data?: { id: string }[] }).data?.[0]?.id;
      if (!delivery) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    for (const [what, res] of Object.entries({ channel, notification, claimSub, wsub, key })) {
      if (res.status >= 300) throw new Error(`fixture ${what}: ${res.status} ${JSON.stringify(res.body)}`);
    }
    ids.push(
      channel.body.channel_id ?? channel.body.id,
      notification.body.notification_id,
      claimSub.body.id ?? claimSub.body.subscription_id,
      wsub.body.id,
      key.body.key_id,
      socket.id!,
      delivery!,
    );
    if (ids.some((id) => typeof id !== 'string')) throw new Error(`fixture ids missing: ${JSON.stringify(ids)}`);
  });

  afterAll(async () => {
    await t?.close();
  });

  it('the document lists every REST area', () => {
    const areas = new Set(operations.map((o) => o.path.split('/').slice(0, 4).join('/')));
    for (const area of [
      '/api/v1/events',
      '/api/v1/ws/subscribe',
      '/v1/events/subscriptions',
      '/api/v1/realtime-subscriptions',
      '/api/v1/approval-notifications',
      '/api/v1/subscriptions',
      '/api/v2/subscriptions',
      '/api/v1/api-keys',
      '/api/v1/webhook-deliveries',
    ]) {
      expect([...areas].some((a) => a.startsWith(area) || area.startsWith(a))).toBe(true);
    }
    expect(operations.length).toBeGreaterThanOrEqual(40);
  });

  it(
    `never a 5xx, a hang or a malformed error over ${HTTP_RUNS} random requests`,
    async () => {
      const idValue = fc.oneof(
        { weight: 3, arbitrary: fc.constantFrom(...ids) },
        { weight: 2, arbitrary: someString.map((s) => encodeURIComponent(s.slice(0, 200))) },
        {
          weight: 1,
          arbitrary: fc.constantFrom(
            '%ZZ',
            '%',
            '..',
            '.',
            '%2e%2e',
            'a%2Fb',
            '%00',
            'chan_00000000000000000000000000',
            'wsub_' + 'z'.repeat(26),
          ),
        },
        { weight: 1, arbitrary: fc.constantFrom(...ids).map((id) => id.toUpperCase()) },
      );
      const queryValue = fc.oneof(
        someString,
        fc.integer({ min: -10, max: 10_000 }).map(String),
        fc.constantFrom('1e30', '-5', '99999999999999999999', '1.5', ''),
      );
      const credential = fc.constantFrom(...Object.keys(credentials));
      const authHeader = fc.constantFrom('bearer', 'x-api-key', 'both', 'lowercase-bearer', 'access_token');
      const contentType = fc.constantFrom(
        'application/json',
        'application/json; charset=utf-8',
        'text/plain',
        'application/x-www-form-urlencoded',
        'application/json; charset=utf-16',
        undefined,
      );

      const opArb = fc.constantFrom(...operations);
      const caseArb = opArb.chain((op) =>
        fc.record({
          op: fc.constant(op),
          pathValues: fc.tuple(...op.pathParams.map(() => idValue), fc.constant('')),
          query: fc.array(
            fc.tuple(
              fc.oneof(
                { weight: 4, arbitrary: op.queryParams.length ? fc.constantFrom(...op.queryParams) : someString },
                { weight: 1, arbitrary: someString },
              ),
              queryValue,
            ),
            {
              maxLength: 4,
            },
          ),
          credential,
          authHeader,
          workspace: fc.option(
            fc.oneof(
              fc.constantFrom('ws_f', 'ws_other'),
              someString.map((s) => s.replace(/[^\x21-\x7e]/g, '').slice(0, 100)),
            ),
            { nil: undefined },
          ),
          contentType,
          body: fc.oneof(
            { weight: 8, arbitrary: fromSchema(doc, op.body).map((v) => JSON.stringify(v ?? null)) },
            {
              weight: 1,
              arbitrary: fc.oneof(
                someString,
                fc.constantFrom('{', '{"a":', '[1,2', '{"__proto__":{"admin":true}}', 'null', '"x"', '1', '[]', '{}'),
              ),
            },
            { weight: 1, arbitrary: fc.constant(undefined) },
          ),
        }),
      );

      let cases = 0;
      const statuses = new Map<number, number>();
      await fc.assert(
        fc.asyncProperty(caseArb, async (c) => {
          cases++;
          let path = c.op.path;
          c.op.pathParams.forEach((name, i) => (path = path.replace(`{${name}}`, c.pathValues[i] || 'x')));
          const qs = c.query.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`);
          const token = credentials[c.credential];
          if (token && c.authHeader === 'access_token') qs.push(`access_token=${encodeURIComponent(token)}`);
          const url = `${t.url}${path}${qs.length ? `?${qs.join('&')}` : ''}`;
          const headers: Record<string, string> = {};
          if (token && (c.authHeader === 'bearer' || c.authHeader === 'both'))
            headers.authorization = `Bearer ${token}`;
          if (token && c.authHeader === 'lowercase-bearer') headers.authorization = `bearer ${token}`;
          if (token && (c.authHeader === 'x-api-key' || c.authHeader === 'both')) headers['x-api-key'] = token;
          if (c.workspace !== undefined) headers['x-workspace-id'] = c.workspace;
          const hasBody = c.body !== undefined && !['GET', 'HEAD'].includes(c.op.method);
          if (hasBody && c.contentType) headers['content-type'] = c.contentType;

          const res = await fetch(url, {
            method: c.op.method,
            headers,
            body: hasBody ? c.body : undefined,
            signal: AbortSignal.timeout(15_000),
          });
          const body = await readBody(res);
          statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
          const where = `${c.op.method} ${url.slice(0, 300)} → ${res.status} ${JSON.stringify(body)?.slice(0, 400)}`;
          if (res.status >= 500) throw new Error(`5xx: ${where}`);
          if (res.status >= 400) {
            // The path the server saw: URL parsing resolves dot segments such as `%2e%2e`.
            const family = familyOf(new URL(url).pathname);
            const problem = envelopeProblem(family, res.status, body);
            if (problem) throw new Error(`bad ${family} error envelope (${problem}): ${where}`);
          }
        }),
        { numRuns: HTTP_RUNS, seed: SEED, endOnFailure: false, interruptAfterTimeLimit: 25 * 60_000 },
      );
      expect(cases).toBeGreaterThanOrEqual(HTTP_RUNS);
      // The property must have reached the handlers, not only the guard and the validator.
      const reached = [...statuses.entries()].filter(([s]) => s >= 200 && s < 300).reduce((n, [, c]) => n + c, 0);
      expect(reached).toBeGreaterThan(HTTP_RUNS / 50);
      expect(statuses.get(401)).toBeGreaterThan(0);
      expect(statuses.get(400)).toBeGreaterThan(0);
      expect(statuses.get(404)).toBeGreaterThan(0);
      expect((await fetch(`${t.url}/readyz`)).status).toBe(200);
    },
    LONG,
  );

  it(
    `answers every one of ${WS_RUNS} random frames on the raw WebSocket with a documented frame`,
    async () => {
      const open = () => connectWs(`${t.url}/api/v1/ws/subscribe`, { headers: { 'X-Api-Key': credentials.user! } });
      let conn: WsConnection = await open();
      await conn.next((f) => f.type === 'welcome', 'welcome');
      const types = [
        'claim_submitted',
        'claim_approved',
        'claim_rejected',
        'status_changed',
        'comment_added',
        'channel.follow',
      ];
      const frameArb = fc.oneof(
        {
          weight: 4,
          arbitrary: fc
            .record(
              {
                action: fc.oneof(
                  fc.constantFrom('subscribe', 'unsubscribe', 'ping'),
                  someString,
                  fc.jsonValue({ maxDepth: 1 }),
                ),
                event_types: fc.oneof(
                  fc.array(fc.oneof(fc.constantFrom(...types), someString), { maxLength: 5 }),
                  fc.jsonValue({ maxDepth: 2 }),
                ),
                extra: fc.jsonValue({ maxDepth: 2 }),
              },
              { requiredKeys: [] },
            )
            .map((f) => JSON.stringify(f)),
        },
        {
          weight: 2,
          arbitrary: fc.oneof(
            someString,
            fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
          ),
        },
        { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b)) },
        {
          weight: 1,
          arbitrary: fc.constant(JSON.stringify({ action: 'subscribe', event_types: ['x'.repeat(70_000)] })),
        },
        {
          weight: 1,
          arbitrary: fc.constantFrom(
            '{',
            '[',
            '""',
            'null',
            '{"action":"ping"}',
            '{"action":"subscribe","event_types":"claim_approved"}',
          ),
        },
        { weight: 1, arbitrary: nastyString.map((s) => JSON.stringify({ action: s, event_types: [s] })) },
      );
      let cases = 0;
      await fc.assert(
        fc.asyncProperty(frameArb, async (frame) => {
          cases++;
          if (conn.ws.readyState !== conn.ws.OPEN) {
            conn = await open();
            await conn.next((f) => f.type === 'welcome', 'welcome');
          }
          const before = conn.frames.length;
          conn.ws.send(frame);
          const reply = await Promise.race([
            conn.next((f) => conn.frames.indexOf(f) >= before, 'a reply', 10_000),
            conn.closed.then((c) => ({ closedWith: c })),
          ]);
          if ('closedWith' in reply)
            throw new Error(
              `connection closed (${JSON.stringify(reply.closedWith)}) after ${String(frame).slice(0, 200)}`,
            );
          if (!['pong', 'subscriptions', 'error'].includes(reply.type))
            throw new Error(`undocumented reply ${JSON.stringify(reply)}`);
          if (reply.type === 'error' && (typeof reply.code !== 'string' || typeof reply.message !== 'string'))
            throw new Error(`bad error frame ${JSON.stringify(reply)}`);
          if (reply.type === 'subscriptions' && !Array.isArray(reply.event_types))
            throw new Error(`bad subscriptions frame ${JSON.stringify(reply)}`);
        }),
        { numRuns: WS_RUNS, seed: SEED, endOnFailure: false },
      );
      expect(cases).toBeGreaterThanOrEqual(WS_RUNS);
      conn.ws.close();
      expect((await fetch(`${t.url}/readyz`)).status).toBe(200);
    },
    LONG,
  );

  it('random Socket.IO events and payloads neither crash the server nor cost the socket its session', async () => {
    const socket = await connectSocket(t.url, credentials.user);
    const errors: unknown[] = [];
    socket.on('disconnect', (reason) => errors.push(reason));
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(someString, fc.constantFrom('subscribe', 'join', 'leave', 'message', 'notification', 'event')),
        fc.jsonValue({ maxDepth: 3 }),
        async (event, payload) => {
          socket.emit(event || 'x', payload);
        },
      ),
      { numRuns: 500, seed: SEED },
    );
    // The socket is still served: a round trip through the REST 004 API that needs the live session works.
    expect(errors).toEqual([]);
    const res = await request(t.url)
      .get(`/v1/events/${socket.id}/subscriptions`)
      .set('Authorization', `Bearer ${credentials.user}`);
    expect(res.body).toEqual(expect.objectContaining({ success: true }));
    socket.close();
  });
});
