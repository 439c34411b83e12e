import { Inject, Injectable, Logger } from '@nestjs/common';
import type { EntityManager, SelectQueryBuilder } from 'typeorm';
import { APP_CONFIG, type AppConfig } from '../config';
import { Database } from '../database/database.service';
import type { EndpointHealth } from './endpoint-health';
import { SecretBox, SecretUnreadableError } from './secret-box';
import { WebhookEndpointEntity } from './webhook-endpoint.entity';
import type { EndpointState, SaveEndpoint, WebhookEndpoint } from './webhook.types';

type Row = Record<string, unknown>;

const COLUMNS = [
  'id',
  'kind',
  'organisation_id',
  'workspace_id',
  'url',
  'secret',
  'previous_secret',
  'previous_secret_until',
  'headers',
  'rate_limit_per_minute',
  'owner_user_id',
  'state',
  'issue',
  'created_at',
  'updated_at',
] as const;

/** What re-sealing one batch did (see `resealBatchAcrossTenants`). */
export interface ResealBatch {
  resealed: number;
  /** Ids of endpoints whose secrets no key of the ring opens. */
  unreadable: string[];
  /** The last id looked at; the next batch starts after it. Undefined when nothing was left. */
  last?: string;
}

function fromRow(row: Row, secrets: { secret: string; previous_secret: string | null }): WebhookEndpoint {
  return {
    id: row.id as string,
    kind: row.kind as string,
    organisation_id: row.organisation_id as string,
    workspace_id: (row.workspace_id as string | null) ?? null,
    url: row.url as string,
    secret: secrets.secret,
    previous_secret: secrets.previous_secret,
    previous_secret_until: secrets.previous_secret ? ((row.previous_secret_until as string | null) ?? null) : null,
    headers: JSON.parse(row.headers as string) as Record<string, string>,
    rate_limit_per_minute: row.rate_limit_per_minute === null ? null : Number(row.rate_limit_per_minute),
    owner_user_id: (row.owner_user_id as string | null) ?? null,
    state: row.state as EndpointState,
    issue: (row.issue as string | null) ?? null,
    created_at: row.created_at as string,
    updated_at: row.updated_at as string,
  };
}

/**
 * Data access for webhook endpoints. Endpoints are addressed by their subscription's id, which
 * the owning module has already resolved within the caller's tenant; reads and writes for a
 * tenant also name its organisation.
 *
 * The only place signing secrets are sealed and opened (HERALD_ENCRYPTION_KEY, secret-box.ts):
 * every write seals, every read opens, so the rest of Herald sees plain secrets only.
 */
@Injectable()
export class EndpointStore {
  private readonly logger = new Logger('Webhooks');
  private readonly box: SecretBox;
  /** Endpoints whose unreadable secret was already logged, so a poll loop does not repeat it. */
  private readonly reportedUnreadable = new Set<string>();

  constructor(
    private readonly db: Database,
    @Inject(APP_CONFIG) config: AppConfig,
  ) {
    this.box = new SecretBox(config.secrets.encryptionKeys);
  }

  /** Whether secrets are sealed at rest (a key is set). */
  get sealing(): boolean {
    return this.box.sealing;
  }

  /** The id of the key new secrets are sealed with. */
  get sealingKeyId(): string | undefined {
    return this.box.currentKeyId;
  }

  /**
   * A row with its secrets opened. A secret no key opens (its key was dropped from the ring too
   * soon, a node started without the key, or the row was altered) must not stop deliveries to
   * every other endpoint read with it, nor lose this endpoint's: it reads with an empty secret
   * and `secret_unreadable`, so the worker keeps its deliveries owed and sends nothing, and the
   * owning module's view shows why.
   */
  private endpointOf(row: Row): WebhookEndpoint {
    const id = row.id as string;
    try {
      const secret = this.box.open(row.secret as string, id);
      let previous: string | null = null;
      try {
        if (row.previous_secret) previous = this.box.open(row.previous_secret as string, id);
      } catch (err) {
        if (!(err instanceof SecretUnreadableError)) throw err;
        this.reportUnreadable(id, 'previous_secret', err);
      }
      return fromRow(row, { secret, previous_secret: previous });
    } catch (err) {
      if (!(err instanceof SecretUnreadableError)) throw err;
      this.reportUnreadable(id, 'secret', err);
      return { ...fromRow(row, { secret: '', previous_secret: null }), secret_unreadable: true };
    }
  }

