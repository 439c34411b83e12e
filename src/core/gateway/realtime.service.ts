import {
  BeforeApplicationShutdown,
  Inject,
  Injectable,
  Logger,
  OnApplicationBootstrap,
  OnApplicationShutdown,
} from '@nestjs/common';
import type { ExtendedError, Server, Socket } from 'socket.io';
import type { WebSocket } from 'ws';
import { Authenticator } from '../auth/authenticator';
import { API_KEY_REVOKED_REASON, onApiKeyRevoked } from '../auth/key-revocations';
import type { Principal } from '../auth/principal';
import { EventBus, type Unsubscribe } from '../bus/event-bus';
import { APP_CONFIG, type AppConfig } from '../config';
import { problemFromException } from '../http/errors';
import type { ClientEvent, ClientEventMap, ClientEventName } from './client-events';
import {
  CLOSE_GOING_AWAY,
  SHUTDOWN_REASON,
  SocketIoConnection,
  type ClientConnection,
  type ConnectionHandlers,
} from './connection';
import { logSocketLifetime } from './connection-log';
import { GatewayMetrics } from './gateway-metrics';
import { Refusal } from './refusal';
import { socketAuthMiddleware, socketRefusal, type SocketData } from './socket-auth';
import { SocketLimits } from './socket-limits';

const SETTLE_TIMEOUT_MS = 2000;
/** How long shutdown waits for the `closing` notices to reach clients that read slowly. */
const NOTICE_FLUSH_MS = 2000;

/** An engine.io connection, which carries one or more namespaces' sockets. */
type EngineSocket = Socket['conn'];

/** The `ws` socket under an engine.io connection, while it is carried over WebSocket. */
function webSocketOf(conn: EngineSocket): WebSocket | undefined {
  return conn.transport.name === 'websocket' ? (conn.transport as unknown as { socket?: WebSocket }).socket : undefined;
}

/**
 * Resolves once the peer has seen the end of `conn`: over WebSocket, when the closing handshake
 * is over (the client read everything sent before the close frame, then answered it); over
 * long-polling, which has no such answer, when engine.io closes it. engine.io reports its own
 * `close` as soon as it has asked the WebSocket to close, which is too early to tell.
 */
function closedByPeer(conn: EngineSocket): Promise<void> {
  const ws = webSocketOf(conn);
  if (ws) return ws.readyState === ws.CLOSED ? Promise.resolve() : new Promise((r) => ws.once('close', () => r()));
  return conn.readyState === 'closed' ? Promise.resolve() : new Promise((r) => conn.once('close', () => r()));
}

export interface RemoteSession {
  id: string;
  principal: Principal;
  rooms: string[];
}

/** What a namespace endpoint learns about a handshake once its credential checked out. */
export interface NamespaceHandshake {
  /** The namespace's name, e.g. `/channels/chan_…`. */
  namespace: string;
  principal: Principal;
  /** The client's `auth` object and query string. */
  auth: Record<string, unknown>;
  query: Record<string, unknown>;
}

/** A family of Socket.IO namespaces named by a pattern, served for a feature module. */
export interface NamespaceEndpoint<C> {
  /** What a client closed for falling behind is told: how to resume. */
  slowReason: string;
  /**
   * Runs after the handshake's credential authenticated and before the socket caps: returns what
   * `open` needs, or a refusal (a `connect_error` with `data.code` its status).
   */
  authorise(handshake: NamespaceHandshake): Promise<C | Refusal> | C | Refusal;
  open(connection: ClientConnection, context: C): ConnectionHandlers | void;
}

interface ServedSocketData extends SocketData {
  context: unknown;
}

/**
 * The only way feature modules touch Socket.IO. Emission is local to this node (the bus has
 * already reached every node); management (join, leave, look up, disconnect) is cluster-wide
 * through the adapter. Feature code never holds the server or a namespace: it emits to rooms,
 * manages sessions by id, or serves a namespace pattern and gets `ClientConnection`s.
 */
@Injectable()
export class RealtimeService implements OnApplicationBootstrap, BeforeApplicationShutdown, OnApplicationShutdown {
  private readonly logger = new Logger('RealtimeService');
  private io?: Server;
  private unsubscribe?: Unsubscribe;
  /** Namespace patterns asked for before the Socket.IO server existed. */
  private readonly pending: (() => void)[] = [];
  /** Sockets of the namespaces served through `serveNamespace`; socket.io has no public list of child namespaces. */
  private readonly served = new Map<Socket, SocketIoConnection>();

