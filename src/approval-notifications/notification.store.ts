import { Injectable } from '@nestjs/common';
import type { SelectQueryBuilder } from 'typeorm';
import { Database, type Tx } from '../core/database/database.service';
import { ApprovalNotificationEntity } from './approval-notification.entity';
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

const COLUMNS = [
  'notification_id',
  'organisation_id',
  'claim_id',
  'recipient_user_id',
  'new_status',
  'comment',
  'amount',
  'currency',
  'payload',
  'read',
  'sent_at',
  'updated_at',
] as const satisfies readonly (keyof ApprovalNotificationEntity)[];

type Row = Record<(typeof COLUMNS)[number], unknown>;

/** Raw rows (no entity hydration), each column under its own name. */
function selectColumns(
  qb: SelectQueryBuilder<ApprovalNotificationEntity>,
): SelectQueryBuilder<ApprovalNotificationEntity> {
  qb.select([]);
  for (const column of COLUMNS) qb.addSelect(`n.${column}`, column);
  return qb;
}

function fromRow(row: Row): NotificationRecord {
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
    // Postgres returns a boolean, SQLite 0/1.
    read: Boolean(row.read),
    sent_at: row.sent_at as string,
    updated_at: row.updated_at as string,
  };
}

/** Data access for notifications; every read and write takes the organisation id. */
@Injectable()
export class NotificationStore {
  constructor(private readonly db: Database) {}

  /** Inside the caller's transaction: the notification commits with its events. */
  async insertIn(m: Tx, n: NotificationRecord): Promise<void> {
    await m.insert(ApprovalNotificationEntity, {
      notification_id: n.notification_id,
      organisation_id: n.organisation_id,
      claim_id: n.claim_id,
      recipient_user_id: n.recipient_user_id,
      new_status: n.new_status,
      comment: n.comment,
      amount: n.amount === null ? null : String(n.amount),
      currency: n.currency,
      payload: JSON.stringify(n.payload),
      read: n.read,
      sent_at: n.sent_at,
      updated_at: n.updated_at,
    });
  }

  async find(organisationId: string, id: string): Promise<NotificationRecord | undefined> {
    return this.db.read(async (m) => {
      const row = await selectColumns(m.createQueryBuilder(ApprovalNotificationEntity, 'n'))
        .where('n.organisation_id = :org AND n.notification_id = :id', { org: organisationId, id })
        .getRawOne<Row>();
      return row ? fromRow(row) : undefined;
    });
  }

  /** One organisation's notifications among `ids` (one indexed query), for the live router. */
  async findMany(organisationId: string, ids: string[]): Promise<NotificationRecord[]> {
    if (!ids.length) return [];
    return this.db.read(async (m) => {
      const rows = await selectColumns(m.createQueryBuilder(ApprovalNotificationEntity, 'n'))
        .where('n.organisation_id = :org AND n.notification_id IN (:...ids)', { org: organisationId, ids })
        .getRawMany<Row>();
      return rows.map(fromRow);
    });
  }

  async list(
    organisationId: string,
    filter: NotificationFilter,
    offset: number,
    limit: number,
  ): Promise<{ rows: NotificationRecord[]; total: number }> {
    return this.db.read(async (m) => {
      const matching = () => {
        const qb = m.createQueryBuilder(ApprovalNotificationEntity, 'n').where('n.organisation_id = :org', {
          org: organisationId,
        });
        if (filter.recipient_user_id !== undefined)
          qb.andWhere('n.recipient_user_id = :recipient', { recipient: filter.recipient_user_id });
        if (filter.claim_id !== undefined) qb.andWhere('n.claim_id = :claim', { claim: filter.claim_id });
        if (filter.read !== undefined) qb.andWhere('n.read = :read', { read: filter.read });
        return qb;
      };
      const rows = await selectColumns(matching())
        .orderBy('n.sent_at', 'DESC')
        .addOrderBy('n.notification_id', 'DESC')
        .limit(limit)
        .offset(offset)
        .getRawMany<Row>();
      const counted = await matching().select('COUNT(*)', 'total').getRawOne<{ total: number | string }>();
      return { rows: rows.map(fromRow), total: Number(counted?.total ?? 0) };
    });
  }

  async setRead(organisationId: string, id: string, read: boolean, at: string): Promise<void> {
    await this.db.transaction((m) =>
      m.update(
        ApprovalNotificationEntity,
        { organisation_id: organisationId, notification_id: id },
        { read, updated_at: at },
      ),
    );
  }

  async delete(organisationId: string, id: string): Promise<void> {
    await this.db.transaction((m) =>
      m.delete(ApprovalNotificationEntity, { organisation_id: organisationId, notification_id: id }),
    );
  }
}
