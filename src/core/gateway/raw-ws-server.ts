import {
  BeforeApplicationShutdown,
  Inject,
  Injectable,
  Logger,
  OnApplicationBootstrap,
  UnauthorizedException,
} from '@nestjs/common';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { Authenticator } from '../auth/authenticator';
import { extractCredential } from '../auth/credentials';
import { API_KEY_REVOKED_REASON, onApiKeyRevoked } from '../auth/key-revocations';
import type { Principal } from '../auth/principal';
import { EventBus, type Unsubscribe } from '../bus/event-bus';
import { APP_CONFIG, type AppConfig } from '../config';
import { problemFromException, renderProblem, RETRY_AFTER_SECONDS, statusText, type ErrorFamily } from '../http/errors';
import { OriginPolicy } from '../http/origins';
import {
  HARD_FRAME_LIMIT_BYTES,
  MAX_CLIENT_FRAME_BYTES,
  parseClientAction,
  PING,
  type ClientAction,
} from './client-frames';
import {
  CLOSE_GOING_AWAY,
  RawWebSocketConnection,
  SHUTDOWN_REASON,
  type ClientConnection,
  type ConnectionHandlers,
} from './connection';
import { logConnected, logDisconnected, logRefused, pathOf, type ConnectionLogFields } from './connection-log';
import { GatewayMetrics } from './gateway-metrics';
import { Refusal } from './refusal';
import { SocketLimits } from './socket-limits';
import { rejectUpgrade, UpgradeRouter } from './upgrade-router.service';

/** Close code for a connection whose credential stopped being valid (RFC 6455 policy violation). */
export const CLOSE_CREDENTIAL_REVOKED = 1008;

/** What an endpoint learns about an upgrade request once its credential checked out. */
export interface UpgradeRequest {
  principal: Principal;
  /** The `:name` segments of the endpoint's path. */
  params: Record<string, string>;
  query: URLSearchParams;
}

/**
 * One raw WebSocket path. The endpoint says only what is its own: who may connect and with what
 * (`accept`), which client actions it takes besides ping, and what it does with a connection.
 */
export interface RawEndpoint<C> {
  /** May contain `:name` segments, e.g. `/channels/:channel_id`. */
  path: string;
  /** The error envelope of the path's API family, for refused upgrades (docs/api-contracts.md "Error bodies"). */
  family: ErrorFamily;
  /** Client actions besides `ping`; any other gets an `unknown_action` error frame. */
  actions: readonly string[];
  /** What a client closed for falling behind is told: how to resume on this path. */
  slowReason: string;
  /**
   * Runs after the credential authenticated: authorises the request and returns what `open` needs,
   * or a refusal (answered in the family's envelope). Anything thrown is answered 500, or 503 for
   * an outage.
   */
  accept(request: UpgradeRequest): Promise<C | Refusal> | C | Refusal;
  open(connection: ClientConnection, context: C): ConnectionHandlers<ClientAction> | void;
}

/**
 * The one server for every raw WebSocket path, registered with the UpgradeRouter. It owns what
 * is the same on all of them: the credential (401), the per-client socket caps (429), refusal
 * bodies in the path's envelope, heartbeats and the idle timeout, frame limits, malformed frames
 * and ping, the slow-client limit (through the connection), closing a revoked key's connections
 * (1008) and closing everything at shutdown (1001).
 *
 * Frames: one over 64 KiB gets an `error` frame (`frame_too_large`) and the connection stays
 * open; one over 1 MiB is not read and the connection is closed with 1009. Malformed frames and
 * actions the path does not take get an `error` frame; `{"action":"ping"}` gets a `pong`.
 */
