import { INestApplicationContext } from '@nestjs/common';
import { IoAdapter } from '@nestjs/platform-socket.io';
import { createAdapter } from '@socket.io/redis-adapter';
import type { Server, ServerOptions } from 'socket.io';
import type { AppConfig } from '../config';
import { OriginPolicy } from '../http/origins';
import { apiSecurityHeaders } from '../http/security-headers';
import { RedisConnections } from '../redis/redis.service';
import { coalesceSocketIoFlushes } from './write-coalescing';

/** Socket.IO limits (the raw WebSocket contract uses the same heartbeat and frame size for raw WebSockets). */
export const SOCKET_IO_OPTIONS: Partial<ServerOptions> = {
  path: '/socket.io',
  pingInterval: 25_000,
  pingTimeout: 20_000,
  maxHttpBufferSize: 64 * 1024,
  // Other upgrade paths (raw WebSockets) are handled by the upgrade router, not destroyed here.
  destroyUpgrade: false,
  // Channel namespaces are created from a pattern on the first handshake, before auth runs;
  // drop each one again once its last socket has gone (or was refused).
  cleanupEmptyChildNamespaces: true,
};

/**
 * The Socket.IO server on Herald's HTTP server. With Redis, the Redis adapter lets any node
 * manage sockets held by another (socketsJoin, fetchSockets, disconnectSockets); events are
 * still emitted with `io.local` on each node, since the bus already reached every node.
 */
export class HeraldIoAdapter extends IoAdapter {
  constructor(
    app: INestApplicationContext,
    private readonly config: AppConfig,
    private readonly redis: RedisConnections,
  ) {
    super(app);
  }

  override createIOServer(port: number, options?: ServerOptions): Server {
    const origins = new OriginPolicy(this.config);
    const server = super.createIOServer(port, {
      ...options,
      ...SOCKET_IO_OPTIONS,
      // The browser rules of the REST API (README "Browsers"): long-polling answers CORS_ORIGINS
      // only, and a handshake from another page's origin is refused on either transport (a
      // WebSocket is not subject to CORS, so the browser would not stop it).
      cors: origins.socketIoCors(),
      allowRequest: (req, callback) => {
        const refused = origins.refusedOrigin(req);
        callback(
          refused === undefined ? null : `Origin ${refused} is not allowed (CORS_ORIGINS)`,
          refused === undefined,
        );
      },
    } as ServerOptions);
    server.engine.use(apiSecurityHeaders());
    coalesceSocketIoFlushes(server);
    if (this.redis.enabled) {
      server.adapter(
        createAdapter(this.redis.get('io-pub'), this.redis.get('io-sub'), {
          key: socketIoAdapterKey(this.config.redisPrefix),
        }),
      );
    }
    return server;
  }
}

/** Outside the bus's `<prefix>bus:` channels, so neither side hears the other's traffic. */
export function socketIoAdapterKey(redisPrefix: string): string {
  return `${redisPrefix}socket.io`;
}
