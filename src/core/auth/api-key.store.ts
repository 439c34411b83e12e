import { Injectable } from '@nestjs/common';
import { IsNull } from 'typeorm';
import { Database, type Tx } from '../database/database.service';
import { ApiKeyEntity } from './api-key.entity';

/** Data access for API keys. Keys are looked up by token hash or id; the service applies tenancy. */
@Injectable()
export class ApiKeyStore {
  constructor(private readonly db: Database) {}

  /** The unrevoked key with this token hash (expiry is the caller's to judge). */
  findActiveByTokenHash(tokenHash: string): Promise<ApiKeyEntity | null> {
    return this.db.read((m) => m.findOne(ApiKeyEntity, { where: { token_hash: tokenHash, revoked_at: IsNull() } }));
  }

  /** Of these ids, those that still authenticate: not revoked, not expired at `now`. */
  async usableIds(ids: string[], now: string): Promise<Set<string>> {
    const rows = await this.db.read((m) =>
      m
        .createQueryBuilder(ApiKeyEntity, 'k')
        .select('k.id', 'id')
        .where('k.id IN (:...ids)', { ids })
        .andWhere('k.revoked_at IS NULL')
        .andWhere('(k.expires_at IS NULL OR k.expires_at > :now)', { now })
        .getRawMany<{ id: string }>(),
    );
    return new Set(rows.map((k) => k.id));
  }

  async insert(m: Tx, key: ApiKeyEntity): Promise<void> {
    await m.insert(ApiKeyEntity, key);
  }

  /** Newest first, at most `limit`; every organisation when `organisationId` is undefined (operator only). */
  list(organisationId: string | undefined, limit: number): Promise<ApiKeyEntity[]> {
    return this.db.read((m) =>
      m.find(ApiKeyEntity, {
        where: organisationId ? { organisation_id: organisationId } : {},
        order: { created_at: 'DESC', id: 'DESC' },
        take: limit,
      }),
    );
  }

  find(m: Tx, id: string): Promise<ApiKeyEntity | null> {
    return m.findOne(ApiKeyEntity, { where: { id } });
  }

  findByTokenHash(m: Tx, tokenHash: string): Promise<ApiKeyEntity | null> {
    return m.findOne(ApiKeyEntity, { where: { token_hash: tokenHash } });
  }

  async markRevoked(m: Tx, id: string, at: string): Promise<void> {
    await m.update(ApiKeyEntity, { id }, { revoked_at: at });
  }

  async isEmpty(m: Tx): Promise<boolean> {
    return (await m.count(ApiKeyEntity)) === 0;
  }
}
