import {
  Inject,
  Injectable,
  Logger,
  OnApplicationBootstrap,
  BeforeApplicationShutdown,
  UnauthorizedException,
} from '@nestjs/common';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { ExtendedError, Socket } from 'socket.io';
import { WebSocket, WebSocketServer } from 'ws';
import { Authenticator } from '../core/auth/authenticator';
import { extractCredential } from '../core/auth/credentials';
import { API_KEY_REVOKED_REASON, onApiKeyRevoked } from '../core/auth/key-revocations';
import type { Principal } from '../core/auth/principal';
import { BusRpc } from '../core/bus/bus-rpc';
import { EventBus, type Unsubscribe } from '../core/bus/event-bus';
import { APP_CONFIG, type AppConfig } from '../core/config';
import { nonOverlapping } from '../core/database/periodic';
import { toEnvelope, type EventEnvelope } from '../core/event-log/envelope';
import { EventLog } from '../core/event-log/event-log.service';
import type { StoredEvent } from '../core/event-log/event.types';
import { RealtimeService } from '../core/gateway/realtime.service';
import type { ClientEventMap } from '../core/gateway/client-events';
import { socketAuthMiddleware, type SocketData } from '../core/gateway/socket-auth';
import { pendingBytes, waitForSocketDrain, waitUntilDrained } from '../core/gateway/socket-buffer';
import { ReplaySlots } from '../core/gateway/replay-slots';
import { SocketLimits } from '../core/gateway/socket-limits';
import { rejectUpgrade, UpgradeRouter } from '../core/gateway/upgrade-router.service';
import { channelFilter, channelMatches } from './channel-match';
import { ChannelStore, type ChannelRecord } from './channel.store';
import { attachRefusal, canAccessChannel, CHANNEL_CATCH_UP_TOPIC, CHANNEL_CLOSED_TOPIC } from './channels.service';

/** Replay reads the gap in batches of this many: one query per batch, never the whole gap in memory. */
export const REPLAY_BATCH = 500;
/** Measuring a Socket.IO client's queue walks its packets, so replay checks it every few events, not every one. */
const REPLAY_CHECK_EVERY = 16;
const CURSOR_FLUSH_MS = 500;
const ATTACHMENT_REFRESH_MS = 20_000;
/**
 * engine.io queues everything emitted in one tick until its previous write completes, so a
 * burst to a fast Socket.IO client briefly reads as backed up. It is closed only if it is
 * still over the limit this much later.
 */
const SOCKET_IO_SLOW_GRACE_MS = 100;
const CHANNEL_PATH = '/channels/:channel_id';
/**
 * Only the shape of a real channel id (`chan_` + a lower-case ULID, see newId in core/http/ids)
 * makes Socket.IO create a namespace; anything else is refused before one exists.
 */
const CHANNEL_NAMESPACE = /^\/channels\/chan_[0-9a-hjkmnp-tv-z]{26}$/;

/**
 * What an attaching client is told before any replayed event: where the replay starts, the
 * first seq it carries, and whether it is whole. `complete: false` means retention pruned part
 * of the range after `resume_after`, the same rule as `PUT …/reconnect`.
 */
export interface ChannelWelcome {
  channel_id: string;
  resume_after: number;
  from_seq: number | null;
  complete: boolean;
}

/** One client attached to one channel, over either transport. */
interface Attachment {
  transport: 'websocket' | 'socket.io';
  channel: ChannelRecord;
  principal: Principal;
  /** Last seq sent to this client. */
  cursor: number;
  /** While replaying, live events wait here and are sent after the replay, deduplicated by seq. */
  replaying: boolean;
  buffer: StoredEvent[];
  closed: boolean;
  welcomed: boolean;
  slowCheck?: NodeJS.Timeout;
  welcome(welcome: ChannelWelcome): void;
  send(event: StoredEvent, envelope: EventEnvelope): void;
  /** Resolves when the transport can take more again (below half the per-client limit). */
  drained(): Promise<void>;
  /** Unsent bytes over the per-client limit (WS_MAX_BUFFERED_BYTES). */
  backedUp(): boolean;
  close(reason: string, code?: number): void;
}

