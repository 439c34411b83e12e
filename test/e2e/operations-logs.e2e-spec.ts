import request from 'supertest';
import { mintKey } from '../support/credentials';
import { connectSocket, waitFor } from '../support/sockets';
import { startTestApp, type TestApp } from '../support/test-app';
import { connectWs, type UpgradeRefusal } from '../support/ws-client';

const ORG = 'org_ops_logs';
const PINO_LEVEL = { debug: 20, info: 30, warn: 40, error: 50 } as const;

type Line = Record<string, any>;

/**
 * What an operator reads in the JSON log, through the real app: who made each request and why a
 * refused one was refused, socket and WebSocket connections and refusals, and a start-up that
 * keeps Nest's route table out of `info`. Never a credential.
 */
describe('operations: logs', () => {
  let t: TestApp;
  let raw = '';
  const write = process.stdout.write;
  let startup: Line[] = [];
  let admin: { token: string; key_id: string };
  let bootstrapKey: string;

  function lines(): Line[] {
    return raw
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Line);
  }

  /** Lines written after `mark` (a length of `raw`). */
  function since(mark: number): Line[] {
    return raw
      .slice(mark)
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Line);
  }

  beforeAll(async () => {
    // pino writes to process.stdout itself when its write has been replaced before the logger is made.
    process.stdout.write = ((chunk: string | Uint8Array) => {
      raw += chunk.toString();
      return true;
    }) as typeof process.stdout.write;
    t = await startTestApp({ env: { LOG_LEVEL: 'debug' } });
    startup = lines();
    bootstrapKey = t.operatorToken;
    const res = await request(t.url)
      .post('/api/v1/api-keys')
      .set('X-Api-Key', t.operatorToken)
      .send({ kind: 'app', organisation_id: ORG, scopes: ['events:publish', 'events:read'], workspace_ids: [] });
    expect(res.status).toBe(201);
    admin = { token: res.body.token, key_id: res.body.key_id };
  });
  afterAll(async () => {
    await t?.close();
    process.stdout.write = write;
  });

  afterAll(() => {
    // Whatever a test did, no credential reached the log.
    for (const secret of [bootstrapKey, admin?.token].filter(Boolean)) expect(raw).not.toContain(secret);
  });

  it('prints the route table at debug, not info', () => {
    const routeTable = startup.filter((l) => l.context === 'RoutesResolver' || l.context === 'RouterExplorer');
    // One line per controller and per route.
    expect(routeTable.length).toBeGreaterThan(40);
    expect(routeTable.filter((l) => l.level !== PINO_LEVEL.debug)).toEqual([]);
    expect(routeTable.some((l) => /Mapped \{\/api\/v1\/events, POST\} route/.test(l.msg))).toBe(true);
    // What is left at info before the app serves: a handful of lines, not one per route and module.
    const info = startup.filter((l) => l.level >= PINO_LEVEL.info);
    expect(info.length).toBeLessThan(10);
    expect(startup.filter((l) => l.context === 'InstanceLoader' && l.level >= PINO_LEVEL.info)).toEqual([]);
  });

  it('says on the request-completed line who called, and for a 4xx what the client was told', async () => {
    const mark = raw.length;
    const ok = await request(t.url)
      .get('/api/v1/events?after=0')
      .set('X-Request-Id', 'ops-ok')
      .set('X-Api-Key', admin.token);
    expect(ok.status).toBe(200);
    const invalid = await request(t.url)
      .post('/api/v1/events')
      .set('X-Request-Id', 'ops-invalid')
      .set('X-Api-Key', admin.token)
      .send({ type: 'claim_approved', data: {}, user_id: 42 });
    expect(invalid.status).toBe(400);
    const reader = await mintKey(t, { org: ORG, scopes: ['events:read'] });
    const forbidden = await request(t.url)
      .post('/api/v1/events')
      .set('X-Request-Id', 'ops-forbidden')
      .set('X-Api-Key', reader)
      .send({ type: 'claim_approved', data: {} });
    expect(forbidden.status).toBe(403);
    const unknownKey = 'hrld_not_a_real_key_0123456789';
    const unauthenticated = await request(t.url)
      .get('/api/v1/events')
      .set('X-Request-Id', 'ops-401')
      .set('Authorization', `Bearer ${unknownKey}`);
    expect(unauthenticated.status).toBe(401);
    const malformed = await request(t.url)
      .post('/api/v1/events')
      .set('X-Request-Id', 'ops-malformed')
      .set('X-Api-Key', admin.token)
      .set('content-type', 'application/json')
      .send('{"type":');
    expect(malformed.status).toBe(400);

    let completed: Line[] = [];
    await waitFor('five request lines', () => {
      completed = since(mark).filter((l) => l.msg === 'request completed' && /^ops-/.test(l.req?.id));
      return completed.length === 5;
    });
    const byId = Object.fromEntries(completed.map((l) => [l.req.id, l]));
    const caller = { credential: 'api_key', key_id: admin.key_id, organisation_id: ORG, user_id: null };

    expect(byId['ops-ok']).toMatchObject({ level: PINO_LEVEL.info, res: { statusCode: 200 }, caller });
    expect(byId['ops-ok'].reason).toBeUndefined();

    expect(byId['ops-invalid']).toMatchObject({
      level: PINO_LEVEL.warn,
      res: { statusCode: 400 },
      caller,
      reason: invalid.body.message,
      details: invalid.body.details,
    });
    expect(JSON.stringify(byId['ops-invalid'].details)).toContain('user_id');

    expect(byId['ops-forbidden']).toMatchObject({
      level: PINO_LEVEL.warn,
      res: { statusCode: 403 },
      caller: { key_id: expect.stringMatching(/^key_/), organisation_id: ORG },
      reason: forbidden.body.message,
    });
    expect(byId['ops-forbidden'].reason).toContain('events:publish');

    // No credential checked out: no caller, and the reason the client was given.
    expect(byId['ops-401']).toMatchObject({ level: PINO_LEVEL.warn, reason: unauthenticated.body.message });
    expect(byId['ops-401'].caller).toBeUndefined();
    expect(raw).not.toContain(unknownKey);

    // Refused before any controller ran (the body parser).
    expect(byId['ops-malformed']).toMatchObject({ level: PINO_LEVEL.warn, reason: 'Malformed JSON in request body' });
  });

  it('logs Socket.IO connects, refusals and disconnects, with who and why, without the credential', async () => {
    const mark = raw.length;
    const socket = await connectSocket(t.url, admin.token);
    const badToken = 'hrld_bad_socket_token_0123456789';
    const refused = await connectSocket(t.url, badToken).catch(
      (err: { data?: { code: number; message: string } }) => err,
    );
    expect((refused as { data: { code: number } }).data.code).toBe(401);
    const noScope = await mintKey(t, { org: ORG, scopes: ['notifications:write'] });
    const forbidden = await connectSocket(t.url, noScope).catch(
      (err: { data?: { code: number; message: string } }) => err,
    );
    expect((forbidden as { data: { code: number } }).data.code).toBe(403);
    socket.close();

    let connections: Line[] = [];
    await waitFor('socket lines', () => {
      connections = since(mark).filter((l) => l.context === 'Connections' && l.transport === 'socket.io');
      return connections.some((l) => l.msg === 'client disconnected') && connections.length >= 4;
    });
    const caller = { credential: 'api_key', key_id: admin.key_id, organisation_id: ORG, user_id: null };
    expect(connections.find((l) => l.msg === 'client connected')).toMatchObject({
      level: PINO_LEVEL.info,
      path: '/',
      address: expect.stringContaining('127.0.0.1'),
      caller,
    });
    const refusals = connections.filter((l) => l.msg === 'client refused');
    expect(refusals.map((l) => [l.level, l.status])).toEqual([
      [PINO_LEVEL.warn, 401],
      [PINO_LEVEL.warn, 403],
    ]);
    expect(refusals[0].caller).toBeUndefined();
    expect(refusals[0].reason).toBe((refused as { data: { message: string } }).data.message);
    expect(refusals[1].caller).toMatchObject({ organisation_id: ORG, key_id: expect.stringMatching(/^key_/) });
    expect(refusals[1].reason).toContain('events:read');
    expect(connections.find((l) => l.msg === 'client disconnected')).toMatchObject({
      level: PINO_LEVEL.info,
      path: '/',
      caller,
      reason: 'client namespace disconnect',
      duration_ms: expect.any(Number),
    });
    expect(raw).not.toContain(badToken);
    expect(raw).not.toContain(noScope);
  });

  it('logs raw WebSocket connects, refusals and closes, without the query string that may carry a token', async () => {
    const mark = raw.length;
    const badToken = 'hrld_bad_ws_token_0123456789';
    const refusal = (await connectWs(
      `${t.url}/api/v1/ws/subscribe?event_types=claim_approved&access_token=${badToken}`,
    ).catch((err: UpgradeRefusal) => err)) as UpgradeRefusal;
    expect(refusal.status).toBe(401);
    const missing = (await connectWs(`${t.url}/api/v1/nowhere`, { headers: { 'X-Api-Key': admin.token } }).catch(
      (err: UpgradeRefusal) => err,
    )) as UpgradeRefusal;
    expect(missing.status).toBe(404);
    const client = await connectWs(`${t.url}/api/v1/ws/subscribe?event_types=claim_approved`, {
      headers: { 'X-Api-Key': admin.token },
    });
    client.ws.close(1000);
    await client.closed;

    let connections: Line[] = [];
    await waitFor('websocket lines', () => {
      connections = since(mark).filter((l) => l.context === 'Connections' && l.transport === 'websocket');
      return connections.some((l) => l.msg === 'client disconnected');
    });
    const caller = { credential: 'api_key', key_id: admin.key_id, organisation_id: ORG, user_id: null };
    expect(connections.map((l) => [l.msg, l.level, l.path, l.status ?? null, l.code ?? null])).toEqual([
      ['client refused', PINO_LEVEL.warn, '/api/v1/ws/subscribe', 401, null],
      ['client refused', PINO_LEVEL.warn, '/api/v1/nowhere', 404, null],
      ['client connected', PINO_LEVEL.info, '/api/v1/ws/subscribe', null, null],
      ['client disconnected', PINO_LEVEL.info, '/api/v1/ws/subscribe', null, 1000],
    ]);
    expect(connections[0].reason).toBe(refusal.body.message);
    expect(connections[2].caller).toEqual(caller);
    expect(connections[3].caller).toEqual(caller);
    expect(raw).not.toContain(badToken);
  });
});
