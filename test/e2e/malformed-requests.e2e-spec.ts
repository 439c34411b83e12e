import { connect } from 'node:net';
import request from 'supertest';
import { newId } from '../../src/core/http/ids';
import { loadDocument } from '../reliability/contract';
import { mintKey } from '../support/credentials';
import { startTestApp, TestApp } from '../support/test-app';

/** Inputs the reliability fuzzing found answered with a 500 or a bodiless error; kept here as regressions. */
describe('malformed requests get a 4xx in their envelope', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp();
  });

  afterAll(async () => {
    await t.close();
  });

  /** POSTs a body exactly as written, with the operator key. */
  const postRaw = (path: string, body: string | Buffer, contentType = 'application/json') =>
    request(t.url).post(path).set('X-Api-Key', t.operatorToken).set('Content-Type', contentType).send(body);

  it('an amount JavaScript prints in exponent form is a 400 naming amount, not a 500', async () => {
    for (const amount of ['1e-7', '3e-323', '12.34567']) {
      const res = await request(t.url)
        .post('/api/v1/approval-notifications/payload')
        .set('X-Api-Key', t.operatorToken)
        .set('Content-Type', 'application/json')
        .send(`{"status":"approved","amount":${amount},"currency":"NOK"}`);
      expect(res.status).toBe(400);
      expect(res.body.details.map((d: { field: string }) => d.field)).toContain('amount');
    }
    const ok = await request(t.url)
      .post('/api/v1/approval-notifications/payload')
      .set('X-Api-Key', t.operatorToken)
      .send({ status: 'approved', amount: 12.3456, currency: 'NOK' });
    expect(ok.status).toBe(200);
  });

  it('an undecodable path parameter is a 400 in the envelope of the path’s family', async () => {
    const session = await request(t.url).get('/v1/events/%ZZ/subscriptions').set('X-Api-Key', t.operatorToken);
    expect(session.status).toBe(400);
    expect(session.body).toEqual({ success: false, message: expect.any(String) });

    const channel = await request(t.url).get('/api/v1/realtime-subscriptions/%ZZ').set('X-Api-Key', t.operatorToken);
    expect(channel.status).toBe(400);
    expect(channel.body).toMatchObject({ statusCode: 400, error: 'Bad Request' });
  });

  it('a request line and headers over the 16 KiB limit get a JSON 431, in the family of the path', async () => {
    const raw = (path: string) =>
      new Promise<string>((resolve, reject) => {
        const socket = connect(t.port, '127.0.0.1');
        let data = '';
        socket.on('data', (d) => (data += d));
        socket.on('end', () => resolve(data));
        socket.on('error', reject);
        socket.write(`GET ${path}?q=${'x'.repeat(20_000)} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
      });
    const parse = (response: string) => {
      const [head, body] = response.split('\r\n\r\n');
      return {
        status: Number(head.split(' ')[1]),
        type: /content-type: ([^\r]+)/i.exec(head)?.[1],
        body: JSON.parse(body),
      };
    };

    const standard = parse(await raw('/api/v1/events'));
    expect(standard.status).toBe(431);
    expect(standard.type).toMatch(/^application\/json/);
    expect(standard.body).toEqual({
      statusCode: 431,
      error: 'Request Header Fields Too Large',
      message: expect.any(String),
    });

    const seed004 = parse(await raw('/v1/events/abc/subscriptions'));
    expect(seed004.body).toEqual({ success: false, message: expect.any(String) });

    const seed001 = parse(await raw('/api/v1/ws/subscribe'));
    expect(seed001.body).toMatchObject({ code: 431, stack: [expect.objectContaining({ code: 431 })] });
  });

  it('a NUL in a path, query or JSON body is a 400 on every engine, before it reaches storage', async () => {
    const path = await request(t.url)
      .delete('/api/v1/approval-notifications/subscriptions/%00')
      .set('X-Api-Key', t.operatorToken);
    expect(path.status).toBe(400);
    expect(path.body).toMatchObject({ statusCode: 400, message: expect.stringContaining('NUL') });

    const query = await request(t.url).get('/api/v1/events?type=claim%00approved').set('X-Api-Key', t.operatorToken);
    expect(query.status).toBe(400);

    for (const [path, body] of [
      ['/api/v1/events', '{"type":"claim_approved","data":{"note":"a\\u0000b"}}'],
      ['/api/v1/events', '{"type":"claim_approved","data":{"a\\u0000":1}}'],
      ['/api/v1/events', '{"type":"claim_approved","data":{"list":[1,{"deep":["x","\\u0000"]}]}}'],
      [
        '/api/v1/events/batch',
        '{"events":[{"type":"claim_approved","data":{}},{"type":"claim_approved\\u0000","data":{}}]}',
      ],
    ]) {
      const res = await postRaw(path, body);
      expect(res.status).toBe(400);
      expect(res.body.message).toContain('NUL');
    }
    // Nor in another charset.
    const utf16 = await postRaw(
      '/api/v1/events',
      Buffer.from('{"type":"claim_approved","data":{"note":"a\\u0000b"}}', 'utf16le'),
      'application/json; charset=utf-16le',
    );
    expect(utf16.status).toBe(400);
    // A backslash followed by the letters u0000 is text, not NUL: stored as sent.
    const text = await postRaw(
      '/api/v1/events',
      '{"type":"claim_approved","organisation_id":"org_nul","data":{"note":"a\\\\u0000b"}}',
    );
    expect(text.status).toBe(201);
    expect(text.body.data).toEqual({ note: 'a\\u0000b' });
    const session = await request(t.url).get('/v1/events/%00/subscriptions').set('X-Api-Key', t.operatorToken);
    expect(session.body).toEqual({ success: false, message: expect.stringContaining('NUL') });
  });
  describe('a malformed id in a path', () => {
    /** The standard 400 for a path parameter that is not an id of its kind. */
    const malformed = (field: string, prefix: string) => ({
      statusCode: 400,
      error: 'Bad Request',
      message: `Validation failed: ${field}: ${field} must be a ${prefix}_ id`,
      details: [{ field, message: `${field} must be a ${prefix}_ id` }],
    });
    // The seeds' own example ids are not ids Herald issues; uppercase and extra characters neither.
    const junk = ['b5c6d7e8', '01ARZ3NDEKTSV4RRFFQ69G5FAV', '01arz3ndektsv4rrffq69g5fav0'];

    it('000: GET, PUT …/reconnect and DELETE /:channel_id are a 400 naming channel_id; a well-formed unknown id stays 404', async () => {
      const reader = await mintKey(t, { scopes: ['events:read'] });
      const base = '/api/v1/realtime-subscriptions';
      for (const id of [...junk.map((s) => `chan_${s}`), newId('notif'), 'organisation']) {
        for (const res of [
          await request(t.url).get(`${base}/${id}`).set('X-Api-Key', reader),
          await request(t.url).put(`${base}/${id}/reconnect`).set('X-Api-Key', reader),
          await request(t.url).delete(`${base}/${id}`).set('X-Api-Key', reader),
        ]) {
          expect({ id, status: res.status, body: res.body }).toEqual({
            id,
            status: 400,
            body: malformed('channel_id', 'chan'),
          });
        }
      }
      const unknown = await request(t.url)
        .get(`${base}/${newId('chan')}`)
        .set('X-Api-Key', reader);
      expect(unknown.status).toBe(404);
      expect(unknown.body).toMatchObject({ statusCode: 404, error: 'Not Found' });
      // The credential is checked first: no credential is a 401 whatever the id.
      expect((await request(t.url).get(`${base}/chan_b5c6d7e8`)).status).toBe(401);
    });

    it('002: /:notification_id and /subscriptions/:subscription_id are a 400 naming the parameter', async () => {
      const user = await mintKey(t, { user: 'usr_84cd12ef', scopes: ['events:read'] });
      const base = '/api/v1/approval-notifications';
      for (const id of [...junk.map((s) => `notif_${s}`), newId('chan')]) {
        for (const res of [
          await request(t.url).get(`${base}/${id}`).set('X-Api-Key', user),
          await request(t.url).put(`${base}/${id}`).set('X-Api-Key', user).send({ read: true }),
          await request(t.url).delete(`${base}/${id}`).set('X-Api-Key', user),
        ]) {
          expect({ id, status: res.status, body: res.body }).toEqual({
            id,
            status: 400,
            body: malformed('notification_id', 'notif'),
          });
        }
      }
      // The parameter and the body are validated apart: with both invalid, the 400 names one of them.
      const both = await request(t.url).put(`${base}/notif_8h9i0j1k`).set('X-Api-Key', user).send({ read: 'yes' });
      expect(both.status).toBe(400);
      expect(both.body).toMatchObject({
        statusCode: 400,
        details: [{ field: expect.stringMatching(/^(notification_id|read)$/) }],
      });

      for (const id of [...junk.map((s) => `sub_${s}`), newId('wsub')]) {
        const res = await request(t.url).delete(`${base}/subscriptions/${id}`).set('X-Api-Key', user);
        expect({ id, status: res.status, body: res.body }).toEqual({
          id,
          status: 400,
          body: malformed('subscription_id', 'sub'),
        });
      }
      for (const path of [`${base}/${newId('notif')}`, `${base}/subscriptions/${newId('sub')}`])
        expect((await request(t.url).delete(path).set('X-Api-Key', user)).status).toBe(404);
    });

    it('api keys: DELETE /:key_id is a 400 naming key_id', async () => {
      for (const id of [...junk.map((s) => `key_${s}`), 'hrld_x']) {
        const res = await request(t.url).delete(`/api/v1/api-keys/${id}`).set('X-Api-Key', t.operatorToken);
        expect({ id, status: res.status, body: res.body }).toEqual({
          id,
          status: 400,
          body: malformed('key_id', 'key'),
        });
      }
      expect(
        (
          await request(t.url)
            .delete(`/api/v1/api-keys/${newId('key')}`)
            .set('X-Api-Key', t.operatorToken)
        ).status,
      ).toBe(404);
    });

    it('003: any id the workspace does not hold is a 404, malformed or not, as for `subscription` in a test body', async () => {
      const finance = await mintKey(t, { scopes: ['subscriptions:write', 'events:read'], workspaces: ['ws_finance'] });
      for (const id of [...junk.map((s) => `wsub_${s}`), newId('wsub'), 'x']) {
        for (const res of [
          await request(t.url).get(`/api/v1/subscriptions/${id}`).set('X-Api-Key', finance),
          await request(t.url).delete(`/api/v1/subscriptions/${id}`).set('X-Api-Key', finance),
          await request(t.url)
            .post(`/api/v1/subscriptions/${id}/state`)
            .set('X-Api-Key', finance)
            .send({ state: 'off' }),
          await request(t.url).get(`/api/v2/subscriptions/${id}/alerts/history`).set('X-Api-Key', finance),
        ]) {
          expect({ id, status: res.status }).toEqual({ id, status: 404 });
          expect(res.body).toMatchObject({ statusCode: 404, error: 'Not Found' });
        }
      }
      const test = await request(t.url)
        .post('/api/v2/subscriptions/test')
        .set('X-Api-Key', finance)
        .send({ subscription: 'wsub_b5c6d7e8', input: { type: 'claim_approved' } });
      expect(test.status).toBe(404);
    });

    it('004 and 001 keep their own envelopes: an unknown session is a 400, a malformed client_id too', async () => {
      const session = await request(t.url)
        .get('/v1/events/chan_b5c6d7e8/subscriptions')
        .set('X-Api-Key', t.operatorToken);
      expect(session.status).toBe(400);
      expect(session.body).toEqual({ success: false, message: 'Unknown session chan_b5c6d7e8' });

      const client = await request(t.url)
        .post('/api/v1/ws/unsubscribe')
        .set('X-Api-Key', t.operatorToken)
        .send({ client_id: 'wsc_b5c6d7e8', event_types: [] });
      expect(client.status).toBe(400);
      expect(client.body).toMatchObject({
        code: 400,
        message: 'Validation failed: client_id: client_id must be a wsc_ id from the welcome frame',
      });
    });

    it('Swagger documents each path parameter once, with a description, and the id pattern where it is checked', async () => {
      const doc = await loadDocument(t.url);
      const seen: string[] = [];
      for (const [path, methods] of Object.entries(doc.paths)) {
        const names = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
        for (const [method, operation] of Object.entries(methods)) {
          const params = ((operation as { parameters?: Record<string, unknown>[] }).parameters ?? []).filter(
            (p) => p.in === 'path',
          );
          expect({ op: `${method} ${path}`, params: params.map((p) => p.name) }).toEqual({
            op: `${method} ${path}`,
            params: names,
          });
          for (const p of params) {
            expect({ op: `${method} ${path}`, name: p.name, described: typeof p.description }).toEqual({
              op: `${method} ${path}`,
              name: p.name,
              described: 'string',
            });
            expect(p.required).toBe(true);
            seen.push(`${method} ${path} ${String((p.schema as { pattern?: string }).pattern)}`);
          }
        }
      }
      expect(seen).toEqual(
        expect.arrayContaining([
          'get /api/v1/realtime-subscriptions/{channel_id} ^chan_[0-9a-z]{26}$',
          'delete /api/v1/approval-notifications/{notification_id} ^notif_[0-9a-z]{26}$',
          'delete /api/v1/approval-notifications/subscriptions/{subscription_id} ^sub_[0-9a-z]{26}$',
          'delete /api/v1/api-keys/{key_id} ^key_[0-9a-z]{26}$',
          'get /api/v1/subscriptions/{id} undefined',
        ]),
      );
      const badRequest = doc.paths['/api/v1/realtime-subscriptions/{channel_id}'].get.responses['400'];
      expect(badRequest.content['application/json'].example).toEqual(malformed('channel_id', 'chan'));
    });
  });
});