  constructor(
    private readonly bus: EventBus,
    private readonly authenticator: Authenticator,
    private readonly limits: SocketLimits,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly metrics: GatewayMetrics,
  ) {
    metrics.countSocketIoSockets(() => (this.io?.sockets.sockets.size ?? 0) + this.served.size);
  }

  onApplicationBootstrap(): void {
    // Every node hears the revocation and disconnects the sockets it holds.
    this.unsubscribe = onApiKeyRevoked(this.bus, ({ key_id }) => this.disconnectKey(key_id, API_KEY_REVOKED_REASON));
  }

  /**
   * Tells every Socket.IO client that the node is going away, with the `closing` notice
   * revocation uses (`code: "server_shutdown"`), before Socket.IO closes. Every notice goes out
   * before any connection closes, since namespaces multiplexed on one connection share it and
   * nothing can be sent on a connection once its close has begun. A default-namespace client's
   * connection is dropped rather than disconnected by the server, so socket.io-client reconnects
   * by itself, to whichever node answers. A connection closes once what was queued for it has
   * been written, and over WebSocket the client answers the close frame only after it has read
   * everything before it; this waits for those answers (at most NOTICE_FLUSH_MS), because
   * Socket.IO's own close, which comes next, discards whatever is still queued, and the process
   * exits soon after.
   */
  async beforeApplicationShutdown(): Promise<void> {
    if (!this.io) return;
    const notice = { reason: SHUTDOWN_REASON, code: 'server_shutdown' } satisfies ClientEventMap['closing'];
    for (const socket of this.io.sockets.sockets.values()) socket.emit('closing', notice);
    // Served namespaces (channels) are left namespace by namespace, as their owners close them.
    for (const connection of [...this.served.values()]) connection.close(SHUTDOWN_REASON, CLOSE_GOING_AWAY);
    // Every connection, including those whose channel namespace was closed before this ran
    // (engine.io's map of them is public at run time, only its typing says protected).
    const connections = Object.values((this.io.engine as unknown as { clients: Record<string, EngineSocket> }).clients);
    const closed = connections.map(closedByPeer);
    for (const conn of connections) conn.close();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all(closed),
      new Promise<void>((resolve) => (timer = setTimeout(resolve, NOTICE_FLUSH_MS))),
    ]).finally(() => clearTimeout(timer));
    // A client that has not answered by now had its chance; without this the HTTP server's close
    // would wait out the WebSocket's own closing timeout (30 s) on its behalf.
    for (const conn of connections) webSocketOf(conn)?.terminate();
  }

  onApplicationShutdown(): void {
    this.unsubscribe?.();
  }

  /** Called once by the gateway with the server it was given. */
  attach(io: Server): void {
    this.io = io;
    for (const serve of this.pending.splice(0)) serve();
  }

  private server(): Server {
    if (!this.io) throw new Error('Socket.IO server is not initialised yet');
    return this.io;
  }

  /** Emits a fixed event (`notification`, …) once to the union of `rooms` on this node's sockets of the default namespace. */
  emitToRooms<E extends ClientEventName>(rooms: string[], event: E, payload: ClientEventMap[E]): void {
    if (!this.io || !rooms.length) return;
    this.io.local.to(rooms).emit(event, payload);
    this.metrics.messagesSent('socket.io', this.reach(rooms));
  }

  /**
   * Emits an event once, under its type, to the union of `rooms` on this node's sockets of the
   * default namespace. Nothing is emitted when none of them has a socket here: Socket.IO encodes
   * a broadcast before it looks for recipients, and every node sees every event of the bus.
   */
  emitEventToRooms(rooms: string[], event: ClientEvent): void {
    if (!this.io || !rooms.length) return;
    const reached = this.reach(rooms);
    if (!reached) return;
    this.io.local.to(rooms).emit(event.type, event);
    this.metrics.messagesSent('socket.io', reached);
  }

  /**
   * How many of this node's default-namespace sockets an emit to `rooms` reached: a socket in
   * several of them gets the message once. Only the common case of several non-empty rooms
   * builds a set.
   */
  private reach(rooms: string[]): number {
    const members = this.io!.sockets.adapter.rooms;
    let only: Set<string> | undefined;
    let union: Set<string> | undefined;
    for (const room of rooms) {
      const ids = members.get(room);
      if (!ids?.size) continue;
      if (!only) {
        only = ids;
        continue;
      }
      union ??= new Set(only);
      for (const id of ids) union.add(id);
    }
    return union?.size ?? only?.size ?? 0;
  }

  /**
   * Serves every namespace whose name matches `pattern` (created on its first handshake): the
   * handshake's credential is authenticated (401), the endpoint authorises it, the per-client
   * socket caps apply (429), and the endpoint gets each accepted socket as a connection.
   */
  serveNamespace<C>(pattern: RegExp, endpoint: NamespaceEndpoint<C>): void {
    const serve = () => {
      const namespace = this.server().of(pattern);
      namespace.use(socketAuthMiddleware(this.authenticator));
      namespace.use((socket, next) => void this.authorise(endpoint, socket, next));
      namespace.use(this.limits.middleware());
      namespace.on('connection', (socket) => this.open(endpoint, socket));
    };
    if (this.io) serve();
    else this.pending.push(serve);
  }

  private async authorise<C>(
    endpoint: NamespaceEndpoint<C>,
    socket: Socket,
    next: (err?: ExtendedError) => void,
  ): Promise<void> {
    const data = socket.data as ServedSocketData;
    let refusal: Refusal;
    try {
      const accepted = await endpoint.authorise({
        namespace: socket.nsp.name,
        principal: data.principal,
        auth: (socket.handshake.auth as Record<string, unknown> | undefined) ?? {},
        query: socket.handshake.query,
      });
      if (!(accepted instanceof Refusal)) {
        data.context = accepted;
        return next();
      }
      refusal = accepted;
    } catch (err) {
      if (err instanceof Refusal) refusal = err;
      else {
        const problem = problemFromException(err);
        if (problem.status >= 500)
          this.logger.error({ err, namespace: socket.nsp.name }, 'authorising a socket failed');
        refusal = new Refusal(problem.status, problem.message);
      }
    }
    next(socketRefusal(socket, refusal.status, refusal.message));
  }

  private open<C>(endpoint: NamespaceEndpoint<C>, socket: Socket): void {
    const { principal, context } = socket.data as ServedSocketData;
    const connection = new SocketIoConnection(socket, principal, {
      maxBufferedBytes: this.config.websocket.maxBufferedBytes,
      slowReason: endpoint.slowReason,
      endpoint: socket.nsp.name,
      metrics: this.metrics,
    });
    logSocketLifetime(socket);
    this.served.set(socket, connection);
    connection.onEnd(() => this.served.delete(socket));
    const handlers = endpoint.open(connection, context as C) ?? {};
    connection.onEnd(() => handlers.closed?.());
  }

  /**
   * Disconnects this node's sockets that authenticated with API key `keyId`, in every
   * namespace (the default one and each served one), telling each why first. Only the
   * namespace is left: other namespaces multiplexed on the same connection may use another
   * credential.
   */
  disconnectKey(keyId: string, reason: string): number {
    if (!this.io) return 0;
    const doomed = [...this.io.sockets.sockets.values(), ...this.served.keys()].filter(
      (socket) => (socket.data as Partial<SocketData>).principal?.key_id === keyId,
    );
    for (const socket of doomed) {
      socket.emit('closing', { reason, code: 'credential_revoked' } satisfies ClientEventMap['closing']);
      socket.disconnect();
    }
    return doomed.length;
  }

  /** Finds a default-namespace socket wherever in the cluster it lives. */
  async findSession(sessionId: string): Promise<RemoteSession | undefined> {
    const [socket] = await this.server().in(sessionId).fetchSockets();
    if (!socket || socket.id !== sessionId) return undefined;
    return { id: socket.id, principal: (socket.data as SocketData).principal, rooms: [...socket.rooms] };
  }

  /**
   * Joins a session to a room wherever it lives. For a socket on another node the adapter's
   * broadcast is asynchronous, so this waits until the membership is visible before resolving.
   */
  async joinRoom(sessionId: string, room: string): Promise<void> {
    const local = this.server().sockets.sockets.get(sessionId);
    if (local) return void local.join(room);
    this.server().in(sessionId).socketsJoin(room);
    await this.settle(sessionId, (rooms) => rooms.includes(room));
  }

  async leaveRoom(sessionId: string, room: string): Promise<void> {
    const local = this.server().sockets.sockets.get(sessionId);
    if (local) return void local.leave(room);
    this.server().in(sessionId).socketsLeave(room);
    await this.settle(sessionId, (rooms) => !rooms.includes(room));
  }

  private async settle(sessionId: string, done: (rooms: string[]) => boolean): Promise<void> {
    const deadline = Date.now() + SETTLE_TIMEOUT_MS;
    while (Date.now() < deadline) {
      const session = await this.findSession(sessionId);
      if (!session || done(session.rooms)) return;
      await new Promise((r) => setTimeout(r, 10));
    }
  }
}
