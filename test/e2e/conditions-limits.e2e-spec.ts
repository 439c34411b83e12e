import request from 'supertest';
import { MAX_JSON_DEPTH } from '../../src/core/http/body-parser';
import {
  MAX_CONDITIONS_BYTES,
  MAX_CONDITIONS_DEPTH,
  MAX_CONDITIONS_NODES,
  MAX_REGEX_LENGTH,
  MAX_SUBSCRIPTION_REGEX_PROGRAM_SIZE,
} from '../../src/workspace-subscriptions/subscription-conditions';
import { mintKey } from '../support/credentials';
import { dispatchedThrough, publish } from '../support/events';
import { connectSocket, record, waitFor } from '../support/sockets';
import { startTestApp, TestApp } from '../support/test-app';
import { WebhookReceiver } from '../support/webhook-receiver';

const V1 = '/api/v1/subscriptions';
const TEST = '/api/v2/subscriptions/test';
/** Backtracks exponentially on RegExp: 30 a's and a '!' held the event loop ~20 s, 40 would hold it for hours. */
const CATASTROPHIC = '^(a+)+$';
const EVIL_NOTE = 'a'.repeat(40) + '!';

/** A field condition wrapped in `$and` until the conditions are `depth` levels deep (odd depths through `$not`). */
function nestedConditions(depth: number): Record<string, unknown> {
  let conditions: Record<string, unknown> =
    depth % 2 ? { 'data.amount': { $not: { $lt: 1 } } } : { 'data.amount': { $gte: 1 } };
  for (let level = depth % 2 ? 3 : 2; level < depth; level += 2) conditions = { $and: [conditions] };
  return conditions;
}

/** `[[[ ... ]]]` as a raw JSON body: what class-transformer used to answer with a 500. */
const deepBody = (depth: number) => `{"rules":${'['.repeat(depth)}${']'.repeat(depth)},"resources":["claims/*"]}`;

/**
 * Availability limits on workspace subscription conditions. The first test is the ReDoS
 * regression: on a backtracking engine it never finishes (the event loop is held, so even the
 * test's own timeout cannot fire); on RE2 it is quick. It never measures time.
 */
