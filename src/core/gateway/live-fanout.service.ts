import { Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { EventBus, type Unsubscribe } from '../bus/event-bus';
import { RouterRegistry } from '../bus/router-registry';
import { toEnvelope } from '../event-log/envelope';
import type { StoredEvent } from '../event-log/event.types';
import { RealtimeService } from './realtime.service';
import { rooms } from './rooms';

/**
 * The live path on each node: for every event heard on the bus, build the envelope once, emit
 * it once to the union of rooms the routers name, then let routers with their own delivery
 * (raw WebSockets, channel namespaces) take it.
 */
@Injectable()
export class LiveFanout implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('LiveFanout');
  private unsubscribe?: Unsubscribe;

  constructor(
    private readonly bus: EventBus,
    private readonly routers: RouterRegistry,
    private readonly realtime: RealtimeService,
  ) {}

  onApplicationBootstrap(): void {
    this.routers.registerLive({
      name: 'organisation-and-user-sockets',
      rooms: (event) => [
        rooms.organisationEvents(event.organisation_id),
        ...(event.user_id ? [rooms.user(event.organisation_id, event.user_id)] : []),
      ],
    });
    this.unsubscribe = this.bus.onEvents((events) => {
      for (const event of events) this.fanOut(event);
    });
  }

  private fanOut(event: StoredEvent): void {
    const envelope = toEnvelope(event);
    const targets = new Set<string>();
    for (const router of this.routers.live) {
      try {
        for (const room of router.rooms?.(event) ?? []) targets.add(room);
      } catch (err) {
        this.logger.error({ err, router: router.name, seq: event.seq }, 'live router failed');
      }
    }
    this.realtime.emitToRooms([...targets], event.type, envelope);
    for (const router of this.routers.live) {
      if (!router.deliver) continue;
      try {
        router.deliver(event, envelope);
      } catch (err) {
        this.logger.error({ err, router: router.name, seq: event.seq }, 'live delivery failed');
      }
    }
  }

  onApplicationShutdown(): void {
    this.unsubscribe?.();
  }
}
