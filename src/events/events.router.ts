import { Injectable } from '@nestjs/common';
import { EventRouter, type LiveRouter } from '../core/bus/router-registry';
import type { EventEnvelope } from '../core/event-log/envelope';
import { EventCatalog } from '../core/event-log/event-catalog';
import type { StoredEvent } from '../core/event-log/event.types';
import { roomForEvent } from './sessions/session-rooms';
import { WsClientsService } from './ws/ws-clients.service';

/** Raw WebSocket clients of this node whose event types and read rule admit the event. */
@EventRouter('live')
@Injectable()
export class WsClientsRouter implements LiveRouter {
  readonly name = 'raw-websocket-clients';

  constructor(private readonly clients: WsClientsService) {}

  deliver(event: StoredEvent, envelope: EventEnvelope): void {
    this.clients.deliver(event, envelope);
  }
}

/** The session-subscription room the event's type and condition fields name, if any. */
@EventRouter('live')
@Injectable()
export class SessionSubscriptionsRouter implements LiveRouter {
  readonly name = 'socket-session-subscriptions';

  constructor(private readonly catalog: EventCatalog) {}

  rooms(event: StoredEvent): string[] {
    const definition = this.catalog.get(event.type);
    const room = definition && roomForEvent(event, definition.conditions);
    return room ? [room] : [];
  }
}