  private reportUnreadable(id: string, column: string, err: Error): void {
    if (this.reportedUnreadable.has(`${id}:${column}`)) return;
    this.reportedUnreadable.add(`${id}:${column}`);
    this.logger.error({ endpoint: id, column, reason: err.message }, 'a webhook signing secret could not be opened');
  }

  /** An endpoint's public columns, read as raw rows (no entity hydration). */
  private select(m: EntityManager): SelectQueryBuilder<WebhookEndpointEntity> {
    const qb = m.createQueryBuilder(WebhookEndpointEntity, 'e');
    COLUMNS.forEach((c, i) => (i ? qb.addSelect(`e.${c}`, c) : qb.select(`e.${c}`, c)));
    return qb;
  }

  get(organisationId: string, id: string): Promise<WebhookEndpoint | undefined> {
    return this.db.read((m) => this.findInOrganisation(m, organisationId, id));
  }

  async findInOrganisation(m: EntityManager, organisationId: string, id: string): Promise<WebhookEndpoint | undefined> {
    const row = await this.select(m)
      .where('e.organisation_id = :organisationId', { organisationId })
      .andWhere('e.id = :id', { id })
      .getRawOne<Row>();
    return row && this.endpointOf(row);
  }

  /** As `findInOrganisation`, holding the row (on Postgres) until the transaction ends, for a read-then-write. */
  async lockInOrganisation(m: EntityManager, organisationId: string, id: string): Promise<WebhookEndpoint | undefined> {
    const qb = this.select(m)
      .where('e.organisation_id = :organisationId', { organisationId })
      .andWhere('e.id = :id', { id });
    // SQLite serialises transactions already (Database.transaction).
    if (this.db.isPostgres) qb.setLock('pessimistic_write');
    const row = await qb.getRawOne<Row>();
    return row && this.endpointOf(row);
  }

  /**
   * Cluster-wide by id: the dispatcher (which checks each endpoint's organisation against the
   * event's) and the worker (for rows it leased) look endpoints up for every tenant at once.
   */
  async findAcrossTenants(m: EntityManager, ids: string[]): Promise<Map<string, WebhookEndpoint>> {
    const found = new Map<string, WebhookEndpoint>();
    if (!ids.length) return found;
    const rows = await this.select(m)
      .where('e.id IN (:...ids)', { ids: [...new Set(ids)] })
      .getRawMany<Row>();
    for (const row of rows) found.set(row.id as string, this.endpointOf(row));
    return found;
  }

  async insert(m: EntityManager, e: SaveEndpoint & { state: EndpointState }, now: string): Promise<void> {
    await m
      .createQueryBuilder()
      .insert()
      .into(WebhookEndpointEntity)
      .values({
        id: e.id,
        kind: e.kind,
        organisation_id: e.organisation_id,
        workspace_id: e.workspace_id ?? null,
        url: e.url,
        secret: this.box.seal(e.secret, e.id),
        previous_secret: null,
        previous_secret_until: null,
        headers: JSON.stringify(e.headers ?? {}),
        rate_limit_per_minute: e.rate_limit_per_minute ?? null,
        owner_user_id: e.owner_user_id ?? null,
        state: e.state,
        issue: e.issue ?? null,
        failed_attempts: 0,
        failed_deliveries: 0,
        created_at: now,
        updated_at: now,
      })
      .updateEntity(false)
      .execute();
  }

