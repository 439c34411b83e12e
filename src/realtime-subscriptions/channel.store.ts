import { Injectable } from '@nestjs/common';
import type { SelectQueryBuilder } from 'typeorm';
import { Database, type Tx } from '../core/database/database.service';
import { isoNow, toIso } from '../core/http/time';
import { ChannelAttachmentEntity } from './channel-attachment.entity';
import { ChannelEntity } from './channel.entity';

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

/** Attachment rows per upsert statement: 4 parameters each, far below either engine's limit. */
const ATTACHMENT_CHUNK = 1000;

const COLUMNS = [
  'channel_id',
  'subscription_type',
  'organisation_id',
  'user_id',
  'event_types',
  'created_seq',
  'cursor_seq',
  'event_count',
  'last_event_seq',
  'last_event_at',
  'created_at',
  'reconnected_at',
] as const satisfies readonly (keyof ChannelEntity)[];

type Row = Record<(typeof COLUMNS)[number], unknown> & { connected?: unknown };
type ChannelQuery = SelectQueryBuilder<ChannelEntity>;

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

/** Open channels (alias `c`) as raw rows, each column under its own name; no entity hydration. */
function openChannels(m: Tx): ChannelQuery {
  const qb = m.createQueryBuilder(ChannelEntity, 'c').select([]);
  for (const column of COLUMNS) qb.addSelect(`c.${column}`, column);
  return qb.where('c.closed_at IS NULL');
}

/**
 * the realtime channels contract: connected while awaiting its first client since create or reconnect, or
 * while any node reports a client attached (and has reported lately: a dead node's rows go
 * stale); disconnected once the last client dropped, until a client attaches or a reconnect.
 * Returns a 1/0 expression over alias `c` and binds its parameters on `qb`.
 */
function connectedExpr(qb: ChannelQuery): string {
  const attached = qb
    .subQuery()
    .select('1')
    .from(ChannelAttachmentEntity, 'a')
    .where('a.channel_id = c.channel_id AND a.clients > 0 AND a.seen_at > :freshSince')
    .getQuery();
  qb.setParameters({ awaiting: true, freshSince: toIso(Date.now() - ATTACHMENT_STALE_MS) });
  return `(CASE WHEN c.awaiting_client = :awaiting OR EXISTS ${attached} THEN 1 ELSE 0 END)`;
}

/** Data access for claim channels. Every tenant read and write takes the organisation id. */
@Injectable()
export class ChannelStore {
  constructor(private readonly db: Database) {}

  async insert(
    channel: Omit<
      ChannelRecord,
      'cursor_seq' | 'event_count' | 'last_event_seq' | 'last_event_at' | 'reconnected_at' | 'connected'
    > & { created_by?: string },
  ): Promise<void> {
    await this.db.transaction((m) =>
      m.insert(ChannelEntity, {
        channel_id: channel.channel_id,
        subscription_type: channel.subscription_type,
        organisation_id: channel.organisation_id,
        user_id: channel.user_id,
        event_types: JSON.stringify(channel.event_types),
        created_seq: channel.created_seq,
        cursor_seq: channel.created_seq,
        event_count: 0,
        last_event_seq: null,
        last_event_at: null,
        created_by: channel.created_by ?? null,
        created_at: channel.created_at,
        reconnected_at: null,
        closed_at: null,
        awaiting_client: true,
      }),
    );
  }

  async find(organisationId: string, channelId: string): Promise<ChannelRecord | undefined> {
    return this.db.read(async (m) => {
      const qb = openChannels(m).andWhere('c.organisation_id = :org AND c.channel_id = :id', {
        org: organisationId,
        id: channelId,
      });
      const row = await qb.addSelect(connectedExpr(qb), 'connected').getRawOne<Row>();
      return row ? fromRow(row) : undefined;
    });
  }

  /**
   * Any open channel by id, whatever its organisation: for attaching, where the caller is checked
   * afterwards. `connected` is not computed (reads false).
   */
  async findOpenAcrossTenants(channelId: string): Promise<ChannelRecord | undefined> {
    return this.db.read(async (m) => {
      const row = await openChannels(m).andWhere('c.channel_id = :id', { id: channelId }).getRawOne<Row>();
      return row ? fromRow(row) : undefined;
    });
  }

