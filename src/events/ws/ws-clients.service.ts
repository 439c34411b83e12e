import {
  ForbiddenException,
  Inject,
  Injectable,
  Logger,
  NotFoundException,
  OnApplicationBootstrap,
  BeforeApplicationShutdown,
  UnauthorizedException,
} from '@nestjs/common';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import { Authenticator } from '../../core/auth/authenticator';
import { extractCredential } from '../../core/auth/credentials';
import { API_KEY_REVOKED_REASON, onApiKeyRevoked } from '../../core/auth/key-revocations';
import { readerOf, readsEvent, receivesEvents, type Principal } from '../../core/auth/principal';
import { BusRpc } from '../../core/bus/bus-rpc';
import { EventBus, type Unsubscribe } from '../../core/bus/event-bus';
import { APP_CONFIG, type AppConfig } from '../../core/config';
import type { EventEnvelope } from '../../core/event-log/envelope';
import { EventCatalog } from '../../core/event-log/event-catalog';
import type { StoredEvent } from '../../core/event-log/event.types';
import { SocketLimits } from '../../core/gateway/socket-limits';
import { rejectUpgrade, UpgradeRouter } from '../../core/gateway/upgrade-router.service';
import { newId } from '../../core/http/ids';
import { parseClientFrame, type ServerFrame } from './ws-frames';

/** The largest frame a client may send; bigger ones get an error frame. */
export const MAX_CLIENT_FRAME_BYTES = 64 * 1024;
/** Past this the connection is closed outright (1009) rather than read. */
const HARD_FRAME_LIMIT_BYTES = 1024 * 1024;
export const WS_SUBSCRIBE_PATH = '/api/v1/ws/subscribe';
/** Close code for a connection whose credential stopped being valid (RFC 6455 policy violation). */
export const CLOSE_CREDENTIAL_REVOKED = 1008;

interface WsClient {
  id: string;
  ws: WebSocket;
  principal: Principal;
  /** The read rule's view of `principal`, taken once at connect. */
  reader: ReturnType<typeof readerOf>;
  /** The types it receives, always explicit: empty means nothing until it subscribes again (the raw WebSocket contract). */
  eventTypes: Set<string>;
  lastSeen: number;
}

export interface UnsubscribeCommand {
  client_id: string;
  event_types: string[];
  user_id?: string;
  caller: Principal;
}

export type UnsubscribeOutcome =
  { status: 200; client_id: string; user_id: string | null; event_types: string[] } | { status: 403; message: string };

export class UnknownEventTypesError extends Error {}

/**
 * Raw WebSocket clients of seed 001 held by this node: authenticated before the upgrade,
 * fed by the live path, kept alive by heartbeats, and closed when they fall too far behind.
 */
