import { Logger } from '@nestjs/common';
import type { Socket } from 'socket.io';
import { WebSocket } from 'ws';
import type { Principal } from '../auth/principal';
import type { EventEnvelope } from '../event-log/envelope';
import type { ClientEventMap, Notice, RawServerFrame } from './client-events';
import type { GatewayMetrics } from './gateway-metrics';
import { pendingBytes, waitForSocketDrain, waitUntilDrained } from './socket-buffer';
import { coalesceUntilNextTick, writeHeldFrames } from './write-coalescing';

export type Transport = 'websocket' | 'socket.io';

/**
 * One client connection, whichever transport carries it. Feature code sends and closes through
 * this and never touches a `ws` socket or a Socket.IO socket itself, so both transports get the
 * same per-client limit and the same slow-client rule.
 */
export interface ClientConnection {
  readonly transport: Transport;
  readonly principal: Principal;
  /** Set once the connection is closed, by either side; nothing is sent after that. */
  readonly closed: boolean;
  /**
   * Queues an event now, without checking the per-client limit: for a sender that paces
   * itself with `backedUp()` and `drained()` (a replay). Live senders call `droppedAsSlow()` first.
   */
  sendEvent(envelope: EventEnvelope): void;
  /** A welcome, or a reply to a client frame; a raw WebSocket over its limit is closed instead (1013). */
  sendNotice(notice: Notice): void;
  /** Bytes queued for the client that have not reached the network yet. */
  bufferedBytes(): number;
  /** Whether `bufferedBytes()` is over the per-client limit (WS_MAX_BUFFERED_BYTES). */
  backedUp(): boolean;
  /**
   * The slow-client rule, applied before a live send; true means do not send. A raw WebSocket
   * over its limit is closed with 1013 at once. A Socket.IO socket is still sent to and is
   * closed only if it is still over the limit a moment later, since engine.io queues a whole
   * tick's emits until its previous write completes and a fast client briefly reads as backed up.
   * A connection already closed (or closing) is never sent to.
   */
  droppedAsSlow(): boolean;
  /** Resolves once the client can take more again (below half the limit), or is gone. */
  drained(): Promise<void>;
  /** Tells the client why (a `closed` frame, or a `closing` event), then closes. */
  close(reason: string, code?: number): void;
}

/** What the owner of an endpoint does with one of its connections after opening it. */
export interface ConnectionHandlers<F = never> {
  /** A client frame the endpoint accepts (raw WebSockets only; ping is answered by the server). */
  frame?(frame: F): void;
  /** Called once when the connection closes, by either side. */
  closed?(): void;
}

export interface ConnectionOptions {
  /** WS_MAX_BUFFERED_BYTES. */
  maxBufferedBytes: number;
  /** The reason a slow client is closed with: how to resume on this endpoint. */
  slowReason: string;
  /** The endpoint, for logs. */
  endpoint: string;
  /** Counts the events sent (herald_fanout_messages_total). */
  metrics: Pick<GatewayMetrics, 'messagesSent'>;
}

/** Code for a client closed for falling behind (RFC 6455 "try again later"). */
export const CLOSE_TOO_SLOW = 1013;
/** Code when the node shuts down (RFC 6455 "going away"); a Socket.IO client's `closing` says `server_shutdown`. */
export const CLOSE_GOING_AWAY = 1001;
/** What every client is told when the node shuts down. */
export const SHUTDOWN_REASON = 'server shutting down';
/** A client that does not answer our close frame within this is cut off. */
const CLOSE_GRACE_MS = 1000;
/** How long a Socket.IO socket may read as backed up before it is closed (see droppedAsSlow). */
export const SOCKET_IO_SLOW_GRACE_MS = 100;

const logger = new Logger('ClientConnection');

/** Shared by every transport: the closed flag and the one-time close callbacks. */
abstract class BaseConnection {
  private ended = false;
  private readonly endListeners: (() => void)[] = [];

  constructor(
    readonly principal: Principal,
    protected readonly options: ConnectionOptions,
  ) {}

  get closed(): boolean {
    return this.ended;
  }

  abstract bufferedBytes(): number;

  backedUp(): boolean {
    return this.bufferedBytes() > this.options.maxBufferedBytes;
  }

  /** Runs `listener` once, when the connection closes (at once if it already has). */
  onEnd(listener: () => void): void {
    if (this.ended) listener();
    else this.endListeners.push(listener);
  }

  protected end(): void {
    if (this.ended) return;
    this.ended = true;
    for (const listener of this.endListeners.splice(0)) listener();
  }

  protected logSlow(transport: Transport): void {
    logger.warn(
      { endpoint: this.options.endpoint, transport, buffered: this.bufferedBytes() },
      'closing a client that fell behind',
    );
  }
}

/**
 * The text of an event frame, built once per envelope: the live path hands the same envelope
 * object to every connection the event reaches.
 */
const eventFrames = new WeakMap<EventEnvelope, string>();

function eventFrame(envelope: EventEnvelope): string {
  let frame = eventFrames.get(envelope);
  if (frame === undefined) {
    frame = JSON.stringify({ type: 'event', event: envelope } satisfies RawServerFrame);
    eventFrames.set(envelope, frame);
  }
  return frame;
}

