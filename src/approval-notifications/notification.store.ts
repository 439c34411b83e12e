import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { Database } from '../core/database/database.service';
import { Sql } from '../core/database/sql';
import type { NotificationPayload } from './notification-payload';

export interface NotificationRecord {
  notification_id: string;
  organisation_id: string;
  claim_id: string;
  recipient_user_id: string;
  new_status: string;
  comment: string | null;
  amount: number | null;
  currency: string | null;
  payload: NotificationPayload;
  read: boolean;
  sent_at: string;
  updated_at: string;
}

export interface NotificationFilter {
  recipient_user_id?: string;
  claim_id?: string;
  read?: boolean;
}

const COLUMNS =
  'notification_id, organisation_id, claim_id, recipient_user_id, new_status, comment, amount, currency, payload, "read", sent_at, updated_at';

function fromRow(row: Record<string, unknown>): NotificationRecord {
  return {
    notification_id: row.notification_id as string,
    organisation_id: row.organisation_id as string,
    claim_id: row.claim_id as string,
    recipient_user_id: row.recipient_user_id as string,
    new_status: row.new_status as string,
    comment: (row.comment as string | null) ?? null,
    amount: row.amount === null ? null : Number(row.amount),
    currency: (row.currency as string | null) ?? null,
    payload: JSON.parse(row.payload as string) as NotificationPayload,
    read: Boolean(row.read),
    sent_at: row.sent_at as string,
    updated_at: row.updated_at as string,
  };
}

/** Data access for notifications; every read takes the organisation id. */
@Injectable()
export class NotificationStore {
  constructor(private readonly db: Database) {}

  private sql(): Sql {
    return new Sql(this.db.isPostgres);
  }

  async insertIn(m: EntityManager, n: NotificationRecord): Promise<void> {
    const sql = this.sql();
    await sql.run(
      m,
      `INSERT INTO approval_notifications (${COLUMNS}) VALUES (${sql.list([
        n.notification_id,
        n.organisation_id,
        n.claim_id,
        n.recipient_user_id,
        n.new_status,
        n.comment,
        n.amount === null ? null : String(n.amount),
        n.currency,
        JSON.stringify(n.payload),
        n.read,
        n.sent_at,
        n.updated_at,
      ])})`,
    );
  }

  async find(organisationId: string, id: string): Promise<NotificationRecord | undefined> {
    return this.db.read(async (m) => {
      const sql = this.sql();
      const rows = await sql.run(
        m,
        `SELECT ${COLUMNS} FROM approval_notifications WHERE organisation_id = ${sql.p(organisationId)} AND notification_id = ${sql.p(id)}`,
      );
      return rows.length ? fromRow(rows[0]) : undefined;
    });
  }

  async list(
    organisationId: string,
    filter: NotificationFilter,
    offset: number,
    limit: number,
  ): Promise<{ rows: NotificationRecord[]; total: number }> {
    return this.db.read(async (m) => {
      const where = (sql: Sql) => {
        const parts = [`organisation_id = ${sql.p(organisationId)}`];
        if (filter.recipient_user_id !== undefined)
          parts.push(`recipient_user_id = ${sql.p(filter.recipient_user_id)}`);
        if (filter.claim_id !== undefined) parts.push(`claim_id = ${sql.p(filter.claim_id)}`);
        if (filter.read !== undefined) parts.push(`"read" = ${sql.p(filter.read)}`);
        return parts.join(' AND ');
      };
      const page = this.sql();
      const rows = await page.run(
        m,
        `SELECT ${COLUMNS} FROM approval_notifications WHERE ${where(page)} ORDER BY sent_at DESC, notification_id DESC LIMIT ${page.p(limit)} OFFSET ${page.p(offset)}`,
      );
      const count = this.sql();
      const [{ n }] = await count.run<{ n: number | string }>(
        m,
        `SELECT COUNT(*) AS n FROM approval_notifications WHERE ${where(count)}`,
      );
      return { rows: rows.map(fromRow), total: Number(n) };
    });
  }

  async setRead(organisationId: string, id: string, read: boolean, at: string): Promise<void> {
    await this.db.transaction(async (m) => {
      const sql = this.sql();
      await sql.run(
        m,
        `UPDATE approval_notifications SET "read" = ${sql.p(read)}, updated_at = ${sql.p(at)} WHERE organisation_id = ${sql.p(organisationId)} AND notification_id = ${sql.p(id)}`,
      );
    });
  }

  async delete(organisationId: string, id: string): Promise<void> {
    await this.db.transaction(async (m) => {
      const sql = this.sql();
      await sql.run(
        m,
        `DELETE FROM approval_notifications WHERE organisation_id = ${sql.p(organisationId)} AND notification_id = ${sql.p(id)}`,
      );
    });
  }
}
