import { Injectable } from '@nestjs/common';
import { DiscoveryService } from '@nestjs/core';
import type { Tx } from '../database/database.service';
import type { EventEnvelope } from '../event-log/envelope';
import type { StoredEvent } from '../event-log/event.types';

/**
 * Live routers run on every node for every event, after commit, and reach only that node's
 * own connections. `rooms` names Socket.IO rooms of the default namespace to emit the event
 * into (the core emits once per event to the union); `deliver` handles anything else
 * (raw WebSocket clients, channel namespaces, messages other than the event itself).
 */
export interface LiveRouter {
  readonly name: string;
  rooms?(event: StoredEvent): string[];
  deliver?(event: StoredEvent, envelope: EventEnvelope): void;
}

/**
 * Durable routers run once per event, cluster-wide, in seq order, inside the dispatcher's
 * transaction: whatever they write commits together with the moved checkpoint. A durable router
 * must be deterministic and idempotent per event: after a crash it runs again for a batch whose
 * checkpoint had not moved.
 */
export interface DurableRouter {
  readonly name: string;
  route(events: StoredEvent[], tx: Tx): Promise<void>;
}

/**
 * Marks a provider as one of the data flow's branch points. Every module keeps its routers in
 * its own `*.router.ts`, as providers with this decorator; the registry finds them all, so the
 * full list of where an event goes is `grep -r "@EventRouter" src`.
 */
export const EventRouter = DiscoveryService.createDecorator<'live' | 'durable'>();

@Injectable()
export class RouterRegistry {
  private found?: { live: LiveRouter[]; durable: DurableRouter[] };

  constructor(private readonly discovery: DiscoveryService) {}

  /** A router made at run time (a test's probe). Herald's own are all found through @EventRouter. */
  addAtRuntime(kind: 'live', router: LiveRouter): void;
  addAtRuntime(kind: 'durable', router: DurableRouter): void;
  addAtRuntime(kind: 'live' | 'durable', router: LiveRouter | DurableRouter): void {
    const found = this.routers();
    if (kind === 'live') found.live.push(router as LiveRouter);
    else found.durable.push(router as DurableRouter);
  }

  get live(): readonly LiveRouter[] {
    return this.routers().live;
  }

  get durable(): readonly DurableRouter[] {
    return this.routers().durable;
  }

  /** Looked up on first use, when every provider exists; sorted by name so the order is stable. */
  private routers(): { live: LiveRouter[]; durable: DurableRouter[] } {
    if (this.found) return this.found;
    const live: LiveRouter[] = [];
    const durable: DurableRouter[] = [];
    for (const wrapper of this.discovery.getProviders({ metadataKey: EventRouter.KEY })) {
      if (!wrapper.instance) continue;
      const kind = this.discovery.getMetadataByDecorator(EventRouter, wrapper);
      if (kind === 'live') live.push(wrapper.instance as LiveRouter);
      else durable.push(wrapper.instance as DurableRouter);
    }
    const byName = (a: { name: string }, b: { name: string }) => a.name.localeCompare(b.name);
    this.found = { live: live.sort(byName), durable: durable.sort(byName) };
    return this.found;
  }
}
