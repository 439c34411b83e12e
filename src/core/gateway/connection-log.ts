import { Logger } from '@nestjs/common';
import type { Socket } from 'socket.io';
import type { Principal } from '../auth/principal';
import { callerOf } from '../logging/logger';
import type { Transport } from './connection';
import type { SocketData } from './socket-auth';

/**
 * One log line per client connection accepted (`info`), refused (`warn`) and ended (`info`), on
 * both transports, with who it was (key id, organisation, user) and where it came from; never
 * the credential. Paths are logged without their query string, which may carry `access_token`.
 */
const logger = new Logger('Connections');

export interface ConnectionLogFields {
  transport: Transport;
  /** The Socket.IO namespace, or the raw WebSocket path without its query. */
  path: string;
  address: string | undefined;
  principal?: Principal;
}

function fields({ transport, path, address, principal }: ConnectionLogFields) {
  return { transport, path, address: address ?? null, ...(principal ? { caller: callerOf(principal) } : {}) };
}

export function logConnected(connection: ConnectionLogFields): void {
  logger.log(fields(connection), 'client connected');
}

/** A connection turned away, with the status and message the client was given. */
export function logRefused(connection: ConnectionLogFields, status: number, reason: string): void {
  logger.warn({ ...fields(connection), status, reason }, 'client refused');
}

/** `ended` is a Socket.IO disconnect reason, or a raw WebSocket close code. */
export function logDisconnected(
  connection: ConnectionLogFields,
  ended: { reason?: string; code?: number },
  connectedAt: number,
): void {
  logger.log({ ...fields(connection), ...ended, duration_ms: Date.now() - connectedAt }, 'client disconnected');
}

/** The path of a request URL, without the query string. */
export function pathOf(url: string | undefined): string {
  return (url ?? '/').split('?')[0];
}

/** A Socket.IO socket as the connection log shows it. */
export function socketFields(socket: Socket): ConnectionLogFields {
  return {
    transport: 'socket.io',
    path: socket.nsp.name,
    address: socket.handshake.address,
    principal: (socket.data as Partial<SocketData>).principal,
  };
}

/** Shared by every socket (no closure per socket): `this` is the socket that disconnected. */
function onSocketDisconnect(this: Socket, reason: string): void {
  logDisconnected(socketFields(this), { reason }, this.handshake.issued);
}

/** Logs an accepted Socket.IO socket now, and its end when it disconnects. */
export function logSocketLifetime(socket: Socket): void {
  logConnected(socketFields(socket));
  socket.on('disconnect', onSocketDisconnect);
}
