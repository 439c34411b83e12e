import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import type { LimitsConfig } from '../config';

/** How often Node looks for requests whose headers are overdue (its default is 30 s). */
const TIMEOUT_CHECK_MS = 1000;
/** The whole request, body included, must have arrived within this (or the headers timeout, if longer). */
const REQUEST_TIMEOUT_MS = 60_000;
/** Refusals are logged at most once per address (and once for the node-wide cap) in this window. */
const REFUSAL_LOG_WINDOW_MS = 60_000;
/** With no MAX_CONNECTIONS, connections are capped at this share of the open-files limit, leaving room for the database, Redis, webhooks and files. */
const AUTO_SHARE_OF_FD_LIMIT = 0.8;

export type ConnectionRefusal = 'node_full' | 'address_full';

/**
 * TCP-level limits of the HTTP server, before any request is parsed: a short headers timeout
 * (so a slowloris client holds a connection for seconds, not minutes), a cap per remote address,
 * and a node-wide cap below the open-files limit so a flood is refused before `accept` fails for
 * everyone. Past a cap the new connection is closed at once: there is no request yet to answer.
 */
export function guardConnections(
  server: Server,
  limits: LimitsConfig,
  logger: Logger,
  onRefused: (reason: ConnectionRefusal) => void,
): void {
  server.headersTimeout = limits.headersTimeoutMs;
  server.requestTimeout = Math.max(REQUEST_TIMEOUT_MS, limits.headersTimeoutMs);
  // Read by Node when the server starts listening.
  (server as Server & { connectionsCheckingInterval: number }).connectionsCheckingInterval = Math.min(
    TIMEOUT_CHECK_MS,
    limits.headersTimeoutMs,
  );

  const maxConnections = limits.maxConnections || autoMaxConnections();
  if (maxConnections) server.maxConnections = maxConnections;
  const lastLogged = new Map<string, number>();
  const logRefusal = (key: string, fields: Record<string, unknown>, message: string) => {
    const now = Date.now();
    if (now - (lastLogged.get(key) ?? 0) < REFUSAL_LOG_WINDOW_MS) return;
    if (lastLogged.size > 10_000) lastLogged.clear();
    lastLogged.set(key, now);
    logger.warn(fields, message);
  };
  server.on('drop', () => {
    onRefused('node_full');
    logRefusal('*', { max_connections: maxConnections }, 'refusing connections: the node is at MAX_CONNECTIONS');
  });

  const perAddress = new Map<string, number>();
  server.on('connection', (socket: Socket) => {
    const address = socket.remoteAddress ?? 'unknown';
    const open = (perAddress.get(address) ?? 0) + 1;
    if (open > limits.maxConnectionsPerAddress) {
      onRefused('address_full');
      logRefusal(
        address,
        { address, max: limits.maxConnectionsPerAddress },
        'refusing connections: address at MAX_CONNECTIONS_PER_ADDRESS',
      );
      socket.destroy();
      return;
    }
    perAddress.set(address, open);
    socket.once('close', () => {
      const left = (perAddress.get(address) ?? 1) - 1;
      if (left > 0) perAddress.set(address, left);
      else perAddress.delete(address);
    });
  });
}

/** 80 % of this process's soft open-files limit, or 0 (no cap) where it cannot be read. */
export function autoMaxConnections(limitsFile = '/proc/self/limits'): number {
  try {
    const line = readFileSync(limitsFile, 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max open files'));
    const soft = Number(/^Max open files\s+(\d+)/.exec(line ?? '')?.[1]);
    return Number.isFinite(soft) && soft > 0 ? Math.floor(soft * AUTO_SHARE_OF_FD_LIMIT) : 0;
  } catch {
    return 0;
  }
}
