import { Injectable } from '@nestjs/common';
import type { Namespace, Server } from 'socket.io';
import type { Principal } from '../auth/principal';
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
export class RealtimeService {
  private io?: Server;

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
