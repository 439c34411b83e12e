import request from 'supertest';
import { mintKey } from '../support/credentials';
import { publish } from '../support/events';
import { startTestApp, TestApp } from '../support/test-app';

/**
 * Numeric query values past what the database can hold (Postgres bigint) or a JavaScript number
 * can carry exactly: a 400 naming the field on both engines, never a 500 and never a silent answer.
 */
describe('numeric query values out of range', () => {
  let t: TestApp;
  let app: string;

  beforeAll(async () => {
    t = await startTestApp();
    app = await mintKey(t, { org: 'org_bounds', scopes: ['events:publish', 'events:read'] });
  });
  afterAll(() => t?.close());

  const get = (path: string) => request(t.url).get(path).set('X-Api-Key', app);

  function expectFieldError(res: request.Response, field: string): void {
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ statusCode: 400, error: 'Bad Request' });
    expect(res.body.details.map((d: { field: string }) => d.field)).toEqual([field]);
  }

  it.each(['99999999999999999999', '1e30', '9007199254740992', '9223372036854775808'])(
    'GET /api/v1/events?after=%s is a 400 naming after',
    async (after) => {
      expectFieldError(await get(`/api/v1/events?after=${after}`), 'after');
    },
  );

  it('the largest cursor still answers, with nothing after it', async () => {
    await publish(t.url, app, {});
    const res = await get(`/api/v1/events?after=${Number.MAX_SAFE_INTEGER}`);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ data: [], next_after: Number.MAX_SAFE_INTEGER, has_more: false });
  });

  it.each([
    ['/api/v1/approval-notifications', '1e30'],
    ['/api/v1/approval-notifications', '99999999999999999999'],
    ['/api/v1/approval-notifications', '1000000001'],
    ['/api/v1/realtime-subscriptions', '1e30'],
    ['/api/v1/realtime-subscriptions', '99999999999999999999'],
  ])('GET %s?page=%s is a 400 naming page', async (path, page) => {
    expectFieldError(await get(`${path}?page=${page}`), 'page');
  });

  it('the last allowed page is an empty page, not an error', async () => {
    for (const path of ['/api/v1/approval-notifications', '/api/v1/realtime-subscriptions']) {
      const res = await get(`${path}?page=1000000000&limit=100`);
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ data: [], pagination: { page: 1000000000, limit: 100, total: expect.any(Number) } });
    }
  });
});
