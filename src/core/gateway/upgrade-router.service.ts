import { Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { IncomingMessage, Server as HttpServer } from 'node:http';
import type { Duplex } from 'node:stream';

export type UpgradeHandler = (req: IncomingMessage, socket: Duplex, head: Buffer, params: Record<string, string>) => void;

interface Route {
  pattern: RegExp;
  keys: string[];
  handler: UpgradeHandler;
}

/**
 * Routes HTTP upgrade requests by path to raw WebSocket endpoints registered by modules
 * (`/api/v1/ws/subscribe`, `/channels/:id`). Socket.IO's own path is left to Socket.IO;
 * anything else is answered 404 and closed.
 */
@Injectable()
export class UpgradeRouter implements OnApplicationBootstrap {
  private readonly logger = new Logger('UpgradeRouter');
  private readonly routes: Route[] = [];

  constructor(private readonly adapterHost: HttpAdapterHost) {}

  /** `path` may contain `:name` segments, e.g. `/channels/:channel_id`. */
  register(path: string, handler: UpgradeHandler): void {
    const keys: string[] = [];
    const source = path.replace(/\/:([A-Za-z_]+)/g, (_m, key: string) => {
      keys.push(key);
      return '/([^/]+)';
    });
    this.routes.push({ pattern: new RegExp(`^${source}/?$`), keys, handler });
  }

  onApplicationBootstrap(): void {
    const server = this.adapterHost.httpAdapter.getHttpServer() as HttpServer;
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.route(req, socket, head));
  }

  private route(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/socket.io' || path.startsWith('/socket.io/')) return;
    for (const route of this.routes) {
      const match = route.pattern.exec(path);
      if (!match) continue;
      let params: Record<string, string>;
      try {
        params = Object.fromEntries(route.keys.map((k, i) => [k, decodeURIComponent(match[i + 1])]));
      } catch {
        return rejectUpgrade(socket, 400, { code: 400, message: 'Malformed path' });
      }
      try {
        route.handler(req, socket, head, params);
      } catch (err) {
        this.logger.error({ err, path }, 'upgrade handler failed');
        rejectUpgrade(socket, 500, { code: 500, message: 'Internal server error' });
      }
      return;
    }
    rejectUpgrade(socket, 404, { code: 404, message: `No WebSocket endpoint at ${path}` });
  }
}

/** Answers an upgrade request with a plain HTTP error and a JSON body, then closes the socket. */
export function rejectUpgrade(socket: Duplex, status: number, body: unknown): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const json = JSON.stringify(body);
  const reason = { 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 500: 'Internal Server Error' }[status] ?? 'Error';
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(json)}\r\nConnection: close\r\n\r\n${json}`,
  );
}
