import { ExecutionContext, ForbiddenException, UnauthorizedException } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { DataSource } from 'typeorm';
import { buildDataSourceOptions } from '../database/data-source-options';
import { Database } from '../database/database.service';
import { generateApiKeyToken, hashApiKeyToken, tokenHint } from './api-key-tokens';
import { ApiKeyEntity } from './api-key.entity';
import { ApiKeyStore } from './api-key.store';
import { ApiKeysService } from './api-keys.service';
import { AuthGuard } from './auth.guard';
import { Authenticator } from './authenticator';
import { extractCredential, looksLikeJwt } from './credentials';
import { IS_PUBLIC, REQUIRED_SCOPES } from './decorators';
import { hasScope, listableUser, Principal } from './principal';
import { selectWorkspace } from './workspace';

const user: Principal = {
  kind: 'user',
  user_id: 'usr_1',
  organisation_id: 'org_1',
  workspace_ids: ['ws_a', 'ws_b'],
  scopes: ['events:read'],
  operator: false,
  credential: 'api_key',
};

describe('API key tokens', () => {
  it('are long, prefixed, unique and hashed deterministically', () => {
    const a = generateApiKeyToken();
    const b = generateApiKeyToken();
    expect(a).toMatch(/^hrld_[A-Za-z0-9_-]{43}$/);
    expect(a).not.toBe(b);
    expect(hashApiKeyToken(a)).toMatch(/^[0-9a-f]{64}$/);
    expect(hashApiKeyToken(a)).toBe(hashApiKeyToken(a));
    expect(hashApiKeyToken(a)).not.toBe(hashApiKeyToken(b));
    expect(tokenHint(a)).toBe(a.slice(0, 9));
  });
});

describe('ApiKeysService lookup (in-memory SQLite)', () => {
  let dataSource: DataSource;
  let keys: ApiKeysService;

  beforeAll(async () => {
    dataSource = await new DataSource(
      buildDataSourceOptions({ sqlitePath: ':memory:', poolSize: 1 }, [ApiKeyEntity]),
    ).initialize();
    await dataSource.runMigrations();
    const db = new Database(dataSource);
    keys = new ApiKeysService(db, new ApiKeyStore(db));
  });
  afterAll(() => dataSource.destroy());

  it('stores only the hash, finds the key by its token, and forgets it once revoked', async () => {
    const operator = { ...user, kind: 'app' as const, user_id: undefined, operator: true, scopes: ['admin'] };
    const created = await keys.create(operator, {
      kind: 'user',
      user_id: 'usr_9',
      organisation_id: 'org_9',
      scopes: ['events:read'],
    });
    const row = await dataSource.manager.findOneByOrFail(ApiKeyEntity, { id: created.key_id });
    expect(row.token_hash).toBe(hashApiKeyToken(created.token));
    expect(JSON.stringify(row)).not.toContain(created.token);

    await expect(keys.principalForToken(created.token)).resolves.toMatchObject({
      kind: 'user',
      user_id: 'usr_9',
      organisation_id: 'org_9',
      scopes: ['events:read'],
      key_id: created.key_id,
    });
    await expect(keys.principalForToken(created.token + 'x')).resolves.toBeUndefined();
    await keys.revoke(operator, created.key_id);
    await expect(keys.principalForToken(created.token)).resolves.toBeUndefined();
  });

  it('honours expires_at on every lookup, also while the key is cached', async () => {
    const expiresAt = new Date(Date.now() + 300).toISOString();
    const created = await keys.insert(dataSource.manager, {
      kind: 'app',
      organisation_id: 'org_9',
      scopes: [],
      expires_at: expiresAt,
    });
    expect(created).toMatchObject({ expires_at: expiresAt, created_by: 'operator' });
    await expect(keys.lookup(created.token)).resolves.toMatchObject({
      status: 'valid',
      principal: { key_id: created.key_id },
    });
    while (Date.now() <= Date.parse(expiresAt)) await new Promise((r) => setTimeout(r, 20));
    // Still inside the cache window (10 s): the cached entry must not outlive the expiry.
    await expect(keys.lookup(created.token)).resolves.toEqual({ status: 'expired' });
    await expect(keys.lookup(created.token)).resolves.toEqual({ status: 'expired' });
    await expect(keys.principalForToken(created.token)).resolves.toBeUndefined();
    await expect(keys.lookup(created.token + 'x')).resolves.toEqual({ status: 'unknown' });
  });

  it('records who created a key', async () => {
    const operator = {
      ...user,
      kind: 'app' as const,
      user_id: undefined,
      operator: true,
      scopes: ['admin'],
      key_id: 'key_operator',
    };
    expect((await keys.create(operator, { kind: 'app', organisation_id: 'org_9', scopes: [] })).created_by).toBe(
      'key_operator',
    );
    const jwtUser = { ...user, scopes: ['admin'], credential: 'jwt' as const };
    expect((await keys.create(jwtUser, { kind: 'app', scopes: [] })).created_by).toBe('jwt:usr_1');
    const jwtApp = { ...jwtUser, kind: 'app' as const, user_id: undefined };
    expect((await keys.create(jwtApp, { kind: 'app', scopes: [] })).created_by).toBe('jwt:org_1');
    const longSub = { ...jwtUser, user_id: 'u'.repeat(300) };
    expect((await keys.create(longSub, { kind: 'app', scopes: [] })).created_by).toHaveLength(128);
  });

  it('keeps admins inside their organisation', async () => {
    const admin = { ...user, scopes: ['admin'] };
    await expect(keys.create(admin, { kind: 'app', organisation_id: 'org_other', scopes: [] })).rejects.toBeInstanceOf(
      ForbiddenException,
    );
    const own = await keys.create(admin, { kind: 'app', scopes: ['events:publish'] });
    expect(own.organisation_id).toBe('org_1');
  });
});

