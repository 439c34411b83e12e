import { BeforeApplicationShutdown, Inject, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import type { Principal } from '../core/auth/principal';
import { BusRpc } from '../core/bus/bus-rpc';
import { EventBus, type Unsubscribe } from '../core/bus/event-bus';
import { APP_CONFIG, type AppConfig } from '../core/config';
import { toEnvelope, type EventEnvelope } from '../core/event-log/envelope';
import { EventLog } from '../core/event-log/event-log.service';
import type { StoredEvent } from '../core/event-log/event.types';
import {
  CLOSE_GOING_AWAY,
  SHUTDOWN_REASON,
  type ClientConnection,
  type ConnectionHandlers,
} from '../core/gateway/connection';
import { CursorStream } from '../core/gateway/cursor-stream';
import { GatewayMetrics } from '../core/gateway/gateway-metrics';
import { RawWebSocketServer } from '../core/gateway/raw-ws-server';
import { RealtimeService } from '../core/gateway/realtime.service';
import { Refusal } from '../core/gateway/refusal';
import { ReplaySlots } from '../core/gateway/replay-slots';
import { SocketLimits } from '../core/gateway/socket-limits';
import { AttachmentBookkeeping } from './attachment-bookkeeping';
import { channelFilter, channelMatches } from './channel-match';
import { ChannelStore, type ChannelRecord } from './channel.store';
import { attachRefusal, canAccessChannel, CHANNEL_CATCH_UP_TOPIC, CHANNEL_CLOSED_TOPIC } from './channels.service';

export type { ChannelWelcome } from '../core/gateway/client-events';

const CHANNEL_PATH = '/channels/:channel_id';
/**
 * Only the shape of a real channel id (`chan_` + a lower-case ULID, see newId in core/http/ids)
 * makes Socket.IO create a namespace; anything else is refused before one exists.
 */
const CHANNEL_NAMESPACE = /^\/channels\/chan_[0-9a-hjkmnp-tv-z]{26}$/;
const SLOW_REASON = 'client too slow: reconnect with last_seq to resume';

/** What an accepted attach carries from the handshake to the connection. */
interface AttachRequest {
  channel: ChannelRecord;
  /** The client's own position, if it gave one. */
  lastSeq?: number;
}

/** One client attached to one channel, over either transport. */
interface Attachment {
  connection: ClientConnection;
  channel: ChannelRecord;
  /** Its replay from the cursor and then the live events, with no gap and no duplicate at the seam. */
  stream: CursorStream;
  detached: boolean;
}

/**
 * Clients attached to claim channels on this node: a raw WebSocket at `/channels/<id>` or the
 * Socket.IO namespace of the same name. This service decides who may attach and which events a
 * channel gets, and keeps the channel's cursor and attachment count; the connections themselves
 * (credentials, heartbeats, frames, slow clients, revocation) are the gateway's. Each attachment
 * replays from its cursor (the client's `last_seq`, or the channel's) in seq order, then
 * continues live from the ordered, gap-free live stream, with no gap and no duplicate at the seam.
 */
@Injectable()
export class ChannelAttachments implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('ChannelAttachments');
  private readonly byChannel = new Map<string, Set<Attachment>>();
  private readonly byOrganisation = new Map<string, Set<Attachment>>();
  /** The envelope the live path built for an event, so each attachment sends that one instead of building its own. */
  private readonly liveEnvelopes = new WeakMap<StoredEvent, EventEnvelope>();
  private readonly bookkeeping: AttachmentBookkeeping;
  private readonly subscriptions: Unsubscribe[] = [];

  constructor(
    private readonly store: ChannelStore,
    private readonly log: EventLog,
    private readonly rawServer: RawWebSocketServer,
    private readonly realtime: RealtimeService,
    private readonly bus: EventBus,
    rpc: BusRpc,
    private readonly limits: SocketLimits,
    private readonly replaySlots: ReplaySlots,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly metrics: GatewayMetrics,
  ) {
    this.bookkeeping = new AttachmentBookkeeping(
      store,
      rpc.nodeId,
      () => new Map([...this.byChannel].map(([id, set]) => [id, set.size])),
    );
    metrics.countChannelAttachments(() => {
      const counts = { websocket: 0, 'socket.io': 0 };
      for (const set of this.byChannel.values()) for (const { connection } of set) counts[connection.transport]++;
      return counts;
    });
  }

  onApplicationBootstrap(): void {
    this.rawServer.serve<AttachRequest>({
      path: CHANNEL_PATH,
      family: 'standard',
      // Nothing but ping: a channel's events are chosen when it is created.
      actions: [],
      slowReason: SLOW_REASON,
      accept: ({ principal, params, query }) => this.authorise(principal, params.channel_id, query.get('last_seq')),
      open: (connection, request) => this.attach(connection, request),
    });
    this.realtime.serveNamespace<AttachRequest>(CHANNEL_NAMESPACE, {
      slowReason: SLOW_REASON,
      authorise: ({ namespace, principal, auth, query }) => {
        const raw = auth.last_seq ?? query.last_seq;
        return this.authorise(principal, namespace.slice('/channels/'.length), raw === undefined ? null : String(raw));
      },
      open: (connection, request) => this.attach(connection, request),
    });
    this.subscriptions.push(
      this.bus.on(CHANNEL_CLOSED_TOPIC, (m) =>
        this.closeChannel((m as { channel_id: string }).channel_id, (m as { reason: string }).reason),
      ),
      this.bus.on(CHANNEL_CATCH_UP_TOPIC, (m) => this.catchUp((m as { channel_id: string }).channel_id)),
    );
    this.bookkeeping.start(this.config.websocket.heartbeatMs);
  }

  /** Before the HTTP server closes, which waits for every open connection to end. */
  async beforeApplicationShutdown(): Promise<void> {
    for (const unsubscribe of this.subscriptions) unsubscribe();
    // Closed before the last cursor flush, so no client moves a cursor after it.
    for (const set of [...this.byChannel.values()])
      for (const a of [...set]) a.connection.close(SHUTDOWN_REASON, CLOSE_GOING_AWAY);
    await this.bookkeeping.stop();
  }

  // ---------------------------------------------------------------------------------------
  // Attaching

  /** Who may attach, to what, from where. */
  private async authorise(principal: Principal, channelId: string, rawLastSeq: string | null) {
    const channel = await this.store.findOpenAcrossTenants(channelId);
    // Someone who may not attach is told the same as for a channel that does not exist, as over REST.
    if (!channel || !canAccessChannel(principal, channel)) return new Refusal(404, `Channel ${channelId} not found`);
    const refusal = attachRefusal(principal, channel);
    if (refusal) return new Refusal(403, refusal);
    const cap = this.config.limits.attachmentsPerChannel;
    if ((this.byChannel.get(channelId)?.size ?? 0) >= cap) {
      this.limits.refused('channel_full');
      return new Refusal(
        429,
        `Channel ${channelId} has ${cap} clients attached on this node (CHANNEL_MAX_ATTACHMENTS)`,
      );
    }
    const lastSeq = parseLastSeq(rawLastSeq);
    if (lastSeq === null) return new Refusal(400, 'last_seq must be a non-negative integer');
    return { channel, lastSeq } satisfies AttachRequest;
  }

  private attach(connection: ClientConnection, { channel, lastSeq }: AttachRequest): ConnectionHandlers {
    const filter = channelFilter(channel);
    const stream = new CursorStream({
      cursor: lastSeq ?? channel.cursor_seq,
      read: (after, limit) => this.log.readAfter(after, filter, limit),
      prunedThrough: () => this.log.prunedThrough(),
      slot: (work) => this.replaySlots.batch(work),
      sink: {
        welcome: (welcome) => connection.sendNotice({ type: 'welcome', channel_id: channel.channel_id, ...welcome }),
        send: (event) => {
          connection.sendEvent(this.liveEnvelopes.get(event) ?? toEnvelope(event));
          this.bookkeeping.moved(channel.channel_id, event.seq);
        },
        backedUp: () => connection.backedUp(),
        drained: () => connection.drained(),
      },
      onError: (err) => {
        this.logger.error({ err, channel: channel.channel_id }, 'replay failed; closing the client so it can resume');
        connection.close('replay failed; reconnect to resume', 1011);
      },
      replays: this.metrics,
    });
    const attachment: Attachment = { connection, channel, stream, detached: false };
    add(this.byChannel, channel.channel_id, attachment);
    add(this.byOrganisation, channel.organisation_id, attachment);
    void this.bookkeeping.saveAttachmentCount(channel.channel_id);
    void stream.start();
    return { closed: () => void this.detach(attachment) };
  }

  private async detach(attachment: Attachment): Promise<void> {
    if (attachment.detached) return;
    attachment.detached = true;
    attachment.stream.close();
    remove(this.byChannel, attachment.channel.channel_id, attachment);
    remove(this.byOrganisation, attachment.channel.organisation_id, attachment);
    await this.bookkeeping.detached(attachment.channel.channel_id);
  }

  // ---------------------------------------------------------------------------------------
  // Live delivery

  /** A live event, for every attachment of this node whose channel it matches. */
  onLive(event: StoredEvent, envelope: EventEnvelope): void {
    const attachments = this.byOrganisation.get(event.organisation_id);
    if (!attachments) return;
    this.liveEnvelopes.set(event, envelope);
    for (const { channel, connection, stream } of attachments) {
      if (!channelMatches(channel, event)) continue;
      // During a replay the stream holds the event (and paces the client itself); after it, the
      // slow-client rule decides first.
      if (!stream.replaying && connection.droppedAsSlow()) continue;
      stream.offer(event);
    }
  }

  /** The bus may have lost events: every attachment of the channel reads the log again from its cursor. */
  private catchUp(channelId: string): void {
    for (const attachment of this.byChannel.get(channelId) ?? []) void attachment.stream.catchUp();
  }

  private closeChannel(channelId: string, reason: string): void {
    for (const attachment of [...(this.byChannel.get(channelId) ?? [])]) attachment.connection.close(reason, 1000);
  }
}

/** undefined: not given; null: given but invalid. */
function parseLastSeq(raw: string | null): number | undefined | null {
  if (raw === null || raw === '') return undefined;
  return /^\d{1,15}$/.test(raw) ? Number(raw) : null;
}

function add<K, V>(map: Map<K, Set<V>>, key: K, value: V): void {
  let set = map.get(key);
  if (!set) map.set(key, (set = new Set()));
  set.add(value);
}

function remove<K, V>(map: Map<K, Set<V>>, key: K, value: V): void {
  const set = map.get(key);
  set?.delete(value);
  if (set && !set.size) map.delete(key);
}
