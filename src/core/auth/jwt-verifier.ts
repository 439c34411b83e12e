import { Inject, Injectable } from '@nestjs/common';
import { createRemoteJWKSet, errors as joseErrors, JWTPayload, jwtVerify, JWTVerifyGetKey } from 'jose';
import { APP_CONFIG, type AppConfig } from '../config';
import { OPERATOR_ORGANISATION } from './api-keys.service';
import { Principal } from './principal';

export class InvalidTokenError extends Error {}

/**
 * Verifies bearer JWTs from the customer's identity provider (HS256 with AUTH_JWT_SECRET, or
 * keys from AUTH_JWKS_URL) and maps their claims to a Principal.
 */
@Injectable()
export class JwtVerifier {
  private readonly secret?: Uint8Array;
  private readonly jwks?: JWTVerifyGetKey;

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {
    const { jwtSecret, jwksUrl } = config.auth;
    if (jwtSecret) this.secret = new TextEncoder().encode(jwtSecret);
    if (jwksUrl) this.jwks = createRemoteJWKSet(new URL(jwksUrl));
  }

  get enabled(): boolean {
    return Boolean(this.secret || this.jwks);
  }

  async verify(token: string): Promise<Principal> {
    if (!this.enabled)
      throw new InvalidTokenError('JWT bearer tokens are not accepted: no JWT verification is configured');
    const options = {
      issuer: this.config.auth.jwtIssuer,
      audience: this.config.auth.jwtAudience,
    };
    let payload: JWTPayload;
    try {
      payload = this.secret
        ? (await jwtVerify(token, this.secret, { ...options, algorithms: ['HS256'] })).payload
        : (await jwtVerify(token, this.jwks!, options)).payload;
    } catch (err) {
      throw new InvalidTokenError(describeJoseError(err));
    }
    checkLifetime(payload, this.config.auth.jwtMaxLifetimeMs);
    return principalFromClaims(payload);
  }
}

/**
 * A bearer token outlives any revocation Herald could do, so it must expire, and soon: `exp` is
 * required and at most `maxLifetimeMs` (AUTH_JWT_MAX_LIFETIME) after `iat`. Without `iat`, or
 * with one in the future, the lifetime is counted from now, so a far-future `iat` buys nothing.
 */
export function checkLifetime(claims: JWTPayload, maxLifetimeMs: number, nowMs = Date.now()): void {
  if (claims.exp === undefined)
    throw new InvalidTokenError('token is missing the "exp" claim; Herald accepts only expiring tokens');
  const now = Math.floor(nowMs / 1000);
  const issuedAt = typeof claims.iat === 'number' ? Math.min(claims.iat, now) : now;
  const lifetime = claims.exp - issuedAt;
  const max = Math.floor(maxLifetimeMs / 1000);
  if (lifetime > max) {
    throw new InvalidTokenError(`token lifetime (exp - iat) of ${lifetime} s exceeds the maximum of ${max} s`);
  }
}

function describeJoseError(err: unknown): string {
  if (err instanceof joseErrors.JWTExpired) return 'token has expired';
  if (err instanceof joseErrors.JWTClaimValidationFailed) return `token claim "${err.claim}" is invalid`;
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return 'token signature is invalid';
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return 'token algorithm is not allowed';
  return 'token could not be verified';
}

function stringList(value: unknown): string[] | undefined {
  if (value === undefined || value === null) return [];
  if (typeof value === 'string') return value.split(/\s+/).filter(Boolean);
  if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return value as string[];
  return undefined;
}

export function principalFromClaims(claims: JWTPayload): Principal {
  const org = claims.org;
  if (typeof org !== 'string' || !org) throw new InvalidTokenError('token is missing the "org" claim');
  // The operator key's organisation is not a tenant an identity provider can name.
  if (org === OPERATOR_ORGANISATION)
    throw new InvalidTokenError(`token claim "org" may not be "${OPERATOR_ORGANISATION}"`);
  const tokenType = claims.token_type ?? 'user';
  if (tokenType !== 'user' && tokenType !== 'app')
    throw new InvalidTokenError('token claim "token_type" must be user or app');
  if (tokenType === 'user' && (typeof claims.sub !== 'string' || !claims.sub)) {
    throw new InvalidTokenError('user token is missing the "sub" claim');
  }
  const workspaces = stringList(claims.workspaces);
  if (!workspaces) throw new InvalidTokenError('token claim "workspaces" must be a list of strings');
  const scopes = stringList(claims.scope);
  if (!scopes) throw new InvalidTokenError('token claim "scope" must be a space-separated string');
  return {
    kind: tokenType,
    user_id: tokenType === 'user' ? (claims.sub as string) : undefined,
    organisation_id: org,
    workspace_ids: workspaces,
    scopes,
    operator: false,
    credential: 'jwt',
  };
}