@Injectable()
export class WsClientsService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('WsClients');
  private readonly wss = new WebSocketServer({
    noServer: true,
    maxPayload: HARD_FRAME_LIMIT_BYTES,
    perMessageDeflate: false,
  });
  private readonly clients = new Map<string, WsClient>();
  private readonly byOrganisation = new Map<string, Set<WsClient>>();
  private heartbeat?: NodeJS.Timeout;
  private unsubscribeRevocations?: Unsubscribe;

  constructor(
    private readonly authenticator: Authenticator,
    private readonly catalog: EventCatalog,
    private readonly upgrades: UpgradeRouter,
    private readonly rpc: BusRpc,
    private readonly bus: EventBus,
    private readonly limits: SocketLimits,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  onApplicationBootstrap(): void {
    this.upgrades.register(WS_SUBSCRIBE_PATH, (req, socket, head) => this.upgrade(req, socket, head));
    this.rpc.handle<UnsubscribeCommand, UnsubscribeOutcome>('ws.unsubscribe', (command) =>
      this.unsubscribeLocal(command),
    );
    this.unsubscribeRevocations = onApiKeyRevoked(this.bus, ({ key_id }) => this.closeKey(key_id));
    this.heartbeat = setInterval(() => this.beat(), this.config.websocket.heartbeatMs);
    this.heartbeat.unref();
  }

  beforeApplicationShutdown(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.unsubscribeRevocations?.();
    for (const client of this.clients.values()) client.ws.close(1001, 'server shutting down');
    this.wss.close();
  }

  /** Number of clients on this node. */
  get size(): number {
    return this.clients.size;
  }

  /** Checks the requested types against the catalog. */
  validateTypes(types: string[]): string[] {
    const unknown = types.filter((t) => !this.catalog.has(t));
    if (unknown.length)
      throw new UnknownEventTypesError(
        `Unknown event type(s) ${unknown.join(', ')}. Known types: ${this.catalog.types().join(', ')}`,
      );
    return [...new Set(types)];
  }

  private async upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    let principal: Principal;
    try {
      principal = await this.authenticator.authenticate(extractCredential(req.headers, url.searchParams, true));
    } catch (err) {
      const message = err instanceof UnauthorizedException ? err.message : 'Authentication failed';
      return rejectUpgrade(socket, 401, errorBody(401, message, 'Unauthorized', WS_SUBSCRIBE_PATH));
    }
    if (!receivesEvents(principal)) {
      return rejectUpgrade(socket, 403, errorBody(403, 'Missing scope: events:read', 'Forbidden', WS_SUBSCRIBE_PATH));
    }
    let eventTypes: string[];
    try {
      const requested = this.validateTypes(
        url.searchParams
          .getAll('event_types')
          .flatMap((v) => v.split(','))
          .map((s) => s.trim())
          .filter(Boolean),
      );
      // No event_types at connect means every type in the catalog, written out: taking some away
      // later never widens back to "all".
      eventTypes = requested.length ? requested : this.catalog.types();
    } catch (err) {
      return rejectUpgrade(socket, 400, errorBody(400, (err as Error).message, 'Bad Request', 'event_types'));
    }
    if (socket.destroyed) return;
    const refused = this.limits.leaseForUpgrade(req, socket, principal);
    if (refused)
      return rejectUpgrade(socket, 429, errorBody(429, refused.message, 'Too Many Requests', WS_SUBSCRIBE_PATH));
    this.wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws, principal, eventTypes));
  }

  private accept(ws: WebSocket, principal: Principal, eventTypes: string[]): void {
    const client: WsClient = {
      id: newId('wsc'),
      ws,
      principal,
      reader: readerOf(principal),
      eventTypes: new Set(eventTypes),
      lastSeen: Date.now(),
    };
    this.clients.set(client.id, client);
    let orgClients = this.byOrganisation.get(principal.organisation_id);
    if (!orgClients) this.byOrganisation.set(principal.organisation_id, (orgClients = new Set()));
    orgClients.add(client);

    ws.on('pong', () => (client.lastSeen = Date.now()));
    ws.on('message', (data, isBinary) => this.onFrame(client, data, isBinary));
    ws.on('error', (err) => this.logger.debug({ err, client: client.id }, 'websocket error'));
    ws.on('close', () => this.forget(client));
    this.send(client, {
      type: 'welcome',
      client_id: client.id,
      user_id: principal.user_id ?? null,
      event_types: [...client.eventTypes],
    });
  }

  private forget(client: WsClient): void {
    this.clients.delete(client.id);
    const orgClients = this.byOrganisation.get(client.principal.organisation_id);
    orgClients?.delete(client);
    if (orgClients && !orgClients.size) this.byOrganisation.delete(client.principal.organisation_id);
  }

  private onFrame(client: WsClient, data: RawData, isBinary: boolean): void {
    client.lastSeen = Date.now();
    const size = Array.isArray(data)
      ? data.reduce((n, b) => n + b.length, 0)
      : (data as Buffer | ArrayBuffer).byteLength;
    if (size > MAX_CLIENT_FRAME_BYTES) {
      return this.send(client, {
        type: 'error',
        code: 'frame_too_large',
        message: `Frames are limited to ${MAX_CLIENT_FRAME_BYTES} bytes`,
      });
    }
    const frame = parseClientFrame(isBinary ? null : data.toString());
    if ('error' in frame) return this.send(client, { type: 'error', code: frame.error, message: frame.message });
    switch (frame.action) {
      case 'ping':
        return this.send(client, { type: 'pong' });
      case 'subscribe':
      case 'unsubscribe': {
        let types: string[];
        try {
          types = this.validateTypes(frame.event_types);
        } catch (err) {
          return this.send(client, { type: 'error', code: 'unknown_event_types', message: (err as Error).message });
        }
        if (frame.action === 'subscribe') {
          for (const t of types) client.eventTypes.add(t);
        } else {
          this.removeTypes(client, types);
        }
        return this.send(client, { type: 'subscriptions', event_types: [...client.eventTypes] });
      }
    }
  }

  private removeTypes(client: WsClient, types: string[]): void {
    for (const t of types) client.eventTypes.delete(t);
  }

  private matches(client: WsClient, event: StoredEvent): boolean {
    if (!client.eventTypes.has(event.type)) return false;
    return readsEvent(client.reader, event);
  }

  /** Sends a live event to every client of this node that should have it. */
  deliver(event: StoredEvent, envelope: EventEnvelope): void {
    const orgClients = this.byOrganisation.get(event.organisation_id);
    if (!orgClients) return;
    let frame: string | undefined;
    for (const client of orgClients) {
      if (!this.matches(client, event) || client.ws.readyState !== WebSocket.OPEN || this.droppedAsSlow(client))
        continue;
      frame ??= JSON.stringify({ type: 'event', event: envelope } satisfies ServerFrame);
      client.ws.send(frame);
    }
  }

  /** Every frame to a client, replies (pong, errors, subscriptions) included, is held to the same limit. */
  private send(client: WsClient, frame: ServerFrame): void {
    if (client.ws.readyState === WebSocket.OPEN && !this.droppedAsSlow(client)) client.ws.send(JSON.stringify(frame));
  }

  /** Closes a client whose unsent buffer is over the limit (1013) instead of queueing more. */
  private droppedAsSlow(client: WsClient): boolean {
    if (client.ws.bufferedAmount <= this.config.websocket.maxBufferedBytes) return false;
    this.logger.warn(
      { client: client.id, buffered: client.ws.bufferedAmount },
      'closing a websocket client that fell behind',
    );
    this.close(client, 1013, 'client too slow: unsent buffer over limit');
    return true;
  }

  /** Stops delivering to a client and closes it; one that does not answer the close frame is cut off after a second. */
  private close(client: WsClient, code: number, reason: string): void {
    this.forget(client);
    client.ws.close(code, reason);
    setTimeout(() => client.ws.terminate(), 1000).unref();
  }

  /** Closes this node's clients that authenticated with API key `keyId`. */
  private closeKey(keyId: string): void {
    for (const client of [...this.clients.values()]) {
      if (client.principal.key_id === keyId) this.close(client, CLOSE_CREDENTIAL_REVOKED, API_KEY_REVOKED_REASON);
    }
  }

  private beat(): void {
    const cutoff = Date.now() - this.config.websocket.idleTimeoutMs;
    for (const client of this.clients.values()) {
      if (client.lastSeen < cutoff) {
        this.forget(client);
        client.ws.terminate();
      } else if (client.ws.readyState === WebSocket.OPEN) {
        client.ws.ping();
      }
    }
  }

  /** Unsubscribes a client wherever in the cluster it is connected. */
  async unsubscribe(command: UnsubscribeCommand): Promise<Extract<UnsubscribeOutcome, { status: 200 }>> {
    this.validateTypes(command.event_types);
    const outcome = this.clients.has(command.client_id)
      ? this.unsubscribeLocal(command)
      : await this.rpc.request<UnsubscribeCommand, UnsubscribeOutcome>('ws.unsubscribe', command);
    if (!outcome) throw new NotFoundException(`WebSocket client ${command.client_id} is not connected`);
    if (outcome.status === 403) throw new ForbiddenException(outcome.message);
    return outcome;
  }

  private unsubscribeLocal(command: UnsubscribeCommand): UnsubscribeOutcome | undefined {
    const client = this.clients.get(command.client_id);
    if (!client) return undefined;
    const owner = client.principal;
    const { caller } = command;
    // Another organisation's client is indistinguishable from one that is not connected.
    if (owner.organisation_id !== caller.organisation_id) return undefined;
    if (caller.kind === 'user' && owner.user_id !== caller.user_id) {
      return { status: 403, message: `Client ${client.id} does not belong to the authenticated user` };
    }
    if (command.user_id !== undefined && command.user_id !== owner.user_id) {
      return { status: 403, message: `Client ${client.id} does not belong to user ${command.user_id}` };
    }
    this.removeTypes(client, command.event_types);
    this.send(client, { type: 'subscriptions', event_types: [...client.eventTypes] });
    return { status: 200, client_id: client.id, user_id: owner.user_id ?? null, event_types: [...client.eventTypes] };
  }
}

function errorBody(code: number, message: string, error: string, path: string) {
  return { code, message, stack: [{ code, description: message, error, path }] };
}
