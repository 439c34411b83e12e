import { Client } from 'pg';
import request from 'supertest';
import { DataSource } from 'typeorm';
import WebSocket from 'ws';
import { ApiKeyEntity } from '../../src/core/auth/api-key.entity';
import { loadConfig } from '../../src/core/config';
import { buildDataSourceOptions } from '../../src/core/database/data-source-options';
import { MIGRATIONS } from '../../src/core/database/migrations';
import { ApiKeyExpiry1763900900000 } from '../../src/core/database/migrations/1763900900000-api-key-expiry';
import { connectSocket } from '../support/sockets';
import { signJwt } from '../support/credentials';
import { startTestApp, TestApp } from '../support/test-app';
import { createTestDatabase } from '../support/test-database';
import { connectWs, WsConnection } from '../support/ws-client';

/**
 * Opens the default Socket.IO namespace over a bare WebSocket, so the handshake URL is exactly
 * what a browser might send (socket.io-client would re-encode a query key). Resolves with the
 * namespace CONNECT answer: `40{"sid":…}` on success, `44{…}` when refused.
 */
function socketIoHandshake(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.on('error', reject);
    ws.on('message', (data) => {
      const packet = data.toString();
      if (packet.startsWith('0')) ws.send('40');
      else if (packet.startsWith('40') || packet.startsWith('44')) {
        ws.close();
        resolve(packet);
      }
    });
  });
}

