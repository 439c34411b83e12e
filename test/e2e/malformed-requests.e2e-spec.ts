import { connect } from 'node:net';
import request from 'supertest';
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

    for (const body of [
      '{"type":"claim_approved","data":{"note":"a\\u0000b"}}',
      '{"type":"claim_approved","data":{"a\\u0000":1}}',
    ]) {
      const res = await request(t.url)
        .post('/api/v1/events')
        .set('X-Api-Key', t.operatorToken)
        .set('Content-Type', 'application/json')
        .send(body);
      expect(res.status).toBe(400);
      expect(res.body.message).toContain('NUL');
    }
    const session = await request(t.url).get('/v1/events/%00/subscriptions').set('X-Api-Key', t.operatorToken);
    expect(session.body).toEqual({ success: false, message: expect.stringContaining('NUL') });
  });
});