describe('seed 003: conditions cannot stall the server', () => {
  let t: TestApp;
  let receiver: WebhookReceiver;
  let producer: string;
  let writer: string;

  beforeAll(async () => {
    t = await startTestApp({
      env: { WEBHOOK_ALLOW_PRIVATE: 'true', DISPATCH_POLL_INTERVAL: '50ms', WEBHOOK_POLL_INTERVAL: '50ms' },
    });
    receiver = await WebhookReceiver.start(
      'whsec_' + Buffer.from('conditions-limits-secret-unused').toString('base64'),
    );
    producer = await mintKey(t, { org: 'org_001', scopes: ['events:publish'] });
    writer = await mintKey(t, {
      org: 'org_001',
      scopes: ['subscriptions:write', 'events:read'],
      workspaces: ['ws_limits'],
    });
  });
  afterAll(async () => {
    await t?.close();
    await receiver?.close();
  });

  const create = (body: unknown) =>
    request(t.url)
      .post(V1)
      .set('X-Api-Key', writer)
      .send(body as object);
  const healthy = async () => expect((await request(t.url).get('/healthz')).status).toBe(200);

  it('a catastrophic $regex runs on RE2: the server stays up, and the matching event after it is delivered by webhook and socket', async () => {
    const user = await mintKey(t, {
      org: 'org_001',
      user: 'usr_limits',
      scopes: ['events:read'],
      workspaces: ['ws_limits'],
    });
    const socket = await connectSocket(t.url, user);
    const seen = record(socket, 'comment_added');
    try {
      const sub = await create({
        rules: [{ trigger: 'comment_added', conditions: { 'data.note': { $regex: CATASTROPHIC } } }],
        resources: ['claims/clm_redos'],
        actions: [{ type: 'webhook', url: receiver.url }, { type: 'socket' }],
      });
      expect(sub.status).toBe(201);

      // The save answers once the node emits by it, so the socket action is live for what follows.
      const evil = await publish(t.url, producer, {
        type: 'comment_added',
        claim_id: 'clm_redos',
        data: { note: EVIL_NOTE },
      });
      expect(evil.status).toBe(201);
      await healthy();
      const good = await publish(t.url, producer, {
        type: 'comment_added',
        claim_id: 'clm_redos',
        data: { note: 'aaaa' },
      });
      expect(good.status).toBe(201);
      await healthy();

      await waitFor(
        'the matching event by webhook and socket',
        () => receiver.requests.length >= 1 && seen.length >= 1,
      );
      // `good` is the sentinel. On the socket, events leave in seq order, so `evil` would have come
      // first. For the webhook, once the dispatcher is past `good` every match has its log entry:
      // the log holding only `good` means nothing else is owed.
      await dispatchedThrough(t.url, good.body.seq);
      const history = await request(t.url)
        .get(`/api/v2/subscriptions/${sub.body.id}/alerts/history`)
        .set('X-Api-Key', writer);
      expect(history.body.map((e: { event_id: string }) => e.event_id)).toEqual([good.body.id]);
      expect(receiver.requests.map((r) => JSON.parse(r.body).id)).toEqual([good.body.id]);
      expect(seen.map((m) => m.payload.id)).toEqual([good.body.id]);

      // The test endpoint evaluates the same pattern on the same engine, for a saved subscription and a draft.
      const saved = await request(t.url)
        .post(TEST)
        .set('X-Api-Key', writer)
        .send({
          subscription: sub.body.id,
          input: { type: 'comment_added', claim_id: 'clm_redos', data: { note: EVIL_NOTE } },
        });
      expect(saved.status).toBe(200);
      expect(saved.body.matched).toBe(false);
      expect(saved.body.rules[0]).toMatchObject({
        trigger_matched: true,
        resources_matched: true,
        failed_conditions: [{ path: 'data.note', expected: { $regex: CATASTROPHIC }, actual: EVIL_NOTE }],
      });
      const draft = await request(t.url)
        .post(TEST)
        .set('X-Api-Key', writer)
        .send({
          draft: {
            rules: [{ trigger: 'comment_added', conditions: { 'data.note': { $regex: CATASTROPHIC } } }],
            resources: ['claims/*'],
            actions: [{ type: 'socket' }],
          },
          input: { type: 'comment_added', claim_id: 'c', data: { note: 'a'.repeat(5000) } },
        });
      expect(draft.status).toBe(200);
      expect(draft.body.matched).toBe(true);
      await healthy();
    } finally {
      socket.close();
    }
  });

  it('$regex options i, m, s work; other options and patterns RE2 cannot run are 400 with the path and the reason', async () => {
    const test = (conditions: Record<string, unknown>, note: string) =>
      request(t.url)
        .post(TEST)
        .set('X-Api-Key', writer)
        .send({
          draft: { rules: [{ trigger: 'comment_added', conditions }], resources: ['claims/*'] },
          input: { type: 'comment_added', claim_id: 'c', data: { note } },
        });
    expect(
      (await test({ 'data.note': { $regex: '^line two$', $options: 'im' } }, 'line one\nLINE TWO')).body.matched,
    ).toBe(true);
    expect((await test({ 'data.note': { $regex: '^line two$' } }, 'line one\nLINE TWO')).body.matched).toBe(false);

    const refused = [
      [{ 'data.note': { $regex: '(a)\\1' } }, 'rules[0].conditions.data.note.$regex', 'not a valid RE2 pattern'],
      [
        { $or: [{ 'data.note': { $not: { $regex: 'a(?=b)' } } }] },
        'rules[0].conditions.$or[0].data.note.$not.$regex',
        'no backreferences or lookaround',
      ],
      [
        { 'data.note': { $regex: 'a', $options: 'x' } },
        'rules[0].conditions.data.note.$options',
        'option "x" is not supported',
      ],
      [
        { 'data.note': { $regex: 'a'.repeat(MAX_REGEX_LENGTH + 1) } },
        'rules[0].conditions.data.note.$regex',
        `limit for a pattern is ${MAX_REGEX_LENGTH}`,
      ],
      [
        { $jsonSchema: { properties: { note: { pattern: CATASTROPHIC } } } },
        'rules[0].conditions.$jsonSchema',
        'not allowed',
      ],
    ] as const;
    for (const [conditions, field, reason] of refused) {
      const res = await create({ rules: [{ trigger: 'comment_added', conditions }], resources: ['claims/*'] });
      expect(res.status).toBe(400);
      expect(res.body.details).toEqual([{ field, message: expect.stringContaining(reason) }]);
    }
    // Each pattern is within its own limit; together, across rules, they are not.
    const heavy = { trigger: 'comment_added', conditions: { 'data.note': { $regex: '.{900}' } } };
    const together = await create({ rules: [heavy, heavy, heavy], resources: ['claims/*'] });
    expect(together.status).toBe(400);
    expect(together.body.details).toEqual([
      {
        field: 'rules',
        message: expect.stringContaining(`the limit for a subscription is ${MAX_SUBSCRIPTION_REGEX_PROGRAM_SIZE}`),
      },
    ]);
  });

  it(`conditions ${MAX_CONDITIONS_DEPTH} levels deep are saved; ${MAX_CONDITIONS_DEPTH + 1} are a 400 naming the limit on create, replace and test`, async () => {
    const rule = (depth: number) => ({
      rules: [{ trigger: 'claim_approved', conditions: nestedConditions(depth) }],
      resources: ['claims/clm_depth'],
    });
    const ok = await create(rule(MAX_CONDITIONS_DEPTH));
    expect(ok.status).toBe(201);
    const expectDepthRefused = (res: request.Response) => {
      expect(res.status).toBe(400);
      expect(res.body).toMatchObject({ statusCode: 400, error: 'Bad Request' });
      expect(res.body.details).toEqual([
        {
          field: 'rules[0].conditions',
          message: expect.stringContaining(`nested deeper than ${MAX_CONDITIONS_DEPTH} levels`),
        },
      ]);
    };
    expectDepthRefused(await create(rule(MAX_CONDITIONS_DEPTH + 1)));
    expectDepthRefused(
      await request(t.url)
        .post(`${V1}/${ok.body.id}`)
        .set('X-Api-Key', writer)
        .send(rule(MAX_CONDITIONS_DEPTH + 1)),
    );
    expectDepthRefused(
      await request(t.url)
        .post(TEST)
        .set('X-Api-Key', writer)
        .send({ draft: rule(MAX_CONDITIONS_DEPTH + 1), input: { type: 'claim_approved', claim_id: 'clm_depth' } }),
    );

    const matching = await request(t.url)
      .post(TEST)
      .set('X-Api-Key', writer)
      .send({
        subscription: ok.body.id,
        input: { type: 'claim_approved', claim_id: 'clm_depth', data: { amount: 5 } },
      });
    expect(matching.body.matched).toBe(true);
  });

  it(`conditions over ${MAX_CONDITIONS_NODES} values or ${MAX_CONDITIONS_BYTES} bytes are a 400 naming the limit`, async () => {
    const manyValues = await create({
      rules: [
        {
          trigger: 'claim_approved',
          conditions: { 'data.currency': { $in: Array.from({ length: MAX_CONDITIONS_NODES }, (_, i) => i) } },
        },
      ],
      resources: ['claims/*'],
    });
    expect(manyValues.status).toBe(400);
    expect(manyValues.body.details).toEqual([
      { field: 'rules[0].conditions', message: expect.stringContaining(`more than ${MAX_CONDITIONS_NODES} values`) },
    ]);

    const manyBytes = await create({
      rules: [
        { trigger: 'claim_approved', conditions: {} },
        { trigger: 'claim_approved', conditions: { 'data.note': { $in: ['x'.repeat(MAX_CONDITIONS_BYTES)] } } },
      ],
      resources: ['claims/*'],
    });
    expect(manyBytes.status).toBe(400);
    expect(manyBytes.body.details).toEqual([
      {
        field: 'rules[1].conditions',
        message: expect.stringContaining(`the limit for one rule's conditions is ${MAX_CONDITIONS_BYTES}`),
      },
    ]);
  });

  it(`a JSON body nested deeper than ${MAX_JSON_DEPTH} levels is a 400 in the envelope of its path, before validation`, async () => {
    for (const depth of [MAX_JSON_DEPTH, 1000, 100_000]) {
      const res = await request(t.url)
        .post(V1)
        .set('X-Api-Key', writer)
        .set('Content-Type', 'application/json')
        .send(deepBody(depth));
      expect(res.status).toBe(400);
      expect(res.body).toEqual({
        statusCode: 400,
        error: 'Bad Request',
        message: `Request body is nested deeper than ${MAX_JSON_DEPTH} levels; that is the limit for a JSON body`,
      });
    }
    // Seed 004's family answers in its own envelope.
    const session = await request(t.url)
      .post('/v1/events/subscriptions')
      .set('X-Api-Key', writer)
      .set('Content-Type', 'application/json')
      .send(deepBody(1000));
    expect(session.status).toBe(400);
    expect(session.body).toEqual({ success: false, message: expect.stringContaining(`${MAX_JSON_DEPTH} levels`) });

    // Just under the limit gets through to validation, which answers for the DTO: rules must hold objects.
    const shallow = await request(t.url)
      .post(V1)
      .set('X-Api-Key', writer)
      .set('Content-Type', 'application/json')
      .send(deepBody(MAX_JSON_DEPTH - 1));
    expect(shallow.status).toBe(400);
    expect(shallow.body.details).toEqual([expect.objectContaining({ field: 'rules' })]);
    await healthy();
  });
});
