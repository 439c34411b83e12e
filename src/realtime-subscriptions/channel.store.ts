import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { Database } from '../core/database/database.service';
import { Sql } from '../core/database/sql';
import { isoNow, toIso } from '../core/http/time';

export type SubscriptionType = 'organisation_claims' | 'user_claims';

/** A claim channel as stored (never sent over the wire as is). */
export interface ChannelRecord {
  channel_id: string;
  subscription_type: SubscriptionType;
  organisation_id: string;
  user_id: string | null;
  /** Empty means every claim event type. */
  event_types: string[];
  created_seq: number;
  cursor_seq: number;
  event_count: number;
  last_event_seq: number | null;
  last_event_at: string | null;
  created_at: string;
  reconnected_at: string | null;
  connected: boolean;
}

export interface ChannelFilter {
  user_id?: string;
  subscription_type?: SubscriptionType;
  status?: 'connected' | 'disconnected';
}

/** Attachment rows not refreshed within this window no longer count (a node died). */
export const ATTACHMENT_STALE_MS = 60_000;

type Row = Record<string, unknown>;

const COLUMNS =
  'c.channel_id, c.subscription_type, c.organisation_id, c.user_id, c.event_types, c.created_seq, c.cursor_seq, c.event_count, c.last_event_seq, c.last_event_at, c.created_at, c.reconnected_at';

function fromRow(row: Row): ChannelRecord {
  return {
    channel_id: row.channel_id as string,
    subscription_type: row.subscription_type as SubscriptionType,
    organisation_id: row.organisation_id as string,
    user_id: (row.user_id as string | null) ?? null,
    event_types: JSON.parse(row.event_types as string) as string[],
    created_seq: Number(row.created_seq),
    cursor_seq: Number(row.cursor_seq),
    event_count: Number(row.event_count),
    last_event_seq: row.last_event_seq === null ? null : Number(row.last_event_seq),
    last_event_at: (row.last_event_at as string | null) ?? null,
    created_at: row.created_at as string,
    reconnected_at: (row.reconnected_at as string | null) ?? null,
    connected: Boolean(Number(row.connected ?? 0)),
  };
}

/** Data access for claim channels. Every tenant read takes the organisation id. */
@Injectable()
export class ChannelStore {
  constructor(private readonly db: Database) {}

  private sql(): Sql {
    return new Sql(this.db.isPostgres);
  }

  /**
   * SPEC 000 status: connected while awaiting its first client since create or reconnect, or
   * while any node reports a client attached (and has reported lately: a dead node's rows go
   * stale); disconnected once the last client dropped, until a client attaches or a reconnect.
   */
  private connectedExpr(sql: Sql): string {
    return `(CASE WHEN c.awaiting_client = ${sql.p(true)} OR EXISTS (SELECT 1 FROM realtime_channel_attachments a WHERE a.channel_id = c.channel_id AND a.clients > 0 AND a.seen_at > ${sql.p(
      toIso(Date.now() - ATTACHMENT_STALE_MS),
    )}) THEN 1 ELSE 0 END)`;
  }

  async insert(
    channel: Omit<
      ChannelRecord,
      'cursor_seq' | 'event_count' | 'last_event_seq' | 'last_event_at' | 'reconnected_at' | 'connected'
    > & { created_by?: string },
  ): Promise<void> {
    await this.db.transaction(async (m) => {
      const sql = this.sql();
      await sql.run(
        m,
        `INSERT INTO realtime_channels (channel_id, subscription_type, organisation_id, user_id, event_types, created_seq, cursor_seq, event_count, created_by, created_at, awaiting_client)
         VALUES (${sql.list([
           channel.channel_id,
           channel.subscription_type,
           channel.organisation_id,
           channel.user_id,
           JSON.stringify(channel.event_types),
           channel.created_seq,
           channel.created_seq,
           0,
           channel.created_by ?? null,
           channel.created_at,
           true,
         ])})`,
      );
    });
  }

  async find(organisationId: string, channelId: string): Promise<ChannelRecord | undefined> {
    return this.db.read(async (m) => {
      const sql = this.sql();
      const rows = await sql.run(
        m,
        `SELECT ${COLUMNS}, ${this.connectedExpr(sql)} AS connected FROM realtime_channels c
         WHERE c.organisation_id = ${sql.p(organisationId)} AND c.channel_id = ${sql.p(channelId)} AND c.closed_at IS NULL`,
      );
      return rows.length ? fromRow(rows[0]) : undefined;
    });
  }

  /** Any open channel by id, whatever its organisation: for attaching, where the caller is checked afterwards. */
  async findOpen(channelId: string): Promise<ChannelRecord | undefined> {
    return this.db.read(async (m) => {
      const sql = this.sql();
      const rows = await sql.run(
        m,
        `SELECT ${COLUMNS}, 0 AS connected FROM realtime_channels c WHERE c.channel_id = ${sql.p(channelId)} AND c.closed_at IS NULL`,
      );
      return rows.length ? fromRow(rows[0]) : undefined;
    });
  }

