import { Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { IncomingMessage, Server as HttpServer } from 'node:http';
import type { Duplex } from 'node:stream';
import { renderProblem, statusText } from '../http/errors';
import { logRefused } from './connection-log';

export type UpgradeHandler = (
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  params: Record<string, string>,
) => void | Promise<void>;

interface Route {
  pattern: RegExp;
  keys: string[];
  handler: UpgradeHandler;
}

/**
 * Routes HTTP upgrade requests by path to raw WebSocket endpoints (`/api/v1/ws/subscribe`,
 * `/channels/:id`, served by RawWebSocketServer). Socket.IO's own path is left to Socket.IO;
 * anything else is answered 404 in the standard envelope and closed.
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
    // Node hands an upgrading socket over with no 'error' listener of its own; a client that
    // resets the connection before reading our answer would otherwise crash the process.
    guardSocket(socket);
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/socket.io' || path.startsWith('/socket.io/')) return;
    for (const route of this.routes) {
      const match = route.pattern.exec(path);
      if (!match) continue;
      let params: Record<string, string>;
      try {
        params = Object.fromEntries(route.keys.map((k, i) => [k, decodeURIComponent(match[i + 1])]));
      } catch {
        logRefused({ transport: 'websocket', path, address: req.socket.remoteAddress }, 400, 'Malformed path');
        return rejectUpgrade(socket, 400, standardBody(400, 'Malformed path'));
      }
      // A handler that fails (synchronously or not) ends only this request.
      Promise.resolve()
        .then(() => route.handler(req, socket, head, params))
        .catch((err: unknown) => {
          this.logger.error({ err, path }, 'upgrade handler failed');
          rejectUpgrade(socket, 500, standardBody(500, 'Internal server error'));
        });
      return;
    }
    logRefused(
      { transport: 'websocket', path, address: req.socket.remoteAddress },
      404,
      `No WebSocket endpoint at ${path}`,
    );
    rejectUpgrade(socket, 404, standardBody(404, `No WebSocket endpoint at ${path}`));
  }
}

/** A path no endpoint owns has no family of its own: the standard envelope. */
function standardBody(status: number, message: string) {
  return renderProblem('standard', { status, error: statusText(status), message }, '');
}

/** A refused client that never reads its answer is cut off after this. */
const REJECT_LINGER_MS = 1000;

/** Errors on a socket Herald holds during an upgrade (a reset, a write after the peer left) only end that socket. */
export function guardSocket(socket: Duplex): void {
  if (!socket.listeners('error').includes(destroyOnError)) socket.on('error', destroyOnError);
}

function destroyOnError(this: Duplex): void {
  this.destroy();
}

/** Answers an upgrade request with a plain HTTP error and a JSON body, then closes the socket. */
export function rejectUpgrade(
  socket: Duplex,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  guardSocket(socket);
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const json = JSON.stringify(body);
  const reason = statusText(status);
  const extra = Object.entries(headers)
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('');
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(json)}\r\n${extra}Connection: close\r\n\r\n${json}`,
  );
  setTimeout(() => socket.destroy(), REJECT_LINGER_MS).unref();
}
