import Ajv, { type ValidateFunction } from 'ajv';
import request from 'supertest';
import { loadDocument, type OpenApiDocument, type Schema } from '../reliability/contract';
import { mintKey } from '../support/credentials';
import { startTestApp, TestApp } from '../support/test-app';
import { connectWs, type UpgradeRefusal, type WsConnection } from '../support/ws-client';

/**
 * What /docs-json shows is what the server sends: for a chosen set of operations, the request
 * that should produce each documented status is sent to the real app, and the live body is held
 * to the documented schema (no undocumented keys, no missing required ones, the documented types)
 * and to the documented example (the same keys and value types; status codes, `error` names and
 * `success` literally; the whole body where the example is deterministic).
 */

type Live = { status: number; body: unknown };

const WS_SUBSCRIBE = '/api/v1/ws/subscribe';
const LITERAL_KEYS = new Set(['code', 'statusCode', 'error', 'success']);

function kind(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

/** Where `live` differs from `example` in keys or value types (and in the literal keys' values). */
function shapeProblems(live: unknown, example: unknown, at = '$'): string[] {
  if (kind(live) !== kind(example)) return [`${at}: ${kind(live)} where the example has ${kind(example)}`];
  if (Array.isArray(live) && Array.isArray(example)) {
    if (!example.length) return [];
    return live.flatMap((item, i) => shapeProblems(item, example[0], `${at}[${i}]`));
  }
  if (kind(live) !== 'object') return [];
  const l = live as Record<string, unknown>;
  const e = example as Record<string, unknown>;
  const problems: string[] = [];
  for (const key of Object.keys(e)) if (!(key in l)) problems.push(`${at}.${key}: in the example, not sent`);
  for (const key of Object.keys(l)) if (!(key in e)) problems.push(`${at}.${key}: sent, not in the example`);
  for (const key of Object.keys(e).filter((k) => k in l)) {
    if (LITERAL_KEYS.has(key) && kind(e[key]) !== 'object' && l[key] !== e[key])
      problems.push(`${at}.${key}: ${JSON.stringify(l[key])} != example ${JSON.stringify(e[key])}`);
    problems.push(...shapeProblems(l[key], e[key], `${at}.${key}`));
  }
  return problems;
}

/** The schema made strict: an object with `properties` and no `additionalProperties` allows no other keys. */
function strict(schema: Schema): Schema {
  if (Array.isArray(schema)) return schema.map(strict);
  if (!schema || typeof schema !== 'object') return schema;
  const out: Schema = {};
  for (const [key, value] of Object.entries(schema)) {
    if (key === '$ref' && typeof value === 'string') out.$ref = value.replace('#/components/schemas/', '');
    else if (key === 'example' || key === 'examples') out[key] = value;
    else
      out[key] =
        key === 'properties'
          ? Object.fromEntries(Object.entries(value as Schema).map(([k, v]) => [k, strict(v as Schema)]))
          : strict(value as Schema);
  }
  if (out.properties && out.additionalProperties === undefined) out.additionalProperties = false;
  // OpenAPI 3.0 writes a nullable reference as `nullable` beside `allOf: [$ref]`.
  if (out.nullable === true && out.allOf) {
    const { nullable: _nullable, ...rest } = out;
    return { anyOf: [{ type: 'null' }, rest] };
  }
  return out;
}

describe('Swagger: every documented example is what the server sends', () => {
  let t: TestApp;
  let doc: OpenApiDocument;
  let ajv: Ajv;
  let reader: string;
  let noScopes: string;
  let alice: string;
  let bob: string;
  let finance: string;
  const open: WsConnection[] = [];

  beforeAll(async () => {
    t = await startTestApp({ env: { WEBHOOK_ALLOW_PRIVATE: 'true', WS_MAX_SOCKETS_PER_CREDENTIAL: '1' } });
    doc = await loadDocument(t.url);
    ajv = new Ajv({ strict: false, allErrors: true });
    ajv.addFormat('date-time', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/);
    for (const [name, schema] of Object.entries(doc.components.schemas)) ajv.addSchema(strict(schema), name);
    reader = await mintKey(t, { scopes: ['events:read'] });
    noScopes = await mintKey(t, { scopes: [] });
    alice = await mintKey(t, { user: 'usr_alice', scopes: ['events:read'] });
    bob = await mintKey(t, { user: 'usr_bob', scopes: ['events:read'] });
    finance = await mintKey(t, { scopes: ['subscriptions:write', 'events:read'], workspaces: ['ws_finance'] });
  });
  afterAll(async () => {
    for (const conn of open) conn.ws.terminate();
    await t?.close();
  });

  function documented(method: string, path: string, status: number): { schema: Schema; example?: unknown } {
    const response = doc.paths[path]?.[method]?.responses?.[String(status)];
    if (!response) throw new Error(`${method.toUpperCase()} ${path} documents no ${status}`);
    const media = response.content?.['application/json'];
    if (!media?.schema) throw new Error(`${method.toUpperCase()} ${path} ${status} documents no body`);
    return { schema: media.schema as Schema, example: media.example };
  }

  function schemaErrors(schema: Schema, body: unknown): string[] {
    const validate: ValidateFunction = ajv.compile(strict(schema));
    return validate(body)
      ? []
      : (validate.errors ?? []).map((e) => `${e.instancePath || '$'} ${e.message} ${JSON.stringify(e.params)}`);
  }

  /** The live answer matches the documented schema and example; `exact` when the example is the body itself. */
  function expectDocumented(method: string, path: string, live: Live, expected: number, exact = false): void {
    expect(live.status).toBe(expected);
    const { schema, example } = documented(method, path, expected);
    expect(schemaErrors(schema, live.body)).toEqual([]);
    if (expected >= 400) {
      expect(example).toBeDefined();
      expect(schemaErrors(schema, example)).toEqual([]);
      expect(shapeProblems(live.body, example)).toEqual([]);
      if (exact) expect(live.body).toEqual(example);
    }
  }

  const refusal = async (url: string, headers: Record<string, string> = {}): Promise<Live> => {
    try {
      open.push(await connectWs(url, { headers }));
    } catch (err) {
      if ((err as UpgradeRefusal).status) return err as UpgradeRefusal;
      throw err;
    }
    throw new Error(`${url}: the upgrade was accepted`);
  };

  describe('001: GET /api/v1/ws/subscribe', () => {
    it('400: an upgrade naming an unknown event type', async () => {
      expectDocumented(
        'get',
        WS_SUBSCRIBE,
        await refusal(`${t.url}${WS_SUBSCRIBE}?event_types=claim_exploded`, { 'X-Api-Key': reader }),
        400,
        true,
      );
    });

    it('401: an upgrade or a plain GET without a credential', async () => {
      expectDocumented('get', WS_SUBSCRIBE, await refusal(`${t.url}${WS_SUBSCRIBE}`), 401, true);
      expectDocumented('get', WS_SUBSCRIBE, await request(t.url).get(WS_SUBSCRIBE), 401, true);
    });

    it('403: an upgrade with a credential that may not read events', async () => {
      expectDocumented(
        'get',
        WS_SUBSCRIBE,
        await refusal(`${t.url}${WS_SUBSCRIBE}`, { 'X-Api-Key': noScopes }),
        403,
        true,
      );
    });

    it('426: a plain GET with a credential', async () => {
      expectDocumented('get', WS_SUBSCRIBE, await request(t.url).get(WS_SUBSCRIBE).set('X-Api-Key', reader), 426, true);
    });

    it('429: a second socket for a credential allowed one', async () => {
      const first = await connectWs(`${t.url}${WS_SUBSCRIBE}`, { headers: { 'X-Api-Key': finance } });
      open.push(first);
      await first.next((f) => f.type === 'welcome', 'welcome');
      expectDocumented('get', WS_SUBSCRIBE, await refusal(`${t.url}${WS_SUBSCRIBE}`, { 'X-Api-Key': finance }), 429);
    });
  });

  describe('001: POST /api/v1/ws/unsubscribe', () => {
    const path = '/api/v1/ws/unsubscribe';

    it('400, 404 and 403', async () => {
      const post = (token: string, body: unknown) =>
        request(t.url)
          .post(path)
          .set('X-Api-Key', token)
          .send(body as object);
      expectDocumented('post', path, await post(alice, { event_types: ['claim_approved'] }), 400, true);
      expectDocumented(
        'post',
        path,
        await post(alice, { client_id: 'wsc_01jd3m7k2q8w6t5v4x3y2z1a0b', event_types: ['claim_approved'] }),
        404,
        true,
      );
      const conn = await connectWs(`${t.url}${WS_SUBSCRIBE}`, { headers: { 'X-Api-Key': alice } });
      open.push(conn);
      const welcome = await conn.next((f) => f.type === 'welcome', 'welcome');
      expectDocumented(
        'post',
        path,
        await post(bob, { client_id: welcome.client_id, event_types: ['claim_approved'] }),
        403,
      );
      expectDocumented(
        'post',
        path,
        await post(alice, { client_id: welcome.client_id, event_types: ['claim_approved'] }),
        200,
      );
    });
  });

  describe('003', () => {
    it('GET /api/v1/subscription-templates: 200 as documented', async () => {
      const live = await request(t.url).get('/api/v1/subscription-templates').set('X-Api-Key', finance);
      expect(live.body.length).toBeGreaterThan(0);
      expectDocumented('get', '/api/v1/subscription-templates', live, 200);
    });

    it('POST /api/v2/subscriptions/test: 200 as documented, with rules and both kinds of action', async () => {
      const live = await request(t.url)
        .post('/api/v2/subscriptions/test')
        .set('X-Api-Key', finance)
        .send({
          draft: {
            rules: [
              { trigger: 'claim_approved', conditions: { 'data.amount': { $gte: 1000 } } },
              { trigger: 'claim_rejected', conditions: {} },
            ],
            resources: ['claims/*'],
            actions: [
              { type: 'webhook', url: 'http://127.0.0.1:9/hook', headers: { 'x-team': 'finance' } },
              { type: 'socket' },
            ],
          },
          input: { type: 'claim_approved', claim_id: 'clm_9f2a3b4c', data: { amount: 4850, currency: 'NOK' } },
        });
      expect(live.body).toMatchObject({
        matched: true,
        rules: [{ matched: true }, { matched: false }],
        actions: [{ type: 'webhook' }, { type: 'socket' }],
      });
      expectDocumented('post', '/api/v2/subscriptions/test', live, 200);
    });

    it('POST /api/v2/subscriptions/test: 400 without subscription or draft', async () => {
      const live = await request(t.url)
        .post('/api/v2/subscriptions/test')
        .set('X-Api-Key', finance)
        .send({ input: { type: 'claim_approved' } });
      expectDocumented('post', '/api/v2/subscriptions/test', live, 400, true);
    });

    it('POST /api/v1/subscriptions: 400 for a missing field', async () => {
      const live = await request(t.url)
        .post('/api/v1/subscriptions')
        .set('X-Api-Key', finance)
        .send({ rules: [{ trigger: 'claim_approved', conditions: {} }] });
      expectDocumented('post', '/api/v1/subscriptions', live, 400, true);
    });

    it('a subscription as created, read and tested: as documented', async () => {
      const created = await request(t.url)
        .post('/api/v1/subscriptions')
        .set('X-Api-Key', finance)
        .send({
          rules: [{ trigger: 'claim_approved', conditions: {} }],
          resources: ['claims/*'],
          actions: [{ type: 'webhook', url: 'http://127.0.0.1:9/hook' }],
        });
      expect(created.body).toMatchObject({ meta: { title: null }, issue: null, rate_limit: null });
      expectDocumented('post', '/api/v1/subscriptions', created, 201);
      expectDocumented(
        'get',
        '/api/v1/subscriptions/{id}',
        await request(t.url).get(`/api/v1/subscriptions/${created.body.id}`).set('X-Api-Key', finance),
        200,
      );
      expectDocumented(
        'get',
        '/api/v1/subscriptions',
        await request(t.url).get('/api/v1/subscriptions').set('X-Api-Key', finance),
        200,
      );
      const tested = await request(t.url)
        .post('/api/v2/subscriptions/test')
        .set('X-Api-Key', finance)
        .send({ subscription: created.body.id, input: { type: 'claim_approved', claim_id: 'clm_1', data: {} } });
      expect(tested.body).toMatchObject({ subscription_id: created.body.id, matched: true });
      expectDocumented('post', '/api/v2/subscriptions/test', tested, 200);
    });

    it('GET /api/v1/subscriptions/{id}: 404', async () => {
      expectDocumented(
        'get',
        '/api/v1/subscriptions/{id}',
        await request(t.url).get('/api/v1/subscriptions/wsub_nothing').set('X-Api-Key', finance),
        404,
      );
    });
  });

  it('responses with nullable fields: api keys, events, 000, 002', async () => {
    const key = await request(t.url)
      .post('/api/v1/api-keys')
      .set('X-Api-Key', t.operatorToken)
      .send({ kind: 'app', organisation_id: 'org_001', scopes: ['events:publish'] });
    expectDocumented('post', '/api/v1/api-keys', key, 201);
    expectDocumented(
      'get',
      '/api/v1/api-keys',
      await request(t.url).get('/api/v1/api-keys').set('X-Api-Key', t.operatorToken),
      200,
    );
    const event = await request(t.url)
      .post('/api/v1/events')
      .set('X-Api-Key', key.body.token)
      .send({ type: 'claim_approved', claim_id: 'clm_9f2a3b4c', data: {} });
    expect(event.body).toMatchObject({ user_id: null, claim_id: 'clm_9f2a3b4c' });
    expectDocumented('post', '/api/v1/events', event, 201);
    const channel = await request(t.url)
      .post('/api/v1/realtime-subscriptions/user')
      .set('X-Api-Key', alice)
      .send({ user_id: 'usr_alice' });
    expectDocumented('post', '/api/v1/realtime-subscriptions/user', channel, 201);
    const detail = await request(t.url)
      .get(`/api/v1/realtime-subscriptions/${channel.body.channel_id}`)
      .set('X-Api-Key', alice);
    expectDocumented('get', '/api/v1/realtime-subscriptions/{channel_id}', detail, 200);
    const notifier = await mintKey(t, { scopes: ['notifications:write'] });
    const notified = await request(t.url)
      .post('/api/v1/approval-notifications')
      .set('X-Api-Key', notifier)
      .send({ claim_id: 'clm_1', new_status: 'approved', recipient_user_id: 'usr_alice' });
    expectDocumented('post', '/api/v1/approval-notifications', notified, 201);
    const list = await request(t.url).get('/api/v1/approval-notifications').set('X-Api-Key', alice);
    expect(list.body.data[0]).toMatchObject({ comment: null });
    expectDocumented('get', '/api/v1/approval-notifications', list, 200);
  });

  it('000 and 002: 400 for a missing field', async () => {
    expectDocumented(
      'post',
      '/api/v1/realtime-subscriptions/user',
      await request(t.url).post('/api/v1/realtime-subscriptions/user').set('X-Api-Key', alice).send({}),
      400,
      true,
    );
    const notify = await request(t.url)
      .post('/api/v1/approval-notifications')
      .set('X-Api-Key', t.operatorToken)
      .send({ new_status: 'approved', recipient_user_id: 'usr_alice' });
    expectDocumented('post', '/api/v1/approval-notifications', notify, 400, true);
  });

  it('004: POST /v1/events/subscriptions 401 without a credential', async () => {
    expectDocumented(
      'post',
      '/v1/events/subscriptions',
      await request(t.url).post('/v1/events/subscriptions').send({}),
      401,
      true,
    );
  });

  it('every documented 401 is what a request without a credential gets, in its family', async () => {
    let checked = 0;
    for (const [path, methods] of Object.entries(doc.paths)) {
      for (const method of Object.keys(methods)) {
        if (!doc.paths[path][method].responses?.['401']) continue;
        const url = path.replace(/\{[^}]+\}/g, 'x_1');
        const live = await request(t.url)[method as 'get'](url);
        expect({
          op: `${method} ${path}`,
          problems: shapeProblems(live.body, documented(method, path, 401).example),
        }).toEqual({ op: `${method} ${path}`, problems: [] });
        if (url === path) expectDocumented(method, path, live, 401, true);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(30);
  });

  it('every documented "Requires scope" 403 is what a credential without scopes gets', async () => {
    let checked = 0;
    for (const [path, methods] of Object.entries(doc.paths)) {
      for (const [method, operation] of Object.entries(methods)) {
        if (!/^Requires scope [\w:.]+(, [\w:.]+)*\.$/.test(operation.responses?.['403']?.description ?? '')) continue;
        const url = path.replace(/\{[^}]+\}/g, 'x_1');
        const live = await request(t.url)[method as 'get'](url).set('X-Api-Key', noScopes);
        expect(`${method} ${path} ${live.status}`).toBe(`${method} ${path} 403`);
        expect({
          op: `${method} ${path}`,
          problems: shapeProblems(live.body, documented(method, path, 403).example),
        }).toEqual({ op: `${method} ${path}`, problems: [] });
        if (url === path) expectDocumented(method, path, live, 403, true);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(10);
  });

  /** Owned elsewhere and known to be off (its `errors` items are typed as strings; they are `{ field, message }`). */
  const KNOWN_OFF = new Set<string>();

  it('every property example fits the property it documents', async () => {
    const problems: string[] = [];
    for (const [name, schema] of Object.entries(doc.components.schemas)) {
      for (const [property, propertySchema] of Object.entries((schema.properties ?? {}) as Record<string, Schema>)) {
        if (propertySchema.example === undefined || KNOWN_OFF.has(`${name}.${property}`)) continue;
        for (const error of schemaErrors(propertySchema, propertySchema.example))
          problems.push(`${name}.${property}: ${error}`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('every error response documents a body whose example fits its schema and its status', async () => {
    for (const [path, methods] of Object.entries(doc.paths)) {
      for (const [method, operation] of Object.entries(methods)) {
        for (const status of Object.keys(operation.responses ?? {}).filter((s) => /^[45]/.test(s))) {
          const { schema, example } = documented(method, path, Number(status));
          if (example === undefined) continue;
          expect({ op: `${method} ${path} ${status}`, errors: schemaErrors(schema, example) }).toEqual({
            op: `${method} ${path} ${status}`,
            errors: [],
          });
          const code = (example as Record<string, unknown>).code ?? (example as Record<string, unknown>).statusCode;
          if (code !== undefined)
            expect(`${method} ${path} ${status}: ${String(code)}`).toBe(`${method} ${path} ${status}: ${status}`);
        }
      }
    }
  });
});
