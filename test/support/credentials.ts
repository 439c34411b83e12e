import { SignJWT } from 'jose';
import request from 'supertest';
import { TEST_JWT_SECRET, TestApp } from './test-app';

export interface KeySpec {
  kind?: 'user' | 'app';
  org?: string;
  user?: string;
  scopes?: string[];
  workspaces?: string[];
}

/** Mints a real API key through the API with the operator key; returns the token. */
export async function mintKey(t: TestApp, spec: KeySpec = {}): Promise<string> {
  const kind = spec.kind ?? (spec.user ? 'user' : 'app');
  const res = await request(t.url)
    .post('/api/v1/api-keys')
    .set('X-Api-Key', t.operatorToken)
    .send({
      kind,
      organisation_id: spec.org ?? 'org_001',
      ...(kind === 'user' ? { user_id: spec.user ?? 'usr_001' } : {}),
      scopes: spec.scopes ?? [],
      workspace_ids: spec.workspaces ?? [],
    });
  if (res.status !== 201) throw new Error(`mintKey failed: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.token as string;
}

export interface JwtSpec {
  sub?: string;
  org?: string;
  scope?: string;
  workspaces?: string[];
  token_type?: 'user' | 'app';
  [claim: string]: unknown;
}

/** Signs an HS256 JWT with the secret test apps are configured with (or another one). */
export async function signJwt(
  claims: JwtSpec,
  opts: { secret?: string; expiresIn?: string | number; issuer?: string; audience?: string } = {},
): Promise<string> {
  let jwt = new SignJWT({ ...claims }).setProtectedHeader({ alg: 'HS256' }).setIssuedAt();
  if (claims.sub) jwt = jwt.setSubject(claims.sub);
  if (opts.issuer) jwt = jwt.setIssuer(opts.issuer);
  if (opts.audience) jwt = jwt.setAudience(opts.audience);
  jwt = jwt.setExpirationTime(opts.expiresIn ?? '10m');
  return jwt.sign(new TextEncoder().encode(opts.secret ?? TEST_JWT_SECRET));
}