  async list(
    organisationId: string,
    filter: ChannelFilter,
    offset: number,
    limit: number,
  ): Promise<{ rows: ChannelRecord[]; total: number }> {
    return this.db.read(async (m) => {
      const matching = () => {
        const qb = openChannels(m).andWhere('c.organisation_id = :org', { org: organisationId });
        if (filter.user_id !== undefined) qb.andWhere('c.user_id = :user', { user: filter.user_id });
        if (filter.subscription_type) qb.andWhere('c.subscription_type = :type', { type: filter.subscription_type });
        if (filter.status) qb.andWhere(`${connectedExpr(qb)} = ${filter.status === 'connected' ? 1 : 0}`);
        return qb;
      };
      const page = matching();
      const rows = await page
        .addSelect(connectedExpr(page), 'connected')
        .orderBy('c.created_at', 'DESC')
        .addOrderBy('c.channel_id', 'DESC')
        .limit(limit)
        .offset(offset)
        .getRawMany<Row>();
      const counted = await matching().select('COUNT(*)', 'total').getRawOne<{ total: number | string }>();
      return { rows: rows.map(fromRow), total: Number(counted?.total ?? 0) };
    });
  }

  async close(organisationId: string, channelId: string, at: string): Promise<void> {
    await this.db.transaction(async (m) => {
      await m
        .createQueryBuilder()
        .update(ChannelEntity)
        .set({ closed_at: at })
        .where('organisation_id = :org AND channel_id = :id AND closed_at IS NULL', {
          org: organisationId,
          id: channelId,
        })
        .execute();
      await m.delete(ChannelAttachmentEntity, { channel_id: channelId });
    });
  }

  async markReconnected(organisationId: string, channelId: string, at: string): Promise<void> {
    await this.db.transaction((m) =>
      m.update(
        ChannelEntity,
        { organisation_id: organisationId, channel_id: channelId },
        { reconnected_at: at, awaiting_client: true },
      ),
    );
  }

  /**
   * A node's cursor flush: the channels its clients read, whatever their organisations. Moves
   * cursors forward only: several clients, possibly on several nodes, may report.
   */
  async advanceCursorsAcrossTenants(cursors: Map<string, number>): Promise<void> {
    if (!cursors.size) return;
    await this.db.transaction(async (m) => {
      for (const [channelId, seq] of inLockOrder(cursors)) {
        await m
          .createQueryBuilder()
          .update(ChannelEntity)
          .set({ cursor_seq: seq })
          .where('channel_id = :id AND cursor_seq < :seq', { id: channelId, seq })
          .execute();
      }
    });
  }

  /** Open channels of these organisations, for the durable counting router (inside its transaction). */
  async openChannelsIn(m: Tx, organisationIds: string[]): Promise<ChannelRecord[]> {
    if (!organisationIds.length) return [];
    const rows = await openChannels(m)
      .andWhere('c.organisation_id IN (:...orgs)', { orgs: organisationIds })
      .getRawMany<Row>();
    return rows.map(fromRow);
  }

  /** The durable counting router's write, for the channels `openChannelsIn` returned (inside its transaction). */
  async addCountsAcrossTenants(
    m: Tx,
    counts: Map<string, { count: number; lastSeq: number; lastAt: string }>,
  ): Promise<void> {
    for (const [channelId, c] of inLockOrder(counts)) {
      await m
        .createQueryBuilder()
        .update(ChannelEntity)
        .set({ event_count: () => 'event_count + :count', last_event_seq: c.lastSeq, last_event_at: c.lastAt })
        .where('channel_id = :id', { id: channelId })
        .setParameter('count', c.count)
        .execute();
    }
  }

  /**
   * This node's attached-client counts, whatever the channels' organisations; refreshed by the
   * heartbeat so a dead node's rows go stale. A channel with a client attached is no longer
   * awaiting one: from now on it reads disconnected as soon as its last client drops.
   */
  async saveAttachmentsAcrossTenants(nodeId: string, counts: Map<string, number>): Promise<void> {
    await this.db.transaction(async (m) => {
      const now = isoNow();
      const attached = [...counts].filter(([, clients]) => clients > 0).map(([channelId]) => channelId);
      if (attached.length) {
        await m
          .createQueryBuilder()
          .update(ChannelEntity)
          .set({ awaiting_client: false })
          .where('awaiting_client = :awaiting AND channel_id IN (:...ids)', { awaiting: true, ids: attached.sort() })
          .execute();
      }
      const rows = inLockOrder(counts).map(([channel_id, clients]) => ({
        channel_id,
        node_id: nodeId,
        clients,
        seen_at: now,
      }));
      for (let i = 0; i < rows.length; i += ATTACHMENT_CHUNK) {
        await m
          .createQueryBuilder()
          .insert()
          .into(ChannelAttachmentEntity)
          .values(rows.slice(i, i + ATTACHMENT_CHUNK))
          .orUpdate(['clients', 'seen_at'], ['channel_id', 'node_id'])
          .updateEntity(false)
          .execute();
      }
    });
  }

  /** This node's attachment rows (at shutdown), whatever the channels' organisations. */
  async dropAttachments(nodeId: string): Promise<void> {
    await this.db.transaction((m) => m.delete(ChannelAttachmentEntity, { node_id: nodeId }));
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
