import {
  BadRequestException,
  ForbiddenException,
  Injectable,
  NotFoundException,
  OnApplicationBootstrap,
} from '@nestjs/common';
import { EventBus } from '../bus/event-bus';
import { Database, type Tx } from '../database/database.service';
import { newId } from '../http/ids';
import { isoNow } from '../http/time';
import { generateApiKeyToken, hashApiKeyToken, tokenHint } from './api-key-tokens';
import { API_KEY_REVOKED_TOPIC, onApiKeyRevoked, type ApiKeyRevoked } from './key-revocations';
import type { ApiKeyEntity } from './api-key.entity';
import { ApiKeyStore } from './api-key.store';
import { ApiKeyDto, CreateApiKeyDto, CreatedApiKeyDto, RevokedApiKeyDto } from './dto/api-key.dto';
import { hasExpired, parseDateTime } from './key-expiry';
import { Principal } from './principal';

export class ApiKeyNotFoundException extends NotFoundException {
  constructor(id: string) {
    super(`API key ${id} not found`);
  }
}

/** Organisation id the operator key carries; no tenant data is ever stored under it. */
export const OPERATOR_ORGANISATION = '*';

function toDto(key: ApiKeyEntity): ApiKeyDto {
  return {
    key_id: key.id,
    name: key.name,
    kind: key.kind,
    user_id: key.user_id,
    organisation_id: key.organisation_id,
    workspace_ids: key.workspace_ids,
    scopes: key.scopes,
    operator: key.operator,
    token_hint: key.token_hint,
    created_at: key.created_at,
    created_by: key.created_by,
    expires_at: key.expires_at,
    revoked_at: key.revoked_at,
  };
}

/** What `created_by` records for keys made outside the API: the bootstrap operator key, the command line. */
export const CREATED_BY_OPERATOR = 'operator';
/** The `created_by` column is 128 characters wide; a JWT `sub` is not bounded. */
const CREATED_BY_MAX = 128;

/** Who is creating a key, for `created_by`: the calling key's id, or `jwt:<sub>` / `jwt:<org>` for a user / app JWT. */
export function creatorOf(caller: Principal): string {
  if (caller.credential === 'api_key' && caller.key_id) return caller.key_id;
  return `jwt:${caller.user_id ?? caller.organisation_id}`.slice(0, CREATED_BY_MAX);
}

export function principalFromKey(key: ApiKeyEntity): Principal {
  return {
    kind: key.kind,
    user_id: key.user_id ?? undefined,
    organisation_id: key.organisation_id,
    workspace_ids: key.workspace_ids,
    scopes: key.scopes,
    operator: key.operator,
    credential: 'api_key',
    key_id: key.id,
  };
}

export type KeyLookup = { status: 'valid'; principal: Principal } | { status: 'expired' } | { status: 'unknown' };

export interface NewKey {
  kind: 'user' | 'app';
  user_id?: string;
  organisation_id: string;
  workspace_ids?: string[];
  scopes: string[];
  name?: string;
  operator?: boolean;
  /** Defaults to `operator`: a key not created through the API was made by whoever runs the install. */
  created_by?: string;
  /** ISO-8601 UTC; absent: the key does not expire. */
  expires_at?: string;
  /** A token chosen by the installer (HERALD_BOOTSTRAP_KEY); otherwise one is generated. */
  token?: string;
}

/** How long a resolved key is trusted without asking the database again. */
const PRINCIPAL_CACHE_MS = 10_000;
const PRINCIPAL_CACHE_MAX = 10_000;

@Injectable()
export class ApiKeysService implements OnApplicationBootstrap {
  /**
   * Every request presents a credential; resolving it from the database each time would cost a
   * query per request. Valid keys are remembered briefly; a revocation evicts at once on this
   * node and, through the bus, on the others (at worst a lost message leaves a revoked key
   * usable elsewhere for PRINCIPAL_CACHE_MS). Unknown tokens are never cached.
   */
  private readonly cache = new Map<string, { principal: Principal; until: number; expiresAt: string | null }>();

  constructor(
    private readonly db: Database,
    private readonly store: ApiKeyStore,
    private readonly bus?: EventBus,
  ) {}

  onApplicationBootstrap(): void {
    if (this.bus) onApiKeyRevoked(this.bus, ({ token_hash }) => this.cache.delete(token_hash));
  }

  /** Resolves a presented token; revoked and unknown tokens give undefined, and so do expired ones. */
  async principalForToken(token: string): Promise<Principal | undefined> {
    const found = await this.lookup(token);
    return found.status === 'valid' ? found.principal : undefined;
  }

  /** Resolves a presented token, telling an expired key from an unknown or revoked one. */
  async lookup(token: string): Promise<KeyLookup> {
    const hash = hashApiKeyToken(token);
    const cached = this.cache.get(hash);
    // The expiry is checked on every use, cached or not: a key must not outlive it by PRINCIPAL_CACHE_MS.
    if (cached && cached.until > Date.now()) {
      if (!hasExpired(cached.expiresAt)) return { status: 'valid', principal: cached.principal };
      this.cache.delete(hash);
      return { status: 'expired' };
    }
    const key = await this.store.findActiveByTokenHash(hash);
    if (!key || hasExpired(key.expires_at)) {
      this.cache.delete(hash);
      return { status: key ? 'expired' : 'unknown' };
    }
    const principal = principalFromKey(key);
    if (this.cache.size >= PRINCIPAL_CACHE_MAX) this.cache.clear();
    this.cache.set(hash, { principal, until: Date.now() + PRINCIPAL_CACHE_MS, expiresAt: key.expires_at });
    return { status: 'valid', principal };
  }

