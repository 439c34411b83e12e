import { ForbiddenException, Injectable, NotFoundException, OnApplicationBootstrap } from '@nestjs/common';
import { readerOf, readsEvent, receivesEvents, type Principal } from '../../core/auth/principal';
import { BusRpc } from '../../core/bus/bus-rpc';
import type { EventEnvelope } from '../../core/event-log/envelope';
import { EventCatalog } from '../../core/event-log/event-catalog';
import type { StoredEvent } from '../../core/event-log/event.types';
import type { ClientAction } from '../../core/gateway/client-frames';
import type { ClientConnection, ConnectionHandlers } from '../../core/gateway/connection';
import { RawWebSocketServer, type UpgradeRequest } from '../../core/gateway/raw-ws-server';
import { Refusal } from '../../core/gateway/refusal';
import { newId } from '../../core/http/ids';
import { parseSubscriptionFrame, SUBSCRIBER_ACTIONS } from './ws-frames';

export const WS_SUBSCRIBE_PATH = '/api/v1/ws/subscribe';

interface WsClient {
  id: string;
  connection: ClientConnection;
  principal: Principal;
  /** The read rule's view of `principal`, taken once at connect. */
  reader: ReturnType<typeof readerOf>;
  /** The types it receives, always explicit: empty means nothing until it subscribes again (the raw WebSocket contract). */
  eventTypes: Set<string>;
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
 * Raw WebSocket clients of seed 001 held by this node: who may connect and with which event
 * types, what each receives, its subscribe / unsubscribe frames, and unsubscribing a client held
 * by another node. Everything about the connection itself (credentials, heartbeats, frame
 * limits, slow clients, revocation) is the RawWebSocketServer's.
 */
@Injectable()
export class WsClientsService implements OnApplicationBootstrap {
  private readonly clients = new Map<string, WsClient>();
  private readonly byOrganisation = new Map<string, Set<WsClient>>();

  constructor(
    private readonly catalog: EventCatalog,
    private readonly server: RawWebSocketServer,
    private readonly rpc: BusRpc,
  ) {}

  onApplicationBootstrap(): void {
    this.server.serve<string[]>({
      path: WS_SUBSCRIBE_PATH,
      family: 'seed001',
      actions: SUBSCRIBER_ACTIONS,
      slowReason: 'client too slow: unsent buffer over limit',
      accept: (request) => this.accept(request),
      open: (connection, eventTypes) => this.open(connection, eventTypes),
    });
    this.rpc.handle<UnsubscribeCommand, UnsubscribeOutcome>('ws.unsubscribe', (command) =>
      this.unsubscribeLocal(command),
    );
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

  /** The event types the client starts with, or why it may not connect. */
  private accept({ principal, query }: UpgradeRequest): string[] | Refusal {
    if (!receivesEvents(principal)) return new Refusal(403, 'Missing scope: events:read');
    try {
      const requested = this.validateTypes(
        query
          .getAll('event_types')
          .flatMap((v) => v.split(','))
          .map((s) => s.trim())
          .filter(Boolean),
      );
      // No event_types at connect means every type in the catalog, written out: taking some away
      // later never widens back to "all".
      return requested.length ? requested : this.catalog.types();
    } catch (err) {
      return new Refusal(400, (err as Error).message, 'event_types');
    }
  }

  private open(connection: ClientConnection, eventTypes: string[]): ConnectionHandlers<ClientAction> {
    const { principal } = connection;
    const client: WsClient = {
      id: newId('wsc'),
      connection,
      principal,
      reader: readerOf(principal),
      eventTypes: new Set(eventTypes),
    };
    this.clients.set(client.id, client);
    let orgClients = this.byOrganisation.get(principal.organisation_id);
    if (!orgClients) this.byOrganisation.set(principal.organisation_id, (orgClients = new Set()));
    orgClients.add(client);
    connection.sendNotice({
      type: 'welcome',
      client_id: client.id,
      user_id: principal.user_id ?? null,
      event_types: [...client.eventTypes],
    });
    return { frame: (frame) => this.onFrame(client, frame), closed: () => this.forget(client) };
  }

  private forget(client: WsClient): void {
    this.clients.delete(client.id);
    const orgClients = this.byOrganisation.get(client.principal.organisation_id);
    orgClients?.delete(client);
    if (orgClients && !orgClients.size) this.byOrganisation.delete(client.principal.organisation_id);
  }

  private onFrame(client: WsClient, action: ClientAction): void {
    const frame = parseSubscriptionFrame(action);
    if ('error' in frame)
      return client.connection.sendNotice({ type: 'error', code: frame.error, message: frame.message });
    let types: string[];
    try {
      types = this.validateTypes(frame.event_types);
    } catch (err) {
      return client.connection.sendNotice({
        type: 'error',
        code: 'unknown_event_types',
        message: (err as Error).message,
      });
    }
    if (frame.action === 'subscribe') {
      for (const t of types) client.eventTypes.add(t);
    } else {
      this.removeTypes(client, types);
    }
    client.connection.sendNotice({ type: 'subscriptions', event_types: [...client.eventTypes] });
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
    // A client closed as slow leaves the set mid-loop, which a Set's iteration allows.
    for (const client of orgClients) {
      if (!this.matches(client, event) || client.connection.droppedAsSlow()) continue;
      client.connection.sendEvent(envelope);
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
    client.connection.sendNotice({ type: 'subscriptions', event_types: [...client.eventTypes] });
    return { status: 200, client_id: client.id, user_id: owner.user_id ?? null, event_types: [...client.eventTypes] };
  }
}
