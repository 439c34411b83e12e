import { Injectable } from '@nestjs/common';
import type { Tx } from '../database/database.service';
import type { EventEnvelope } from '../event-log/envelope';
import type { StoredEvent } from '../event-log/event.types';

/**
 * Live routers run on every node for every event, after commit, and reach only that node's
 * own connections. `rooms` names Socket.IO rooms of the default namespace to emit the event
 * into (the core emits once per event to the union); `deliver` handles anything else
 * (raw WebSocket clients, channel namespaces).
 */
export interface LiveRouter {
  name: string;
  rooms?(event: StoredEvent): string[];
  deliver?(event: StoredEvent, envelope: EventEnvelope): void;
}

/**
 * Durable routers run once per event, cluster-wide, in seq order, inside the dispatcher's
 * transaction: whatever they write commits together with the moved checkpoint.
 */
export interface DurableRouter {
  name: string;
  route(events: StoredEvent[], manager: Tx): Promise<void>;
}

@Injectable()
export class RouterRegistry {
  private readonly liveRouters: LiveRouter[] = [];
  private readonly durableRouters: DurableRouter[] = [];

  registerLive(router: LiveRouter): void {
    this.liveRouters.push(router);
  }

  registerDurable(router: DurableRouter): void {
    this.durableRouters.push(router);
  }

  get live(): readonly LiveRouter[] {
    return this.liveRouters;
  }

  get durable(): readonly DurableRouter[] {
    return this.durableRouters;
  }
}