  /** Everything but the secrets, which only `setSecrets` changes (see SaveEndpoint). */
  async update(m: EntityManager, e: SaveEndpoint, now: string): Promise<void> {
    await m.update(
      WebhookEndpointEntity,
      { organisation_id: e.organisation_id, id: e.id },
      {
        kind: e.kind,
        workspace_id: e.workspace_id ?? null,
        url: e.url,
        headers: JSON.stringify(e.headers ?? {}),
        rate_limit_per_minute: e.rate_limit_per_minute ?? null,
        owner_user_id: e.owner_user_id ?? null,
        updated_at: now,
      },
    );
  }

  /** A rotation: the new secret, and the one it replaced with the time it stops signing (or none). */
  async setSecrets(
    m: EntityManager,
    organisationId: string,
    id: string,
    secret: string,
    previous: { secret: string; until: string } | null,
    now: string,
  ): Promise<void> {
    await m.update(
      WebhookEndpointEntity,
      { organisation_id: organisationId, id },
      {
        secret: this.box.seal(secret, id),
        previous_secret: previous && this.box.seal(previous.secret, id),
        previous_secret_until: previous?.until ?? null,
        updated_at: now,
      },
    );
  }

  /**
   * Seals again, with the first key of the ring, the secrets of up to `limit` endpoints after
   * `afterId` (in id order) that are plain or sealed with another key, in one transaction; a
   * previous secret whose overlap has passed is dropped on the way. Every tenant at once: it runs
   * at start-up. A row a rotation changed meanwhile is left as the rotation wrote it.
   */
  async resealBatchAcrossTenants(afterId: string, limit: number, now: string): Promise<ResealBatch> {
    const prefix = `enc:v1:${this.box.currentKeyId}:`;
    return this.db.transaction(async (m) => {
      const rows = await m
        .createQueryBuilder(WebhookEndpointEntity, 'e')
        .select('e.id', 'id')
        .addSelect('e.secret', 'secret')
        .addSelect('e.previous_secret', 'previous_secret')
        .addSelect('e.previous_secret_until', 'previous_secret_until')
        .where('e.id > :afterId', { afterId })
        .andWhere(
          `(SUBSTR(e.secret, 1, ${prefix.length}) <> :prefix OR SUBSTR(e.previous_secret, 1, ${prefix.length}) <> :prefix)`,
          { prefix },
        )
        .orderBy('e.id')
        .limit(limit)
        .getRawMany<Row>();
      const batch: ResealBatch = { resealed: 0, unreadable: [], last: rows.at(-1)?.id as string | undefined };
      for (const row of rows) {
        const id = row.id as string;
        const stored = { secret: row.secret as string, previous: (row.previous_secret as string | null) ?? null };
        const until = (row.previous_secret_until as string | null) ?? null;
        let secret: string;
        let previous: string | null = null;
        try {
          secret = this.box.open(stored.secret, id);
          if (stored.previous && until && until > now) previous = this.box.open(stored.previous, id);
        } catch (err) {
          if (!(err instanceof SecretUnreadableError)) throw err;
          batch.unreadable.push(id);
          continue;
        }
        const write = m
          .createQueryBuilder()
          .update(WebhookEndpointEntity)
          .set({
            secret: this.box.seal(secret, id),
            previous_secret: previous && this.box.seal(previous, id),
            previous_secret_until: previous ? until : null,
          })
          .where('id = :id AND secret = :secret', { id, secret: stored.secret });
        if (stored.previous === null) write.andWhere('previous_secret IS NULL');
        else write.andWhere('previous_secret = :previous', { previous: stored.previous });
        const result = await write.execute();
        if (result.affected !== 0) batch.resealed++;
      }
      return batch;
    });
  }