class AttachError extends Error {
  constructor(
    readonly status: 401 | 403 | 404 | 429,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Clients attached to claim channels on this node: a raw WebSocket at `/channels/<id>` or the
 * Socket.IO namespace of the same name. Each attachment replays from its cursor (the client's
 * `last_seq`, or the channel's) in seq order, then continues live from the ordered, gap-free
 * live stream, with no gap and no duplicate at the seam.
 */
@Injectable()
export class ChannelAttachments implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('ChannelAttachments');
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024, perMessageDeflate: false });
  private readonly byChannel = new Map<string, Set<Attachment>>();
  private readonly byOrganisation = new Map<string, Set<Attachment>>();
  private readonly dirtyCursors = new Map<string, number>();
  private readonly timers: NodeJS.Timeout[] = [];
  /**
   * The two periodic writes never overlap themselves (see nonOverlapping): while a flush waits on
   * a lock, ticks are skipped rather than each taking another pool connection, so together they
   * hold at most two of the pool's connections however long the database stalls.
   */
  private readonly flushCursors = nonOverlapping(() => this.writeCursors());
  private readonly refreshAttachments = nonOverlapping(() => this.writeAttachmentCounts());
  private readonly subscriptions: Unsubscribe[] = [];

  constructor(
    private readonly authenticator: Authenticator,
    private readonly store: ChannelStore,
    private readonly log: EventLog,
    private readonly upgrades: UpgradeRouter,
    private readonly realtime: RealtimeService,
    private readonly bus: EventBus,
    private readonly rpc: BusRpc,
    private readonly limits: SocketLimits,
    private readonly replaySlots: ReplaySlots,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  onApplicationBootstrap(): void {
    this.upgrades.register(CHANNEL_PATH, (req, socket, head, params) =>
      this.upgrade(req, socket, head, params.channel_id),
    );
    const namespace = this.realtime.namespace(CHANNEL_NAMESPACE);
    namespace.use(socketAuthMiddleware(this.authenticator));
    namespace.use((socket, next) => void this.authoriseSocket(socket, next));
    namespace.use(this.limits.middleware());
    namespace.on('connection', (socket) => this.attachSocket(socket));

    this.subscriptions.push(
      this.bus.on(CHANNEL_CLOSED_TOPIC, (m) =>
        this.closeChannel((m as { channel_id: string }).channel_id, (m as { reason: string }).reason),
      ),
      this.bus.on(CHANNEL_CATCH_UP_TOPIC, (m) => this.catchUp((m as { channel_id: string }).channel_id)),
      // Socket.IO sockets of a revoked key are disconnected by the gateway, in every namespace.
      onApiKeyRevoked(this.bus, ({ key_id }) => this.closeKey(key_id, 'websocket')),
    );
    this.timers.push(setInterval(() => void this.flushCursors(), CURSOR_FLUSH_MS));
    this.timers.push(
      setInterval(
        () => void this.refreshAttachments(),
        Math.min(ATTACHMENT_REFRESH_MS, this.config.websocket.heartbeatMs),
      ),
    );
    for (const timer of this.timers) timer.unref();
  }

  /** Before the HTTP server closes, which waits for every open connection to end. */
  async beforeApplicationShutdown(): Promise<void> {
    for (const timer of this.timers) clearInterval(timer);
    for (const unsubscribe of this.subscriptions) unsubscribe();
    for (const set of this.byChannel.values()) for (const a of set) a.close('server shutting down', 1001);
    this.wss.close();
    await this.flushCursors.fresh();
    // A heartbeat still in flight would write this node's rows back after they are dropped.
    await this.refreshAttachments.idle();
    await this.store.dropAttachments(this.rpc.nodeId).catch(() => undefined);
  }

  // ---------------------------------------------------------------------------------------
  // Attaching

  private async resolve(principal: Principal, channelId: string): Promise<ChannelRecord> {
    const channel = await this.store.findOpenAcrossTenants(channelId);
    // Someone who may not attach is told the same as for a channel that does not exist, as over REST.
    if (!channel || !canAccessChannel(principal, channel)) throw new AttachError(404, `Channel ${channelId} not found`);
    const refusal = attachRefusal(principal, channel);
    if (refusal) throw new AttachError(403, refusal);
    const cap = this.config.limits.attachmentsPerChannel;
    if ((this.byChannel.get(channelId)?.size ?? 0) >= cap) {
      this.limits.refused('channel_full');
      throw new AttachError(
        429,
        `Channel ${channelId} has ${cap} clients attached on this node (CHANNEL_MAX_ATTACHMENTS)`,
      );
    }
    return channel;
  }

  private async upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, channelId: string): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    let principal: Principal;
    let channel: ChannelRecord;
    try {
      principal = await this.authenticator
        .authenticate(extractCredential(req.headers, url.searchParams, true))
        .catch((err) => {
          throw new AttachError(401, err instanceof UnauthorizedException ? err.message : 'Authentication failed');
        });
      channel = await this.resolve(principal, channelId);
    } catch (err) {
      const status = err instanceof AttachError ? err.status : 401;
      const error = { 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 429: 'Too Many Requests' }[status];
      return rejectUpgrade(socket, status, { statusCode: status, error, message: (err as Error).message });
    }
    const lastSeq = parseLastSeq(url.searchParams.get('last_seq'));
    if (lastSeq === null)
      return rejectUpgrade(socket, 400, {
        statusCode: 400,
        error: 'Bad Request',
        message: 'last_seq must be a non-negative integer',
      });
    if (socket.destroyed) return;
    const refused = this.limits.leaseForUpgrade(req, socket, principal);
    if (refused)
      return rejectUpgrade(socket, 429, { statusCode: 429, error: 'Too Many Requests', message: refused.message });
    this.wss.handleUpgrade(req, socket, head, (ws) => this.attachWebSocket(ws, channel, principal, lastSeq));
  }

  private attachWebSocket(
    ws: WebSocket,
    channel: ChannelRecord,
    principal: Principal,
    lastSeq: number | undefined,
  ): void {
    let lastSeen = Date.now();
    const attachment = this.attach(channel, principal, lastSeq, {
      transport: 'websocket',
      welcome: (welcome) => ws.send(JSON.stringify({ type: 'welcome', ...welcome })),
      send: (_event, envelope) => ws.send(JSON.stringify({ type: 'event', event: envelope })),
      drained: () =>
        waitUntilDrained(
          () => ws.bufferedAmount,
          () => ws.readyState !== WebSocket.OPEN,
          this.config.websocket.maxBufferedBytes / 2,
        ),
      backedUp: () => ws.bufferedAmount > this.config.websocket.maxBufferedBytes,
      close: (reason, code = 1000) => {
        if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: 'closed', reason }));
        ws.close(code, reason);
      },
    });
    const heartbeat = setInterval(() => {
      if (Date.now() - lastSeen > this.config.websocket.idleTimeoutMs) ws.terminate();
      else if (ws.readyState === WebSocket.OPEN) ws.ping();
    }, this.config.websocket.heartbeatMs);
    heartbeat.unref();
    ws.on('pong', () => (lastSeen = Date.now()));
    ws.on('message', (data) => {
      lastSeen = Date.now();
      if (!data.toString().includes('"ping"') || ws.readyState !== WebSocket.OPEN) return;
      // A client that pings but never reads would otherwise grow its pong backlog without bound.
      if (attachment.backedUp()) return this.dropSlow(attachment);
      ws.send(JSON.stringify({ type: 'pong' }));
    });
    ws.on('error', () => undefined);
    ws.on('close', () => {
      clearInterval(heartbeat);
      void this.detach(attachment);
    });
  }

  private async authoriseSocket(socket: Socket, next: (err?: ExtendedError) => void): Promise<void> {
    try {
      const channelId = socket.nsp.name.slice('/channels/'.length);
      const principal = (socket.data as SocketData).principal;
      const channel = await this.resolve(principal, channelId);
      const raw = (socket.handshake.auth as Record<string, unknown>)?.last_seq ?? socket.handshake.query.last_seq;
      const lastSeq = parseLastSeq(raw === undefined ? null : String(raw));
      if (lastSeq === null)
        throw Object.assign(new Error('last_seq must be a non-negative integer'), { data: { code: 400 } });
      Object.assign(socket.data, { channel, lastSeq });
      next();
    } catch (err) {
      const error = new Error((err as Error).message) as ExtendedError;
      error.data = {
        code: err instanceof AttachError ? err.status : ((err as ExtendedError).data?.code ?? 400),
        message: (err as Error).message,
      };
      next(error);
    }
  }

  private attachSocket(socket: Socket): void {
    const { channel, lastSeq, principal } = socket.data as SocketData & { channel: ChannelRecord; lastSeq?: number };
    const attachment = this.attach(channel, principal, lastSeq, {
      transport: 'socket.io',
      welcome: (welcome) => socket.emit('welcome', welcome satisfies ClientEventMap['welcome']),
      send: (event, envelope) => socket.emit(event.type, envelope),
      drained: () => waitForSocketDrain(socket, this.config.websocket.maxBufferedBytes / 2),
      backedUp: () => pendingBytes(socket) > this.config.websocket.maxBufferedBytes,
      close: (reason) => {
        socket.emit('closing', { reason });
        socket.disconnect(true);
      },
    });
    socket.on('disconnect', () => void this.detach(attachment));
  }

  private attach(
    channel: ChannelRecord,
    principal: Principal,
    lastSeq: number | undefined,
    transport: Pick<Attachment, 'transport' | 'welcome' | 'send' | 'drained' | 'backedUp' | 'close'>,
  ): Attachment {
    const attachment: Attachment = {
      channel,
      principal,
      cursor: lastSeq ?? channel.cursor_seq,
      replaying: true,
      buffer: [],
      closed: false,
      welcomed: false,
      ...transport,
    };
    add(this.byChannel, channel.channel_id, attachment);
    add(this.byOrganisation, channel.organisation_id, attachment);
    void this.saveAttachmentCount(channel.channel_id);
    void this.replay(attachment);
    return attachment;
  }

  private async detach(attachment: Attachment): Promise<void> {
    if (attachment.closed) return;
    attachment.closed = true;
    remove(this.byChannel, attachment.channel.channel_id, attachment);
    remove(this.byOrganisation, attachment.channel.organisation_id, attachment);
    // The cursor must be stored before the channel reads as disconnected, so a reconnect counts from it.
    await this.flushCursors.fresh();
    await this.saveAttachmentCount(attachment.channel.channel_id);
  }

  // ---------------------------------------------------------------------------------------
  // Replay and live delivery

  private async replay(attachment: Attachment): Promise<void> {
    attachment.replaying = true;
    try {
      const filter = channelFilter(attachment.channel);
      const resumeAfter = attachment.cursor;
      for (;;) {
        // One batch per replay slot (see ReplaySlots), so many replays cannot starve the node.
        const step = await this.replaySlots.batch(async () => {
          if (attachment.closed) return 'closed';
          const batch = await this.log.readAfter(attachment.cursor, filter, REPLAY_BATCH);
          if (!attachment.welcomed) {
            // Read after the first batch: a prune that raced with that read is then reported too.
            const prunedThrough = await this.log.prunedThrough();
            if (attachment.closed) return 'closed';
            attachment.welcomed = true;
            attachment.welcome({
              channel_id: attachment.channel.channel_id,
              resume_after: resumeAfter,
              from_seq: batch[0]?.seq ?? null,
              complete: resumeAfter >= prunedThrough,
            });
          }
          for (let i = 0; i < batch.length; i++) {
            if (attachment.closed) return 'closed';
            // Replay sends only as fast as the client reads: at most the per-client limit (plus a
            // few events, as the queue is measured every REPLAY_CHECK_EVERY events) is queued.
            // A backed-up client gives its slot back and waits outside it.
            if (i % REPLAY_CHECK_EVERY === 0 && attachment.backedUp()) return 'backed-up';
            this.deliver(attachment, batch[i], toEnvelope(batch[i]));
          }
          return batch.length < REPLAY_BATCH ? 'done' : 'more';
        });
        if (step === 'closed' || attachment.closed) return;
        if (step === 'done') break;
        if (step === 'backed-up' || attachment.backedUp()) await attachment.drained();
      }
      // Everything from here on is synchronous: no live event can slip in between.
      attachment.replaying = false;
      const buffered = attachment.buffer.sort((a, b) => a.seq - b.seq);
      attachment.buffer = [];
      for (const event of buffered) this.deliver(attachment, event, toEnvelope(event));
    } catch (err) {
      this.logger.error(
        { err, channel: attachment.channel.channel_id },
        'replay failed; closing the client so it can resume',
      );
      attachment.close('replay failed; reconnect to resume', 1011);
    }
  }

  private deliver(attachment: Attachment, event: StoredEvent, envelope: EventEnvelope): void {
    if (attachment.closed || event.seq <= attachment.cursor) return;
    attachment.send(event, envelope);
    attachment.cursor = event.seq;
    const known = this.dirtyCursors.get(attachment.channel.channel_id) ?? 0;
    if (event.seq > known) this.dirtyCursors.set(attachment.channel.channel_id, event.seq);
  }

  /** A live event, for every attachment of this node whose channel it matches. */
  onLive(event: StoredEvent, envelope: EventEnvelope): void {
    const attachments = this.byOrganisation.get(event.organisation_id);
    if (!attachments) return;
    for (const attachment of attachments) {
      if (!channelMatches(attachment.channel, event)) continue;
      if (attachment.replaying) {
        attachment.buffer.push(event);
      } else if (!attachment.backedUp()) {
        this.deliver(attachment, event, envelope);
      } else if (attachment.transport === 'socket.io') {
        this.deliver(attachment, event, envelope);
        this.confirmSlow(attachment);
      } else {
        this.dropSlow(attachment);
      }
    }
  }

  private confirmSlow(attachment: Attachment): void {
    if (attachment.slowCheck) return;
    attachment.slowCheck = setTimeout(() => {
      attachment.slowCheck = undefined;
      if (!attachment.closed && attachment.backedUp()) this.dropSlow(attachment);
    }, SOCKET_IO_SLOW_GRACE_MS);
    attachment.slowCheck.unref();
  }

  private dropSlow(attachment: Attachment): void {
    this.logger.warn(
      { channel: attachment.channel.channel_id, transport: attachment.transport },
      'closing a channel client that fell behind',
    );
    attachment.close('client too slow: reconnect with last_seq to resume', 1013);
    void this.detach(attachment);
  }

  private catchUp(channelId: string): void {
    for (const attachment of this.byChannel.get(channelId) ?? []) {
      if (!attachment.replaying) void this.replay(attachment);
    }
  }

  private closeChannel(channelId: string, reason: string): void {
    for (const attachment of [...(this.byChannel.get(channelId) ?? [])]) {
      attachment.close(reason, 1000);
      void this.detach(attachment);
    }
  }

  private closeKey(keyId: string, transport: Attachment['transport']): void {
    for (const set of [...this.byChannel.values()]) {
      for (const attachment of [...set]) {
        if (attachment.transport !== transport || attachment.principal.key_id !== keyId) continue;
        attachment.close(API_KEY_REVOKED_REASON, 1008);
        void this.detach(attachment);
      }
    }
  }

  // ---------------------------------------------------------------------------------------
  // Durable bookkeeping

  /**
   * Persists the cursors clients have moved since the last flush. Never rejects: a failed write
   * (a lost connection, a lock timeout) puts the cursors back to be retried on the next tick,
   * since it runs from a timer where a rejection would take the process down.
   */
  private async writeCursors(): Promise<void> {
    if (!this.dirtyCursors.size) return;
    const cursors = new Map(this.dirtyCursors);
    this.dirtyCursors.clear();
    try {
      await this.store.advanceCursorsAcrossTenants(cursors);
    } catch (err) {
      for (const [channelId, seq] of cursors) {
        if (seq > (this.dirtyCursors.get(channelId) ?? 0)) this.dirtyCursors.set(channelId, seq);
      }
      this.logger.warn({ err, channels: cursors.size }, 'cursor flush failed; retrying on the next tick');
    }
  }

  private async saveAttachmentCount(channelId: string): Promise<void> {
    await this.store
      .saveAttachmentsAcrossTenants(this.rpc.nodeId, new Map([[channelId, this.byChannel.get(channelId)?.size ?? 0]]))
      .catch((err) => this.logger.warn({ err }, 'could not record channel attachment'));
  }

  private async writeAttachmentCounts(): Promise<void> {
    const counts = new Map([...this.byChannel].map(([id, set]) => [id, set.size]));
    if (counts.size)
      await this.store
        .saveAttachmentsAcrossTenants(this.rpc.nodeId, counts)
        .catch((err) => this.logger.warn({ err }, 'attachment heartbeat failed'));
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
