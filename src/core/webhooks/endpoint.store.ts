import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { Database } from '../database/database.service';
import { Sql } from '../database/sql';
import type { EndpointHealth } from './endpoint-health';
import type { EndpointState, SaveEndpoint, WebhookEndpoint } from './webhook.types';

type Row = Record<string, unknown>;

const COLUMNS =
  'id, kind, organisation_id, workspace_id, url, secret, headers, rate_limit_per_minute, state, issue, created_at, updated_at';

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
 * the owning module has already resolved within the caller's tenant.
 */
@Injectable()
export class EndpointStore {
  constructor(private readonly db: Database) {}

  private sql(): Sql {
    return new Sql(this.db.isPostgres);
  }

  get(id: string): Promise<WebhookEndpoint | undefined> {
    return this.db.read(async (m) => (await this.find(m, [id])).get(id));
  }

  async find(m: EntityManager, ids: string[]): Promise<Map<string, WebhookEndpoint>> {
    const found = new Map<string, WebhookEndpoint>();
    if (!ids.length) return found;
    const sql = this.sql();
    const rows = await sql.run(
      m,
      `SELECT ${COLUMNS} FROM webhook_endpoints WHERE id IN (${sql.list([...new Set(ids)])})`,
    );
    for (const row of rows) found.set(row.id as string, fromRow(row));
    return found;
  }

  async insert(m: EntityManager, e: SaveEndpoint & { state: EndpointState }, now: string): Promise<void> {
    const sql = this.sql();
    await sql.run(
      m,
      `INSERT INTO webhook_endpoints (${COLUMNS}, failed_attempts, failed_deliveries)
       VALUES (${sql.list([
         e.id,
         e.kind,
         e.organisation_id,
         e.workspace_id ?? null,
         e.url,
         e.secret,
         JSON.stringify(e.headers ?? {}),
         e.rate_limit_per_minute ?? null,
         e.state,
         e.issue ?? null,
         now,
         now,
       ])}, 0, 0)`,
    );
  }

  async update(m: EntityManager, e: SaveEndpoint, now: string): Promise<void> {
    const sql = this.sql();
    await sql.run(
      m,
      `UPDATE webhook_endpoints SET kind = ${sql.p(e.kind)}, organisation_id = ${sql.p(e.organisation_id)}, workspace_id = ${sql.p(e.workspace_id ?? null)},
         url = ${sql.p(e.url)}, secret = ${sql.p(e.secret)}, headers = ${sql.p(JSON.stringify(e.headers ?? {}))},
         rate_limit_per_minute = ${sql.p(e.rate_limit_per_minute ?? null)}, updated_at = ${sql.p(now)}
       WHERE id = ${sql.p(e.id)}`,
    );
  }

  /** Turning an endpoint on clears its failure streak and issue: it starts with a clean slate. */
  async setState(m: EntityManager, id: string, state: EndpointState, issue: string | null, now: string): Promise<void> {
    const sql = this.sql();
    const reset =
      state === 'on' ? ', failing_since = NULL, failed_attempts = 0, failed_deliveries = 0, last_error = NULL' : '';
    await sql.run(
      m,
      `UPDATE webhook_endpoints SET state = ${sql.p(state)}, issue = ${sql.p(state === 'on' ? null : issue)}, updated_at = ${sql.p(now)}${reset}
       WHERE id = ${sql.p(id)}`,
    );
  }

  async delete(m: EntityManager, id: string): Promise<void> {
    const sql = this.sql();
    await sql.run(m, `DELETE FROM webhook_endpoints WHERE id = ${sql.p(id)}`);
  }

  /** Ends a failure streak. Writes only when there is one, so the usual success costs no row lock. */
  async recordSuccess(m: EntityManager, id: string): Promise<void> {
    const sql = this.sql();
    await sql.run(
      m,
      `UPDATE webhook_endpoints SET failing_since = NULL, failed_attempts = 0, failed_deliveries = 0, last_error = NULL
       WHERE id = ${sql.p(id)} AND (failing_since IS NOT NULL OR failed_deliveries <> 0)`,
    );
  }

  /** Adds a failed attempt (and, when the delivery gave up, a failed delivery) to the streak; returns the streak. */
  async recordFailure(
    m: EntityManager,
    id: string,
    failure: { at: string; error: string; deliveryFailed: boolean },
  ): Promise<EndpointHealth | undefined> {
    const sql = this.sql();
    await sql.run(
      m,
      `UPDATE webhook_endpoints SET failing_since = COALESCE(failing_since, ${sql.p(failure.at)}), failed_attempts = failed_attempts + 1,
         failed_deliveries = failed_deliveries + ${sql.p(failure.deliveryFailed ? 1 : 0)}, last_error = ${sql.p(failure.error)}
       WHERE id = ${sql.p(id)}`,
    );
    const read = this.sql();
    const [row] = await read.run(
      m,
      `SELECT failing_since, failed_attempts, failed_deliveries, last_error, state FROM webhook_endpoints WHERE id = ${read.p(id)}`,
    );
    if (!row || row.state !== 'on') return undefined;
    return {
      failing_since: (row.failing_since as string | null) ?? null,
      failed_attempts: Number(row.failed_attempts),
      failed_deliveries: Number(row.failed_deliveries),
      last_error: (row.last_error as string | null) ?? null,
    };
  }
}