describe('credentials', () => {
  it('reads Bearer, X-Api-Key, and access_token only where allowed', () => {
    expect(extractCredential({ authorization: 'Bearer abc' })).toBe('abc');
    expect(extractCredential({ authorization: 'bearer  abc ' })).toBe('abc');
    expect(extractCredential({ 'x-api-key': 'k1' })).toBe('k1');
    expect(extractCredential({ authorization: 'Basic xyz' })).toBeUndefined();
    expect(extractCredential({}, new URLSearchParams('access_token=q'))).toBeUndefined();
    expect(extractCredential({}, new URLSearchParams('access_token=q'), true)).toBe('q');
  });

  it('reads access_token by its decoded name, from URLSearchParams and from a Socket.IO query object', () => {
    expect(extractCredential({}, new URLSearchParams('a=1&access%5Ftoken=q'), true)).toBe('q');
    expect(extractCredential({}, { a: '1', access_token: 'q' }, true)).toBe('q');
    expect(extractCredential({}, new URLSearchParams('ACCESS_TOKEN=q&token=r&api_key=s'), true)).toBeUndefined();
    expect(extractCredential({}, new URLSearchParams('access_token=&access_token=q'), true)).toBeUndefined();
    expect(extractCredential({ 'x-api-key': 'k1' }, new URLSearchParams('access_token=q'), true)).toBe('k1');
  });

  it('tells JWTs from API keys', () => {
    expect(looksLikeJwt('eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1In0.sig')).toBe(true);
    expect(looksLikeJwt(generateApiKeyToken())).toBe(false);
  });
});

describe('scopes', () => {
  it('admin and operator imply every scope', () => {
    expect(hasScope(user, 'events:read')).toBe(true);
    expect(hasScope(user, 'events:publish')).toBe(false);
    expect(hasScope({ ...user, scopes: ['admin'] }, 'events:publish')).toBe(true);
    expect(hasScope({ ...user, scopes: [], operator: true }, 'subscriptions:write')).toBe(true);
  });
});

describe('AuthGuard', () => {
  function context(meta: Record<string, unknown>, headers: Record<string, string>) {
    const handler = () => undefined;
    for (const [key, value] of Object.entries(meta)) Reflect.defineMetadata(key, value, handler);
    const req: Record<string, unknown> = { headers };
    const ctx = {
      getType: () => 'http',
      getHandler: () => handler,
      getClass: () => class {},
      switchToHttp: () => ({ getRequest: () => req }),
    } as unknown as ExecutionContext;
    return { ctx, req };
  }
  const authenticator = {
    authenticate: async (token?: string) => {
      if (token !== 'good') throw new UnauthorizedException('bad');
      return user;
    },
  } as unknown as Authenticator;
  const guard = new AuthGuard(new Reflector(), authenticator);

  it('lets public routes through without a credential', async () => {
    await expect(guard.canActivate(context({ [IS_PUBLIC]: true }, {}).ctx)).resolves.toBe(true);
  });

  it('refuses a missing or bad credential', async () => {
    await expect(guard.canActivate(context({}, {}).ctx)).rejects.toBeInstanceOf(UnauthorizedException);
    await expect(guard.canActivate(context({}, { 'x-api-key': 'nope' }).ctx)).rejects.toBeInstanceOf(
      UnauthorizedException,
    );
  });

  it('attaches the principal and enforces required scopes', async () => {
    const ok = context({ [REQUIRED_SCOPES]: ['events:read'] }, { 'x-api-key': 'good' });
    await expect(guard.canActivate(ok.ctx)).resolves.toBe(true);
    expect(ok.req.principal).toBe(user);
    const denied = context({ [REQUIRED_SCOPES]: ['events:read', 'events:publish'] }, { 'x-api-key': 'good' });
    await expect(guard.canActivate(denied.ctx)).rejects.toThrow('Missing scope: events:publish');
  });
});

describe('selectWorkspace', () => {
  it('defaults to the first workspace and accepts one of the principal’s', () => {
    expect(selectWorkspace(user, undefined)).toBe('ws_a');
    expect(selectWorkspace(user, 'ws_b')).toBe('ws_b');
  });

  it('refuses a foreign workspace or a principal without any', () => {
    expect(() => selectWorkspace(user, 'ws_z')).toThrow(ForbiddenException);
    expect(() => selectWorkspace({ ...user, workspace_ids: [] }, undefined)).toThrow(ForbiddenException);
  });
});

describe('listableUser', () => {
  it('narrows plain users to themselves and lets org-wide readers choose', () => {
    expect(listableUser(user, undefined)).toBe('usr_1');
    expect(listableUser(user, 'usr_1')).toBe('usr_1');
    expect(listableUser(user, 'usr_2')).toBeNull();
    const app: Principal = { ...user, kind: 'app', user_id: undefined };
    expect(listableUser(app, undefined)).toBeUndefined();
    expect(listableUser(app, 'usr_2')).toBe('usr_2');
    expect(listableUser({ ...user, scopes: ['claims:read:org'] }, 'usr_2')).toBe('usr_2');
  });
});
