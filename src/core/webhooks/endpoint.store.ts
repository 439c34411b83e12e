import { Injectable } from '@nestjs/common';
import type { EntityManager, SelectQueryBuilder } from 'typeorm';
import { Database } from '../database/database.service';
import type { EndpointHealth } from './endpoint-health';
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
  'headers',
  'rate_limit_per_minute',
  'state',
  'issue',
  'created_at',
  'updated_at',
] as const;

function fromRow(row: Row): WebhookEndpoint {
  return {
    id: row.id as string,
    kind: row.kind as string,
    organisation_id: row.organisation_id as string,
    workspace_id: (row.workspace_id as string | null) ?? null,
    url: row.url as string,
    secret: row.secret as string,
    headers: JSON.parse(row.headers as string) as Record<string, string>,
    rate_limit_per_minute: row.rate_limit_per_minute === null ? null : Number(row.rate_limit_per_minute),
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
 */
@Injectable()
export class EndpointStore {
  constructor(private readonly db: Database) {}

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
    return row && fromRow(row);
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
    for (const row of rows) found.set(row.id as string, fromRow(row));
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
        secret: e.secret,
        headers: JSON.stringify(e.headers ?? {}),
        rate_limit_per_minute: e.rate_limit_per_minute ?? null,
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

  async update(m: EntityManager, e: SaveEndpoint, now: string): Promise<void> {
    await m.update(
      WebhookEndpointEntity,
      { organisation_id: e.organisation_id, id: e.id },
      {
        kind: e.kind,
        workspace_id: e.workspace_id ?? null,
        url: e.url,
        secret: e.secret,
        headers: JSON.stringify(e.headers ?? {}),
        rate_limit_per_minute: e.rate_limit_per_minute ?? null,
        updated_at: now,
      },
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
  async recordSuccess(m: EntityManager, organisationId: string, id: string): Promise<void> {
    // Raw SQL: once per delivered webhook; fixed statement text keeps SQLite's prepared
    // statements cached (the builder measurably slowed the webhook bench).
    await this.db.query(
      m,
      `UPDATE webhook_endpoints SET failing_since = NULL, failed_attempts = 0, failed_deliveries = 0, last_error = NULL
       WHERE organisation_id = $1 AND id = $2 AND (failing_since IS NOT NULL OR failed_deliveries <> 0)`,
      [organisationId, id],
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