@Injectable()
export class RawWebSocketServer implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('RawWebSocketServer');
  private readonly wss = new WebSocketServer({
    noServer: true,
    // ws closes the connection with 1009 past this.
    maxPayload: HARD_FRAME_LIMIT_BYTES,
    perMessageDeflate: false,
  });
  private readonly connections = new Set<RawWebSocketConnection>();
  private readonly origins: OriginPolicy;
  private heartbeat?: NodeJS.Timeout;
  private unsubscribeRevocations?: Unsubscribe;

  constructor(
    private readonly authenticator: Authenticator,
    private readonly upgrades: UpgradeRouter,
    private readonly limits: SocketLimits,
    private readonly bus: EventBus,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly metrics: GatewayMetrics,
  ) {
    this.origins = new OriginPolicy(config);
    metrics.countWebsocketClients(() => this.connections.size);
  }

  onApplicationBootstrap(): void {
    // Every node hears the revocation and closes the connections it holds.
    this.unsubscribeRevocations = onApiKeyRevoked(this.bus, ({ key_id }) => this.closeKey(key_id));
    this.heartbeat = setInterval(() => this.beat(), this.config.websocket.heartbeatMs);
    this.heartbeat.unref();
  }

  beforeApplicationShutdown(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.unsubscribeRevocations?.();
    for (const connection of [...this.connections]) connection.close(SHUTDOWN_REASON, CLOSE_GOING_AWAY);
    this.wss.close();
  }

  /** Serves `endpoint` at its path from now on. */
  serve<C>(endpoint: RawEndpoint<C>): void {
    this.upgrades.register(endpoint.path, (req, socket, head, params) =>
      this.upgrade(endpoint, req, socket, head, params),
    );
  }

  /** Raw WebSocket connections open on this node. */
  get size(): number {
    return this.connections.size;
  }

  private async upgrade<C>(
    endpoint: RawEndpoint<C>,
    req: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    params: Record<string, string>,
  ): Promise<void> {
    const client: ConnectionLogFields = {
      transport: 'websocket',
      path: pathOf(req.url),
      address: req.socket.remoteAddress,
    };
    const refuse = (status: number, message: string, field?: string) => {
      logRefused(client, status, message);
      rejectUpgrade(
        socket,
        status,
        renderProblem(endpoint.family, { status, error: statusText(status), message }, field ?? endpoint.path),
        status === 503 ? { 'Retry-After': String(RETRY_AFTER_SECONDS) } : {},
      );
    };
    // A browser page of another origin (not Herald's, not in CORS_ORIGINS) may not open one,
    // as it may not call REST; clients that are not browsers send no Origin or Herald's own.
    const origin = this.origins.refusedOrigin(req);
    if (origin !== undefined) return refuse(403, `Origin ${origin} is not allowed (CORS_ORIGINS)`);
    const query = new URL(req.url ?? '/', 'http://localhost').searchParams;
    let principal: Principal;
    try {
      principal = await this.authenticator.authenticate(extractCredential(req.headers, query, true));
    } catch (err) {
      return refuse(401, err instanceof UnauthorizedException ? err.message : 'Authentication failed');
    }
    client.principal = principal;
    let context: C;
    try {
      const accepted = await endpoint.accept({ principal, params, query });
      if (accepted instanceof Refusal) return refuse(accepted.status, accepted.message, accepted.field);
      context = accepted;
    } catch (err) {
      if (err instanceof Refusal) return refuse(err.status, err.message, err.field);
      const problem = problemFromException(err);
      if (problem.status >= 500) this.logger.error({ err, path: endpoint.path }, 'accepting a WebSocket failed');
      return refuse(problem.status, problem.message);
    }
    if (socket.destroyed) return;
    const refused = this.limits.leaseForUpgrade(req, socket, principal);
    if (refused) return refuse(429, refused.message);
    this.wss.handleUpgrade(req, socket, head, (ws) => this.open(endpoint, ws, principal, context, client));
  }

  private open<C>(
    endpoint: RawEndpoint<C>,
    ws: WebSocket,
    principal: Principal,
    context: C,
    client: ConnectionLogFields,
  ): void {
    const connection = new RawWebSocketConnection(ws, principal, {
      maxBufferedBytes: this.config.websocket.maxBufferedBytes,
      slowReason: endpoint.slowReason,
      endpoint: endpoint.path,
      metrics: this.metrics,
    });
    const connectedAt = Date.now();
    logConnected(client);
    this.connections.add(connection);
    ws.on('error', (err) => this.logger.debug({ err, path: endpoint.path }, 'websocket error'));
    let handlers: ConnectionHandlers<ClientAction> = {};
    ws.on('message', (data, isBinary) => this.onFrame(endpoint, connection, handlers, data, isBinary));
    connection.onEnd(() => {
      this.connections.delete(connection);
      logDisconnected(client, { code: connection.closeCode }, connectedAt);
    });
    handlers = endpoint.open(connection, context) ?? {};
    connection.onEnd(() => handlers.closed?.());
  }

  private onFrame<C>(
    endpoint: RawEndpoint<C>,
    connection: RawWebSocketConnection,
    handlers: ConnectionHandlers<ClientAction>,
    data: RawData,
    isBinary: boolean,
  ): void {
    connection.heard();
    if (connection.closed) return;
    const size = Array.isArray(data)
      ? data.reduce((n, b) => n + b.length, 0)
      : (data as Buffer | ArrayBuffer).byteLength;
    if (size > MAX_CLIENT_FRAME_BYTES) {
      return connection.sendNotice({
        type: 'error',
        code: 'frame_too_large',
        message: `Frames are limited to ${MAX_CLIENT_FRAME_BYTES} bytes`,
      });
    }
    const frame = parseClientAction(isBinary ? null : data.toString(), endpoint.actions);
    if ('error' in frame) return connection.sendNotice({ type: 'error', code: frame.error, message: frame.message });
    if (frame.action === PING) return connection.sendNotice({ type: 'pong' });
    handlers.frame?.(frame);
  }

  /** Pings every connection; one silent for longer than the idle timeout is dropped. */
  private beat(): void {
    const cutoff = Date.now() - this.config.websocket.idleTimeoutMs;
    for (const connection of [...this.connections]) {
      if (connection.lastSeen < cutoff) connection.terminate();
      else connection.ping();
    }
  }

  /** Closes this node's connections that authenticated with API key `keyId`. */
  private closeKey(keyId: string): void {
    for (const connection of [...this.connections]) {
      if (connection.principal.key_id === keyId) connection.close(API_KEY_REVOKED_REASON, CLOSE_CREDENTIAL_REVOKED);
    }
  }
}
