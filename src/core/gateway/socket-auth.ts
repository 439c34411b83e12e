import { UnauthorizedException } from '@nestjs/common';
import type { Socket } from 'socket.io';
import type { ExtendedError } from 'socket.io';
import type { Authenticator } from '../auth/authenticator';
import { extractCredential } from '../auth/credentials';
import { hasScope, type Principal, type Scope } from '../auth/principal';
import { logRefused, socketFields } from './connection-log';

export interface SocketData {
  principal: Principal;
}

/** The credential of a Socket.IO handshake: `auth.token`, then headers, then `access_token`. */
export function handshakeCredential(socket: Socket): string | undefined {
  const auth = socket.handshake.auth as Record<string, unknown> | undefined;
  if (typeof auth?.token === 'string' && auth.token) return auth.token.replace(/^Bearer\s+/i, '');
  return extractCredential(socket.handshake.headers, socket.handshake.query as Record<string, unknown>, true);
}

/**
 * A handshake refused with `status`: what the client's `connect_error` carries (`data.code`,
 * `data.message`). The refusal is logged (without the credential).
 */
export function socketRefusal(socket: Socket, status: number, message: string): ExtendedError {
  logRefused(socketFields(socket), status, message);
  const error = new Error(message) as ExtendedError;
  error.data = { code: status, message };
  return error;
}

/** Socket.IO middleware: refuse the connection with a clear `connect_error` unless authenticated. */
export function socketAuthMiddleware(authenticator: Authenticator) {
  return (socket: Socket, next: (err?: ExtendedError) => void) => {
    authenticator.authenticate(handshakeCredential(socket)).then(
      (principal) => {
        (socket.data as SocketData).principal = principal;
        next();
      },
      (err) => {
        const message = err instanceof UnauthorizedException ? err.message : 'Authentication failed';
        next(socketRefusal(socket, 401, message));
      },
    );
  };
}

/** Socket.IO middleware, after authentication: refuse (`connect_error` with code 403) a credential holding none of `scopes`. */
export function requireAnyScope(scopes: Scope[]) {
  return (socket: Socket, next: (err?: ExtendedError) => void) => {
    const { principal } = socket.data as SocketData;
    if (scopes.some((scope) => hasScope(principal, scope))) return next();
    next(socketRefusal(socket, 403, `Missing scope: one of ${scopes.join(', ')}`));
  };
}
