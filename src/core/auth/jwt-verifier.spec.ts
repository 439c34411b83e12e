import { SignJWT } from 'jose';
import { loadConfig } from '../config';
import { InvalidTokenError, JwtVerifier } from './jwt-verifier';

const SECRET = 'unit-test-secret-with-at-least-32-bytes!';

function verifier(env: Record<string, string> = {}): JwtVerifier {
  return new JwtVerifier(loadConfig({ AUTH_JWT_SECRET: SECRET, ...env }));
}

async function sign(
  claims: Record<string, unknown>,
  opts: { secret?: string; exp?: string | number; iss?: string; aud?: string; alg?: string } = {},
): Promise<string> {
  let jwt = new SignJWT(claims)
    .setProtectedHeader({ alg: opts.alg ?? 'HS256' })
    .setIssuedAt()
    .setExpirationTime(opts.exp ?? '5m');
  if (opts.iss) jwt = jwt.setIssuer(opts.iss);
  if (opts.aud) jwt = jwt.setAudience(opts.aud);
  return jwt.sign(new TextEncoder().encode(opts.secret ?? SECRET));
}

async function reason(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidTokenError);
    return (err as Error).message;
  }
  throw new Error('expected verification to fail');
}

describe('JwtVerifier', () => {
  it('maps a valid user token to a principal', async () => {
    const token = await sign({
      sub: 'usr_1',
      org: 'org_1',
      workspaces: ['ws_a', 'ws_b'],
      scope: 'events:read users.read',
      token_type: 'user',
    });
    await expect(verifier().verify(token)).resolves.toEqual({
      kind: 'user',
      user_id: 'usr_1',
      organisation_id: 'org_1',
      workspace_ids: ['ws_a', 'ws_b'],
      scopes: ['events:read', 'users.read'],
      operator: false,
      credential: 'jwt',
    });
  });

  it('maps an app token without a user', async () => {
    const principal = await verifier().verify(await sign({ org: 'org_1', token_type: 'app', scope: 'events:publish' }));
    expect(principal.kind).toBe('app');
    expect(principal.user_id).toBeUndefined();
    expect(principal.workspace_ids).toEqual([]);
  });

  it('rejects an expired token', async () => {
    const token = await sign({ sub: 'u', org: 'o' }, { exp: Math.floor(Date.now() / 1000) - 60 });
    expect(await reason(verifier().verify(token))).toBe('token has expired');
  });

  describe('lifetime', () => {
    const now = () => Math.floor(Date.now() / 1000);
    /** Signs exactly the given registered claims: no `iat` or `exp` unless asked for. */
    const raw = (times: { iat?: number; exp?: number }) =>
      new SignJWT({ sub: 'u', org: 'o', ...times })
        .setProtectedHeader({ alg: 'HS256' })
        .sign(new TextEncoder().encode(SECRET));

    it('requires an exp claim', async () => {
      expect(await reason(verifier().verify(await raw({ iat: now() })))).toBe(
        'token is missing the "exp" claim; Herald accepts only expiring tokens',
      );
      expect(await reason(verifier().verify(await raw({})))).toContain('"exp"');
    });

    it('accepts up to AUTH_JWT_MAX_LIFETIME (24h by default) and refuses longer', async () => {
      const iat = now();
      await expect(verifier().verify(await raw({ iat, exp: iat + 24 * 3600 }))).resolves.toMatchObject({
        user_id: 'u',
      });
      expect(await reason(verifier().verify(await raw({ iat, exp: iat + 24 * 3600 + 1 })))).toBe(
        'token lifetime (exp - iat) of 86401 s exceeds the maximum of 86400 s',
      );
      const short = verifier({ AUTH_JWT_MAX_LIFETIME: '1h' });
      await expect(short.verify(await raw({ iat, exp: iat + 1800 }))).resolves.toMatchObject({ user_id: 'u' });
      expect(await reason(short.verify(await raw({ iat, exp: iat + 7200 })))).toContain(
        'exceeds the maximum of 3600 s',
      );
    });

    it('counts from now when iat is absent or in the future', async () => {
      await expect(verifier().verify(await raw({ exp: now() + 600 }))).resolves.toMatchObject({ user_id: 'u' });
      expect(await reason(verifier().verify(await raw({ exp: now() + 365 * 86400 })))).toContain('exceeds the maximum');
      const future = now() + 10 * 365 * 86400;
      expect(await reason(verifier().verify(await raw({ iat: future, exp: future + 60 })))).toContain(
        'exceeds the maximum',
      );
    });

    it('does not judge the lifetime of a token whose signature is bad', async () => {
      const forged = await new SignJWT({ sub: 'u', org: 'o' })
        .setProtectedHeader({ alg: 'HS256' })
        .sign(new TextEncoder().encode('x'.repeat(40)));
      expect(await reason(verifier().verify(forged))).toBe('token signature is invalid');
    });
  });

  it('rejects a token signed with another secret', async () => {
    const token = await sign({ sub: 'u', org: 'o' }, { secret: 'another-secret-that-is-also-32-bytes-long' });
    expect(await reason(verifier().verify(token))).toBe('token signature is invalid');
  });

  it('rejects a token with an algorithm other than HS256', async () => {
    const token = await sign({ sub: 'u', org: 'o' }, { alg: 'HS512', secret: SECRET + SECRET });
    expect(await reason(verifier().verify(token))).toBe('token algorithm is not allowed');
  });

  it('checks issuer and audience when configured', async () => {
    const v = verifier({ AUTH_JWT_ISSUER: 'https://idp.example.com', AUTH_JWT_AUDIENCE: 'herald' });
    const good = await sign({ sub: 'u', org: 'o' }, { iss: 'https://idp.example.com', aud: 'herald' });
    await expect(v.verify(good)).resolves.toMatchObject({ user_id: 'u' });
    expect(
      await reason(v.verify(await sign({ sub: 'u', org: 'o' }, { iss: 'https://evil.example.com', aud: 'herald' }))),
    ).toBe('token claim "iss" is invalid');
    expect(
      await reason(v.verify(await sign({ sub: 'u', org: 'o' }, { iss: 'https://idp.example.com', aud: 'other' }))),
    ).toBe('token claim "aud" is invalid');
  });

  it.each([
    [{ sub: 'u' }, 'token is missing the "org" claim'],
    [{ org: 'o' }, 'user token is missing the "sub" claim'],
    [{ sub: 'u', org: '*' }, 'token claim "org" may not be "*"'],
    [{ org: '*', token_type: 'app', scope: 'admin' }, 'token claim "org" may not be "*"'],
    [{ sub: 'u', org: 'o', token_type: 'robot' }, 'token claim "token_type" must be user or app'],
    [{ sub: 'u', org: 'o', workspaces: [1, 2] }, 'token claim "workspaces" must be a list of strings'],
    [{ sub: 'u', org: 'o', scope: 42 }, 'token claim "scope" must be a space-separated string'],
  ])('rejects claims %j', async (claims, message) => {
    expect(await reason(verifier().verify(await sign(claims)))).toBe(message);
  });

  it('refuses JWTs when no verification is configured', async () => {
    const v = new JwtVerifier(loadConfig({}));
    expect(v.enabled).toBe(false);
    expect(await reason(v.verify(await sign({ sub: 'u', org: 'o' })))).toContain('not accepted');
  });
});