  /** How many endpoints hold a sealed secret, across every tenant (start-up checks it when no key is set). */
  async countSealedAcrossTenants(): Promise<number> {
    return this.db.read((m) =>
      m
        .createQueryBuilder(WebhookEndpointEntity, 'e')
        .where("SUBSTR(e.secret, 1, 7) = 'enc:v1:'")
        .orWhere("SUBSTR(e.previous_secret, 1, 7) = 'enc:v1:'")
        .getCount(),
    );
  }

  /** Turning an endpoint on clears its failure streak and issue: it starts with a clean slate. */
  async setState(
    m: EntityManager,
    organisationId: string,
    id: string,
    state: EndpointState,
    issue: string | null,
    now: string,
  ): Promise<void> {
    const reset = { failing_since: null, failed_attempts: 0, failed_deliveries: 0, last_error: null };
    await m.update(
      WebhookEndpointEntity,
      { organisation_id: organisationId, id },
      { state, issue: state === 'on' ? null : issue, updated_at: now, ...(state === 'on' ? reset : {}) },
    );
  }

  async delete(m: EntityManager, organisationId: string, id: string): Promise<void> {
    await m.delete(WebhookEndpointEntity, { organisation_id: organisationId, id });
  }

  /** Ends a failure streak. Writes only when there is one, so the usual success costs no row lock. */
  /** Ends the failure streak of each endpoint that had one: a batch of delivered webhooks, one statement. */
  async recordSuccesses(m: EntityManager, endpoints: { organisation_id: string; id: string }[]): Promise<void> {
    const unique = [...new Map(endpoints.map((e) => [`${e.organisation_id}\u0000${e.id}`, e])).values()];
    if (!unique.length) return;
    const params = unique.flatMap((e) => [e.organisation_id, e.id]);
    const which = unique.map((_, i) => `(organisation_id = $${2 * i + 1} AND id = $${2 * i + 2})`).join(' OR ');
    // Raw SQL: once per batch of delivered webhooks; a fixed text per batch size keeps SQLite's
    // prepared statements cached (the builder measurably slowed the webhook bench).
    await this.db.query(
      m,
      `UPDATE webhook_endpoints SET failing_since = NULL, failed_attempts = 0, failed_deliveries = 0, last_error = NULL
       WHERE (${which}) AND (failing_since IS NOT NULL OR failed_deliveries <> 0)`,
      params,
    );
  }

  /** Adds a failed attempt (and, when the delivery gave up, a failed delivery) to the streak; returns the streak. */
  async recordFailure(
    m: EntityManager,
    organisationId: string,
    id: string,
    failure: { at: string; error: string; deliveryFailed: boolean },
  ): Promise<EndpointHealth | undefined> {
    await m
      .createQueryBuilder()
      .update(WebhookEndpointEntity)
      .set({
        failing_since: () => 'COALESCE(failing_since, :at)',
        failed_attempts: () => 'failed_attempts + 1',
        failed_deliveries: () => `failed_deliveries + ${failure.deliveryFailed ? 1 : 0}`,
        last_error: failure.error,
      })
      .where('organisation_id = :organisationId AND id = :id', { organisationId, id })
      .setParameter('at', failure.at)
      .execute();
    const row = await m
      .createQueryBuilder(WebhookEndpointEntity, 'e')
      .select('e.failing_since', 'failing_since')
      .addSelect('e.failed_attempts', 'failed_attempts')
      .addSelect('e.failed_deliveries', 'failed_deliveries')
      .addSelect('e.last_error', 'last_error')
      .addSelect('e.state', 'state')
      .where('e.organisation_id = :organisationId AND e.id = :id', { organisationId, id })
      .getRawOne<Row>();
    if (!row || row.state !== 'on') return undefined;
    return {
      failing_since: (row.failing_since as string | null) ?? null,
      failed_attempts: Number(row.failed_attempts),
      failed_deliveries: Number(row.failed_deliveries),
      last_error: (row.last_error as string | null) ?? null,
    };
  }
}