  async list(
    organisationId: string,
    filter: ChannelFilter,
    offset: number,
    limit: number,
  ): Promise<{ rows: ChannelRecord[]; total: number }> {
    return this.db.read(async (m) => {
      // Placeholders are positional, so each statement builds its own parameter list.
      const build = (selectConnected: boolean) => {
        const sql = this.sql();
        const select = selectConnected ? `${COLUMNS}, ${this.connectedExpr(sql)} AS connected` : 'COUNT(*) AS n';
        const where = [`c.organisation_id = ${sql.p(organisationId)}`, 'c.closed_at IS NULL'];
        if (filter.user_id !== undefined) where.push(`c.user_id = ${sql.p(filter.user_id)}`);
        if (filter.subscription_type) where.push(`c.subscription_type = ${sql.p(filter.subscription_type)}`);
        if (filter.status) where.push(`${this.connectedExpr(sql)} = ${filter.status === 'connected' ? 1 : 0}`);
        return { sql, text: `SELECT ${select} FROM realtime_channels c WHERE ${where.join(' AND ')}` };
      };
      const page = build(true);
      const rows = await page.sql.run(
        m,
        `${page.text} ORDER BY c.created_at DESC, c.channel_id DESC LIMIT ${page.sql.p(limit)} OFFSET ${page.sql.p(offset)}`,
      );
      const count = build(false);
      const [{ n }] = await count.sql.run<{ n: number | string }>(m, count.text);
      return { rows: rows.map(fromRow), total: Number(n) };
    });
  }

  async close(organisationId: string, channelId: string, at: string): Promise<void> {
    await this.db.transaction(async (m) => {
      const sql = this.sql();
      await sql.run(
        m,
        `UPDATE realtime_channels SET closed_at = ${sql.p(at)} WHERE organisation_id = ${sql.p(organisationId)} AND channel_id = ${sql.p(channelId)} AND closed_at IS NULL`,
      );
      const cleanup = this.sql();
      await cleanup.run(m, `DELETE FROM realtime_channel_attachments WHERE channel_id = ${cleanup.p(channelId)}`);
    });
  }

  async markReconnected(organisationId: string, channelId: string, at: string): Promise<void> {
    await this.db.transaction(async (m) => {
      const sql = this.sql();
      await sql.run(
        m,
        `UPDATE realtime_channels SET reconnected_at = ${sql.p(at)}, awaiting_client = ${sql.p(true)} WHERE organisation_id = ${sql.p(organisationId)} AND channel_id = ${sql.p(channelId)}`,
      );
    });
  }

  /** Moves cursors forward only: several clients, possibly on several nodes, may report. */
  async advanceCursors(cursors: Map<string, number>): Promise<void> {
    if (!cursors.size) return;
    await this.db.transaction(async (m) => {
      for (const [channelId, seq] of inLockOrder(cursors)) {
        const sql = this.sql();
        await sql.run(
          m,
          `UPDATE realtime_channels SET cursor_seq = ${sql.p(seq)} WHERE channel_id = ${sql.p(channelId)} AND cursor_seq < ${sql.p(seq)}`,
        );
      }
    });
  }

  /** Open channels of these organisations, for the durable counting router (inside its transaction). */
  async openChannelsIn(m: EntityManager, organisationIds: string[]): Promise<ChannelRecord[]> {
    if (!organisationIds.length) return [];
    const sql = this.sql();
    const rows = await sql.run(
      m,
      `SELECT ${COLUMNS}, 0 AS connected FROM realtime_channels c WHERE c.organisation_id IN (${sql.list(organisationIds)}) AND c.closed_at IS NULL`,
    );
    return rows.map(fromRow);
  }

  async addCounts(
    m: EntityManager,
    counts: Map<string, { count: number; lastSeq: number; lastAt: string }>,
  ): Promise<void> {
    for (const [channelId, c] of inLockOrder(counts)) {
      const sql = this.sql();
      await sql.run(
        m,
        `UPDATE realtime_channels SET event_count = event_count + ${sql.p(c.count)}, last_event_seq = ${sql.p(c.lastSeq)}, last_event_at = ${sql.p(c.lastAt)}
         WHERE channel_id = ${sql.p(channelId)}`,
      );
    }
  }

  /**
   * This node's attached-client counts; refreshed by the heartbeat so a dead node's rows go stale.
   * A channel with a client attached is no longer awaiting one: from now on it reads
   * disconnected as soon as its last client drops.
   */
  async saveAttachments(nodeId: string, counts: Map<string, number>): Promise<void> {
    await this.db.transaction(async (m) => {
      const now = isoNow();
      const attached = [...counts].filter(([, clients]) => clients > 0).map(([channelId]) => channelId);
      if (attached.length) {
        const mark = this.sql();
        await mark.run(
          m,
          `UPDATE realtime_channels SET awaiting_client = ${mark.p(false)} WHERE awaiting_client = ${mark.p(true)} AND channel_id IN (${mark.list(attached.sort())})`,
        );
      }
      for (const [channelId, clients] of counts) {
        const sql = this.sql();
        await sql.run(
          m,
          `INSERT INTO realtime_channel_attachments (channel_id, node_id, clients, seen_at) VALUES (${sql.list([channelId, nodeId, clients, now])})
           ON CONFLICT (channel_id, node_id) DO UPDATE SET clients = excluded.clients, seen_at = excluded.seen_at`,
        );
      }
    });
  }

  async dropAttachments(nodeId: string): Promise<void> {
    await this.db.transaction(async (m) => {
      const sql = this.sql();
      await sql.run(m, `DELETE FROM realtime_channel_attachments WHERE node_id = ${sql.p(nodeId)}`);
    });
  }
}

/**
 * Channel rows are updated by every node's cursor flush and by the dispatcher's transaction, each
 * touching several channels. Taking the row locks in one global order (by channel id) means two
 * of them can never each hold a row the other waits for: no Postgres deadlock.
 */
function inLockOrder<V>(byChannel: Map<string, V>): [string, V][] {
  return [...byChannel].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}