describe('query-string credentials never reach the log', () => {
  let t: TestApp;
  let log = '';
  let token: string;
  const write = process.stdout.write;

  beforeAll(async () => {
    // pino writes to process.stdout itself when its write has been replaced before the logger is
    // made (and to fd 1 directly otherwise): this captures the app's real log lines.
    process.stdout.write = ((chunk: string | Uint8Array) => {
      log += chunk.toString();
      return true;
    }) as typeof process.stdout.write;
    t = await startTestApp({ env: { LOG_LEVEL: 'trace' } });
    const created = await request(t.url)
      .post('/api/v1/api-keys')
      .set('X-Api-Key', t.operatorToken)
      .send({ kind: 'user', organisation_id: 'org_log', user_id: 'usr_log', scopes: ['events:read', 'users.read'] });
    token = created.body.token;
  });
  afterAll(async () => {
    await t?.close();
    process.stdout.write = write;
  });

  it('redacts access_token by its decoded name, however it is spelled, on every path that takes or logs it', async () => {
    const spellings = [
      'access_token',
      'access%5Ftoken',
      'access%5ftoken',
      '%61ccess%5Ftoken',
      'ACCESS_TOKEN',
      'access_token[]',
      'x=1;access_token',
    ];
    const opened: WsConnection[] = [];
    try {
      for (const name of spellings) {
        // REST: logged by the access log, and succeeding on the header.
        const rest = await request(t.url).get(`/api/v1/event-types?${name}=${token}`).set('X-Api-Key', token);
        expect(rest.status).toBe(200);
        // A plain GET of the upgrade path: refused, and logged.
        const plain = await request(t.url).get(`/api/v1/ws/subscribe?${name}=${token}`);
        expect([400, 401, 426]).toContain(plain.status);
      }
      // The upgrade and the Socket.IO handshake accept the percent-encoded name: the decoded name is what counts.
      const ws = await connectWs(`${t.url}/api/v1/ws/subscribe?access%5Ftoken=${token}`);
      opened.push(ws);
      expect(await ws.next((f) => f.type === 'welcome', 'welcome')).toMatchObject({ user_id: 'usr_log' });
      const answer = await socketIoHandshake(
        `${t.url.replace(/^http/, 'ws')}/socket.io/?EIO=4&transport=websocket&access%5Ftoken=${token}`,
      );
      expect(answer).toMatch(/^40\{"sid":/);
      // The long-polling transport's handshake is plain HTTP, answered by engine.io before the access log.
      const polling = await fetch(`${t.url}/socket.io/?EIO=4&transport=polling&access%5Ftoken=${token}`);
      expect(polling.status).toBe(200);
      expect(await polling.text()).toMatch(/^0\{"sid":/);
      const refused = await socketIoHandshake(
        `${t.url.replace(/^http/, 'ws')}/socket.io/?EIO=4&transport=websocket&access%5Ftoken=${token}x`,
      );
      expect(refused).toMatch(/^44/);
    } finally {
      for (const c of opened) c.ws.terminate();
    }

    await new Promise((r) => setTimeout(r, 100));
    // The requests were logged (so this test can fail), with the value hidden...
    const lines = log
      .split('\n')
      .filter((l) => l.includes('/api/v1/event-types?') || l.includes('/api/v1/ws/subscribe?'));
    expect(lines.length).toBeGreaterThanOrEqual(spellings.length * 2);
    expect(log).toContain('/api/v1/event-types?access%5Ftoken=[redacted]');
    expect(log).toContain('/api/v1/ws/subscribe?%61ccess%5Ftoken=[redacted]');
    // ...and the token appears nowhere, in any line.
    expect(log).not.toContain(token);
    expect(log).not.toContain(token.slice(12));
  });
});

describe('API key expiry and provenance', () => {
  let t: TestApp;
  let operatorKeyId: string;

  beforeAll(async () => {
    t = await startTestApp();
    const all = await request(t.url).get('/api/v1/api-keys').set('X-Api-Key', t.operatorToken);
    operatorKeyId = all.body.find((k: { operator: boolean }) => k.operator).key_id;
  });
  afterAll(() => t?.close());

  const create = (by: string, body: Record<string, unknown>) =>
    request(t.url)
      .post('/api/v1/api-keys')
      .set('Authorization', `Bearer ${by}`)
      .send({ kind: 'user', organisation_id: 'org_exp', user_id: 'usr_exp', scopes: ['events:read'], ...body });

  it.each([
    ['a past time', '2020-01-01T00:00:00Z', 'expires_at must be in the future'],
    [
      'a date without a time',
      '2031-01-01',
      'expires_at must be an RFC 3339 date-time with a time zone, such as 2030-01-31T00:00:00Z',
    ],
    [
      'a time without a zone',
      '2031-01-01T00:00:00',
      'expires_at must be an RFC 3339 date-time with a time zone, such as 2030-01-31T00:00:00Z',
    ],
    [
      'an impossible date',
      '2031-02-30T00:00:00Z',
      'expires_at must be an RFC 3339 date-time with a time zone, such as 2030-01-31T00:00:00Z',
    ],
    ['a number', 1924992000, 'expires_at must be an RFC 3339 date-time with a time zone, such as 2030-01-31T00:00:00Z'],
  ])('400 for expires_at as %s, with one detail', async (_name, expiresAt, message) => {
    const res = await create(t.operatorToken, { expires_at: expiresAt });
    expect(res.status).toBe(400);
    expect(res.body.details).toEqual([{ field: 'expires_at', message }]);
  });

  it('shows expires_at (normalised to UTC) and created_by in the key view and the list', async () => {
    const res = await create(t.operatorToken, { expires_at: '2031-01-31T10:00:00+02:00' });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ expires_at: '2031-01-31T08:00:00.000Z', created_by: operatorKeyId });
    const forever = await create(t.operatorToken, {});
    expect(forever.body).toMatchObject({ expires_at: null, created_by: operatorKeyId });
    const listed = await request(t.url)
      .get('/api/v1/api-keys?organisation_id=org_exp')
      .set('X-Api-Key', t.operatorToken);
    expect(listed.body).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          key_id: res.body.key_id,
          expires_at: '2031-01-31T08:00:00.000Z',
          created_by: operatorKeyId,
        }),
        expect.objectContaining({ key_id: forever.body.key_id, expires_at: null, created_by: operatorKeyId }),
      ]),
    );
    // The operator key itself was minted at bootstrap, not through the API.
    const all = await request(t.url).get('/api/v1/api-keys').set('X-Api-Key', t.operatorToken);
    expect(all.body.find((k: { key_id: string }) => k.key_id === operatorKeyId)).toMatchObject({
      created_by: 'operator',
      expires_at: null,
    });
  });

  it('documents expires_at and created_by in Swagger, with examples', async () => {
    const { schemas } = (await request(t.url).get('/docs-json')).body.components;
    expect(schemas.CreateApiKeyDto.properties.expires_at).toMatchObject({
      type: 'string',
      format: 'date-time',
      example: expect.any(String),
    });
    expect(schemas.CreateApiKeyDto.required ?? []).not.toContain('expires_at');
    expect(schemas.ApiKeyDto.properties.expires_at).toMatchObject({
      format: 'date-time',
      nullable: true,
      example: expect.any(String),
    });
    expect(schemas.ApiKeyDto.properties.created_by).toMatchObject({
      nullable: true,
      example: expect.stringMatching(/^key_/),
    });
  });

  it('created_by names the creating key, or the JWT subject (user) or organisation (app)', async () => {
    const admin = await request(t.url)
      .post('/api/v1/api-keys')
      .set('X-Api-Key', t.operatorToken)
      .send({ kind: 'app', organisation_id: 'org_exp', scopes: ['admin'] });
    const byAdmin = await create(admin.body.token, {});
    expect(byAdmin.status).toBe(201);
    expect(byAdmin.body.created_by).toBe(admin.body.key_id);

    const userJwt = await signJwt({ sub: 'usr_idp', org: 'org_exp', scope: 'admin', token_type: 'user' });
    const byUser = await create(userJwt, {});
    expect(byUser.status).toBe(201);
    expect(byUser.body.created_by).toBe('jwt:usr_idp');

    const appJwt = await signJwt({ org: 'org_exp', scope: 'admin', token_type: 'app' });
    const byApp = await create(appJwt, {});
    expect(byApp.status).toBe(201);
    expect(byApp.body.created_by).toBe('jwt:org_exp');
  });

  it('an expired key gets 401 "API key expired" on REST, the raw WebSocket upgrade and the Socket.IO handshake, even while cached', async () => {
    const expiresAt = new Date(Date.now() + 1500).toISOString();
    const created = await create(t.operatorToken, { expires_at: expiresAt, scopes: ['events:read', 'users.read'] });
    expect(created.status).toBe(201);
    const key: string = created.body.token;
    const channel = await request(t.url)
      .post('/api/v1/realtime-subscriptions/user')
      .set('X-Api-Key', key)
      .send({ user_id: 'usr_exp' });
    expect(channel.status).toBe(201);

    // Used once on every transport before it expires, so the key sits in the principal cache.
    const opened: WsConnection[] = [];
    try {
      expect((await request(t.url).get('/api/v1/event-types').set('X-Api-Key', key)).status).toBe(200);
      opened.push(await connectWs(`${t.url}/api/v1/ws/subscribe`, { headers: { 'X-Api-Key': key } }));
      (await connectSocket(t.url, key)).close();
    } finally {
      for (const c of opened) c.ws.terminate();
    }
    while (Date.now() <= Date.parse(expiresAt)) await new Promise((r) => setTimeout(r, 50));

    const rest = await request(t.url).get('/api/v1/event-types').set('X-Api-Key', key);
    expect(rest.status).toBe(401);
    expect(rest.body).toEqual({ statusCode: 401, error: 'Unauthorized', message: 'API key expired' });
    const bearer = await request(t.url)
      .get('/v1/events/AAAAAAAAAAAAAAAAAAAA/subscriptions')
      .set('Authorization', `Bearer ${key}`);
    expect(bearer.status).toBe(401);
    expect(bearer.body).toEqual({ success: false, message: 'API key expired' });

    await expect(connectWs(`${t.url}/api/v1/ws/subscribe`, { headers: { 'X-Api-Key': key } })).rejects.toMatchObject({
      status: 401,
      body: { code: 401, message: 'API key expired' },
    });
    await expect(connectWs(`${t.url}/api/v1/ws/subscribe?access_token=${key}`)).rejects.toMatchObject({
      status: 401,
      body: { message: 'API key expired' },
    });
    await expect(
      connectWs(channel.body.websocket_url.replace(/^ws/, 'http'), { headers: { 'X-Api-Key': key } }),
    ).rejects.toMatchObject({
      status: 401,
      body: { message: 'API key expired' },
    });
    await expect(connectSocket(t.url, key)).rejects.toMatchObject({
      message: 'API key expired',
      data: { code: 401, message: 'API key expired' },
    });
  });
});

