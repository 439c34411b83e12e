import { OnGatewayConnection, OnGatewayInit, WebSocketGateway, WebSocketServer } from '@nestjs/websockets';
import type { Server, Socket } from 'socket.io';
import { Authenticator } from '../auth/authenticator';
import { receivesEvents, seesWholeOrganisation } from '../auth/principal';
import { logSocketLifetime } from './connection-log';
import { RealtimeService } from './realtime.service';
import { NAMED_ROOM, rooms } from './rooms';
import { requireAnyScope, socketAuthMiddleware, type SocketData } from './socket-auth';
import { SocketLimits } from './socket-limits';

/**
 * The default Socket.IO namespace: authenticates the handshake, and puts each socket in its
 * organisation's rooms and, for users, its user's room. Nothing else happens here.
 */
@WebSocketGateway()
export class EventsGateway implements OnGatewayInit, OnGatewayConnection {
  /** For tests and diagnostics only: feature code reaches Socket.IO through RealtimeService. */
  @WebSocketServer() readonly server!: Server;

  constructor(
    private readonly authenticator: Authenticator,
    private readonly realtime: RealtimeService,
    private readonly limits: SocketLimits,
  ) {}

  afterInit(server: Server): void {
    server.use(socketAuthMiddleware(this.authenticator));
    // Events need events:read; session rooms (seed 004) are joined over REST and need users.read.
    server.use(requireAnyScope(['events:read', 'users.read']));
    server.use(this.limits.middleware());
    this.realtime.attach(server);
  }

  handleConnection(socket: Socket): void {
    logSocketLifetime(socket);
    const { principal } = socket.data as SocketData;
    // A socket without events:read (one that came for session rooms) joins none of the event rooms.
    if (!receivesEvents(principal)) return;
    const joined = [rooms.organisation(principal.organisation_id)];
    if (principal.user_id) joined.push(rooms.user(principal.organisation_id, principal.user_id));
    if (seesWholeOrganisation(principal)) joined.push(rooms.organisationEvents(principal.organisation_id));
    const requested = (socket.handshake.auth as { rooms?: unknown } | undefined)?.rooms;
    const named = Array.isArray(requested)
      ? requested.filter((r): r is string => typeof r === 'string' && NAMED_ROOM.test(r)).slice(0, 20)
      : [];
    for (const workspace of principal.workspace_ids) {
      joined.push(rooms.workspace(principal.organisation_id, workspace));
      for (const room of named) joined.push(rooms.workspace(principal.organisation_id, workspace, room));
    }
    void socket.join(joined);
  }
}