/** A raw WebSocket: JSON text frames (`welcome`, `event`, `error`, `pong`, `subscriptions`, `closed`). */
export class RawWebSocketConnection extends BaseConnection implements ClientConnection {
  readonly transport = 'websocket';
  /** When the client was last heard from (any frame, or a pong), for the idle timeout. */
  lastSeen = Date.now();
  /** How it closed, once it has: the code the server closed with, the client's, or 1006 for a dropped connection. */
  closeCode?: number;

  constructor(
    private readonly ws: WebSocket,
    principal: Principal,
    options: ConnectionOptions,
  ) {
    super(principal, options);
    ws.on('close', (code) => {
      this.closeCode ??= code;
      this.end();
    });
    ws.on('pong', () => this.heard());
  }

  heard(): void {
    this.lastSeen = Date.now();
  }

  private get open(): boolean {
    return !this.closed && this.ws.readyState === WebSocket.OPEN;
  }

  sendEvent(envelope: EventEnvelope): void {
    if (!this.open) return;
    coalesceUntilNextTick(this.ws);
    this.ws.send(eventFrame(envelope));
    this.options.metrics.messagesSent(this.transport);
  }

  /** Replies are held to the same limit as events: a client that pings but never reads cannot grow its backlog. */
  sendNotice(notice: Notice): void {
    if (!this.droppedAsSlow()) this.send(notice);
  }

  /** What the kernel has not taken: frames held back for coalescing are written first, so they never count. */
  bufferedBytes(): number {
    writeHeldFrames(this.ws);
    return this.ws.bufferedAmount;
  }

  droppedAsSlow(): boolean {
    if (!this.open) return true;
    if (!this.backedUp()) return false;
    this.logSlow(this.transport);
    this.close(this.options.slowReason, CLOSE_TOO_SLOW);
    return true;
  }

  drained(): Promise<void> {
    return waitUntilDrained(
      () => this.bufferedBytes(),
      () => !this.open,
      this.options.maxBufferedBytes / 2,
    );
  }

  close(reason: string, code = 1000): void {
    if (this.closed) return;
    this.closeCode = code;
    if (this.ws.readyState === WebSocket.OPEN) this.send({ type: 'closed', reason });
    this.ws.close(code, reason);
    setTimeout(() => this.ws.terminate(), CLOSE_GRACE_MS).unref();
    this.end();
  }

  /** Heartbeat: a ping, answered by a pong that counts as hearing from the client. */
  ping(): void {
    if (this.open) this.ws.ping();
  }

  /** Drops a silent client without a close handshake. */
  terminate(): void {
    if (!this.closed) this.closeCode ??= 1006;
    this.ws.terminate();
    this.end();
  }

  private send(frame: RawServerFrame): void {
    this.ws.send(JSON.stringify(frame));
  }
}

/** A Socket.IO socket: events under their type, `welcome` and `closing` events. */
export class SocketIoConnection extends BaseConnection implements ClientConnection {
  readonly transport = 'socket.io';
  private slowCheck?: NodeJS.Timeout;

  constructor(
    private readonly socket: Socket,
    principal: Principal,
    options: ConnectionOptions,
  ) {
    super(principal, options);
    socket.once('disconnect', () => this.end());
  }

  sendEvent(envelope: EventEnvelope): void {
    if (this.closed) return;
    this.socket.emit(envelope.type, envelope);
    this.options.metrics.messagesSent(this.transport);
  }

  sendNotice(notice: Notice): void {
    if (this.closed) return;
    // Only a channel namespace welcomes; the other notices answer raw WebSocket client frames.
    if (notice.type === 'welcome' && 'channel_id' in notice) {
      const { type: _type, ...welcome } = notice;
      this.emit('welcome', welcome);
    }
  }

  bufferedBytes(): number {
    return pendingBytes(this.socket);
  }

  droppedAsSlow(): boolean {
    if (this.closed) return true;
    if (this.slowCheck || !this.backedUp()) return false;
    this.slowCheck = setTimeout(() => {
      this.slowCheck = undefined;
      if (this.closed || !this.backedUp()) return;
      this.logSlow(this.transport);
      this.close(this.options.slowReason);
    }, SOCKET_IO_SLOW_GRACE_MS);
    this.slowCheck.unref();
    return false;
  }

  drained(): Promise<void> {
    return waitForSocketDrain(this.socket, this.options.maxBufferedBytes / 2);
  }

  /**
   * Socket.IO has no close code: the `closing` event carries the reason (and at shutdown the
   * code `server_shutdown`, as revocation sends `credential_revoked`). At shutdown only this
   * namespace is left, so the other namespaces multiplexed on the same connection can still be
   * told before the connection closes (RealtimeService); otherwise the whole connection goes.
   */
  close(reason: string, code?: number): void {
    if (this.closed) return;
    if (code === CLOSE_GOING_AWAY) {
      this.emit('closing', { reason, code: 'server_shutdown' });
      this.socket.disconnect();
    } else {
      this.emit('closing', { reason });
      this.socket.disconnect(true);
    }
    this.end();
  }

  private emit<E extends keyof ClientEventMap>(event: E, payload: ClientEventMap[E]): void {
    this.socket.emit(event as string, payload);
  }
}