describe('migration 1763900900000 on keys made before it', () => {
  it('adds a null expires_at and rewrites the old created_by values', async () => {
    const database = createTestDatabase();
    const config = loadConfig(database.env).database;
    if (config.url) {
      const client = new Client({ connectionString: config.url });
      await client.connect();
      await client.query(`CREATE SCHEMA IF NOT EXISTS "${config.schema}"`);
      await client.end();
    }
    try {
      const before = await new DataSource({
        ...buildDataSourceOptions(config),
        migrations: MIGRATIONS.filter((m) => m !== ApiKeyExpiry1763900900000),
      } as ConstructorParameters<typeof DataSource>[0]).initialize();
      await before.runMigrations();
      const row = (id: string, operator: boolean, createdBy: string | null) =>
        `('${id}', 'hash_${id}', 'hrld_x', 'app', 'org_m', '[]', '[]', ${operator}, ${createdBy === null ? 'NULL' : `'${createdBy}'`}, '2026-01-01T00:00:00.000Z')`;
      await before.query(
        `INSERT INTO api_keys (id, token_hash, token_hint, kind, organisation_id, workspace_ids, scopes, "operator", created_by, created_at) VALUES ` +
          [
            row('key_op', true, null),
            row('key_bykey', false, 'key_op'),
            row('key_byjwt', false, 'usr_legacy'),
            row('key_unknown', false, null),
          ].join(', '),
      );
      await before.destroy();

      const after = await new DataSource(buildDataSourceOptions(config, [ApiKeyEntity])).initialize();
      await after.runMigrations();
      const keys = await after.manager.find(ApiKeyEntity);
      await after.destroy();
      expect(keys.map((k) => [k.id, k.created_by, k.expires_at]).sort()).toEqual([
        ['key_byjwt', 'jwt:usr_legacy', null],
        ['key_bykey', 'key_op', null],
        ['key_op', 'operator', null],
        ['key_unknown', null, null],
      ]);
    } finally {
      await database.drop();
    }
  });
});