  /** Of these key ids, the ones that no longer authenticate: revoked, expired, or gone. */
  async unusableKeyIds(ids: string[]): Promise<Set<string>> {
    const unique = [...new Set(ids)];
    if (!unique.length) return new Set();
    const alive = await this.store.usableIds(unique, isoNow());
    return new Set(unique.filter((id) => !alive.has(id)));
  }

  async create(caller: Principal, dto: CreateApiKeyDto): Promise<CreatedApiKeyDto> {
    const organisationId = dto.organisation_id ?? (caller.operator ? undefined : caller.organisation_id);
    if (!organisationId)
      throw new ForbiddenException('organisation_id is required when the operator key creates a key');
    if (!caller.operator && organisationId !== caller.organisation_id) {
      throw new ForbiddenException('An admin key may only create keys for its own organisation');
    }
    return this.db.transaction((m) =>
      this.insert(m, {
        kind: dto.kind,
        user_id: dto.kind === 'user' ? dto.user_id : undefined,
        organisation_id: organisationId,
        workspace_ids: dto.workspace_ids,
        scopes: dto.scopes,
        name: dto.name,
        created_by: creatorOf(caller),
        expires_at: normaliseExpiry(dto.expires_at),
      }),
    );
  }

  async insert(m: Tx, key: NewKey): Promise<CreatedApiKeyDto> {
    const token = key.token ?? generateApiKeyToken();
    const entity: ApiKeyEntity = {
      id: newId('key'),
      token_hash: hashApiKeyToken(token),
      token_hint: tokenHint(token),
      name: key.name ?? null,
      kind: key.kind,
      user_id: key.user_id ?? null,
      organisation_id: key.organisation_id,
      workspace_ids: key.workspace_ids ?? [],
      scopes: key.scopes,
      operator: key.operator ?? false,
      created_by: key.created_by ?? CREATED_BY_OPERATOR,
      created_at: isoNow(),
      expires_at: key.expires_at ?? null,
      revoked_at: null,
    };
    await this.store.insert(m, entity);
    return { ...toDto(entity), token };
  }

  async list(caller: Principal, organisationId?: string): Promise<ApiKeyDto[]> {
    const org = caller.operator ? organisationId : caller.organisation_id;
    const keys = await this.store.list(org, 1000);
    return keys.map(toDto);
  }

  async revoke(caller: Principal, id: string): Promise<RevokedApiKeyDto> {
    const { revokedAt, tokenHash } = await this.db.transaction(async (m) => {
      const key = await this.store.find(m, id);
      if (!key || (!caller.operator && key.organisation_id !== caller.organisation_id))
        throw new ApiKeyNotFoundException(id);
      if (!key.revoked_at) {
        key.revoked_at = isoNow();
        await this.store.markRevoked(m, id, key.revoked_at);
      }
      return { revokedAt: key.revoked_at, tokenHash: key.token_hash };
    });
    // After commit, so no node can re-read the key as valid once it has evicted it.
    this.cache.delete(tokenHash);
    this.bus?.publish(API_KEY_REVOKED_TOPIC, { token_hash: tokenHash, key_id: id } satisfies ApiKeyRevoked);
    return { key_id: id, revoked: true, revoked_at: revokedAt };
  }

  /**
   * First start: with HERALD_BOOTSTRAP_KEY, make sure that token exists as an operator key;
   * otherwise, on an empty key table, mint one operator key. Returns a freshly minted token
   * so the caller can print it once.
   */
  async ensureOperatorKey(bootstrapToken?: string): Promise<string | undefined> {
    return this.db.transaction(async (m) => {
      if (bootstrapToken) {
        const existing = await this.store.findByTokenHash(m, hashApiKeyToken(bootstrapToken));
        if (!existing) await this.insert(m, operatorKey(bootstrapToken));
        return undefined;
      }
      if (!(await this.store.isEmpty(m))) return undefined;
      return (await this.insert(m, operatorKey())).token;
    });
  }
}

/** Stored like every time column: ISO-8601 UTC with milliseconds, so it compares as text too. */
function normaliseExpiry(expiresAt: string | null | undefined): string | undefined {
  if (expiresAt === undefined || expiresAt === null) return undefined;
  const ms = parseDateTime(expiresAt);
  // The DTO has already checked it; a value that slipped past is refused, not stored as garbage.
  if (ms === undefined) throw new BadRequestException('expires_at must be an RFC 3339 date-time');
  return new Date(ms).toISOString();
}

function operatorKey(token?: string): NewKey {
  return {
    kind: 'app',
    organisation_id: OPERATOR_ORGANISATION,
    scopes: ['admin'],
    operator: true,
    name: 'operator',
    token,
  };
}
