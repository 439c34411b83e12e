import { Inject, Injectable, Logger } from '@nestjs/common';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { Counter } from 'prom-client';
import type { ExtendedError, Socket } from 'socket.io';
import type { Principal } from '../auth/principal';
import { APP_CONFIG, type AppConfig } from '../config';
import { MetricsService } from '../health/metrics.service';
import { socketRefusal, type SocketData } from './socket-auth';

/** Why a connection or socket was refused, as labelled in `herald_connections_refused_total`. */
export type RefusalReason =
  'node_full' | 'address_full' | 'sockets_per_address' | 'sockets_per_credential' | 'channel_full';

export interface SocketLease {
  /** Gives the place back; safe to call more than once. */
  release(): void;
}

export class SocketLimitError extends Error {
  readonly status = 429;
  constructor(
    message: string,
    readonly reason: RefusalReason,
  ) {
    super(message);
  }
}

/** One credential's sockets are counted together whichever transport they use: an API key by its id, a JWT by its subject. */
export function credentialKey(principal: Principal): string {
  if (principal.key_id) return `key:${principal.key_id}`;
  return `${principal.credential}:${principal.organisation_id}:${principal.user_id ?? principal.kind}`;
}

/**
 * Caps on the sockets one client may hold on this node (raw WebSockets and Socket.IO sockets
 * alike), per remote address and per credential, so one client cannot use up a node's file
 * descriptors or memory for every other tenant. A socket takes a lease before it is accepted
 * and gives it back when it closes.
 */
@Injectable()
export class SocketLimits {
  private readonly logger = new Logger('SocketLimits');
  private readonly byAddress = new Map<string, number>();
  private readonly byCredential = new Map<string, number>();
  private readonly refusals: Counter<'reason'>;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    metrics: MetricsService,
  ) {
    this.refusals = new Counter({
      name: 'herald_connections_refused_total',
      help: 'Connections and sockets refused by a limit, by reason',
      labelNames: ['reason'],
      registers: [metrics.registry],
    });
  }

  /** Counts a refusal made elsewhere (the TCP guard, a full channel). */
  refused(reason: RefusalReason): void {
    this.refusals.inc({ reason });
  }

  /** Takes a place for one more socket, or throws a `SocketLimitError` naming the limit. */
  acquire(address: string | undefined, principal: Principal): SocketLease {
    const { socketsPerAddress, socketsPerCredential } = this.config.limits;
    const addressKey = address ?? 'unknown';
    const credential = credentialKey(principal);
    if ((this.byAddress.get(addressKey) ?? 0) >= socketsPerAddress) {
      throw this.refuse(
        'sockets_per_address',
        `Too many sockets from this address (WS_MAX_SOCKETS_PER_ADDRESS is ${socketsPerAddress})`,
      );
    }
    if ((this.byCredential.get(credential) ?? 0) >= socketsPerCredential) {
      throw this.refuse(
        'sockets_per_credential',
        `Too many sockets for this credential (WS_MAX_SOCKETS_PER_CREDENTIAL is ${socketsPerCredential})`,
      );
    }
    increment(this.byAddress, addressKey);
    increment(this.byCredential, credential);
    let held = true;
    return {
      release: () => {
        if (!held) return;
        held = false;
        decrement(this.byAddress, addressKey);
        decrement(this.byCredential, credential);
      },
    };
  }

  /**
   * For a raw WebSocket upgrade: takes a place that the socket gives back when it closes (the
   * upgrade failing included). Returns the refusal to answer with 429, or null.
   */
  leaseForUpgrade(req: IncomingMessage, socket: Duplex, principal: Principal): SocketLimitError | null {
    try {
      const lease = this.acquire(req.socket.remoteAddress, principal);
      socket.once('close', () => lease.release());
      return null;
    } catch (err) {
      if (err instanceof SocketLimitError) return err;
      throw err;
    }
  }

  /**
   * Socket.IO middleware, run after authentication: a refused socket gets a `connect_error` with
   * `data.code` 429. The lease is given back when the socket disconnects, or at once if the
   * handshake never completed (a later middleware refused it, or the client left meanwhile).
   */
  middleware() {
    return (socket: Socket, next: (err?: ExtendedError) => void) => {
      let lease: SocketLease;
      try {
        lease = this.acquire(socket.handshake.address, (socket.data as SocketData).principal);
      } catch (err) {
        return next(socketRefusal(socket, 429, (err as Error).message));
      }
      socket.once('disconnect', () => lease.release());
      next();
      // Socket.IO connects (or drops) the socket on the next tick after the last middleware.
      setImmediate(() => {
        if (!socket.connected) lease.release();
      });
    };
  }

  private refuse(reason: RefusalReason, message: string): SocketLimitError {
    this.refusals.inc({ reason });
    this.logger.debug({ reason }, message);
    return new SocketLimitError(message, reason);
  }
}

function increment(map: Map<string, number>, key: string): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}

function decrement(map: Map<string, number>, key: string): void {
  const left = (map.get(key) ?? 1) - 1;
  if (left > 0) map.set(key, left);
  else map.delete(key);
}
