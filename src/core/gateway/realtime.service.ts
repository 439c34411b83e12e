import { Injectable, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import type { Namespace, Server, Socket } from 'socket.io';
import { API_KEY_REVOKED_REASON, onApiKeyRevoked } from '../auth/key-revocations';
import type { Principal } from '../auth/principal';
import { EventBus, type Unsubscribe } from '../bus/event-bus';
import type { ClientEventMap, ClientEventName } from './client-events';
import type { SocketData } from './socket-auth';

const SETTLE_TIMEOUT_MS = 2000;

export interface RemoteSession {
  id: string;
  principal: Principal;
  rooms: string[];
}

/**
 * The only way feature modules touch Socket.IO. Emission is local to this node (the bus has
 * already reached every node); management (join, leave, look up, disconnect) is cluster-wide
 * through the adapter.
 */
@Injectable()
export class RealtimeService implements OnApplicationBootstrap, OnApplicationShutdown {
  private io?: Server;
  private unsubscribe?: Unsubscribe;

  constructor(private readonly bus: EventBus) {}

  onApplicationBootstrap(): void {
    // Every node hears the revocation and disconnects the sockets it holds.
    this.unsubscribe = onApiKeyRevoked(this.bus, ({ key_id }) => this.disconnectKey(key_id, API_KEY_REVOKED_REASON));
  }

  onApplicationShutdown(): void {
    this.unsubscribe?.();
  }

  attach(io: Server): void {
    this.io = io;
  }

  get server(): Server {
    if (!this.io) throw new Error('Socket.IO server is not initialised yet');
    return this.io;
  }

  /** Emits once to the union of `rooms` on this node's sockets of the default namespace. */
  emitToRooms<E extends ClientEventName>(rooms: string[], event: E, payload: ClientEventMap[E]): void {
    if (!this.io || !rooms.length) return;
    this.io.local.to(rooms).emit(event, payload);
  }

  /** A namespace of the Socket.IO server, e.g. a parent namespace matched by a pattern. */
  namespace(name: string | RegExp): Namespace {
    return this.server.of(name);
  }

  /**
   * Disconnects this node's sockets that authenticated with API key `keyId`, in every
   * namespace (the default one and each channel namespace), telling each why first. Only the
   * namespace is left: other namespaces multiplexed on the same connection may use another
   * credential.
   */
  disconnectKey(keyId: string, reason: string): number {
    if (!this.io) return 0;
    // Child namespaces made from a pattern are only listed here; socket.io has no public list.
    const namespaces = (this.io as unknown as { _nsps: Map<string, Namespace> })._nsps;
    const doomed: Socket[] = [];
    for (const namespace of namespaces.values()) {
      for (const socket of namespace.sockets.values()) {
        if ((socket.data as Partial<SocketData>).principal?.key_id === keyId) doomed.push(socket);
      }
    }
    for (const socket of doomed) {
      socket.emit('closing', { reason, code: 'credential_revoked' } satisfies ClientEventMap['closing']);
      socket.disconnect();
    }
    return doomed.length;
  }

  /** Finds a default-namespace socket wherever in the cluster it lives. */
  async findSession(sessionId: string): Promise<RemoteSession | undefined> {
    const [socket] = await this.server.in(sessionId).fetchSockets();
    if (!socket || socket.id !== sessionId) return undefined;
    return { id: socket.id, principal: (socket.data as SocketData).principal, rooms: [...socket.rooms] };
  }

  /**
   * Joins a session to a room wherever it lives. For a socket on another node the adapter's
   * broadcast is asynchronous, so this waits until the membership is visible before resolving.
   */
  async joinRoom(sessionId: string, room: string): Promise<void> {
    const local = this.server.sockets.sockets.get(sessionId);
    if (local) return void local.join(room);
    this.server.in(sessionId).socketsJoin(room);
    await this.settle(sessionId, (rooms) => rooms.includes(room));
  }

  async leaveRoom(sessionId: string, room: string): Promise<void> {
    const local = this.server.sockets.sockets.get(sessionId);
    if (local) return void local.leave(room);
    this.server.in(sessionId).socketsLeave(room);
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
