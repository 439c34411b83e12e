import { Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { EventBus, type Unsubscribe } from '../bus/event-bus';
import { RouterRegistry } from '../bus/router-registry';
import { toEnvelope } from '../event-log/envelope';
import { EventLog } from '../event-log/event-log.service';
import type { StoredEvent } from '../event-log/event.types';
import { RealtimeService } from './realtime.service';
import { rooms } from './rooms';

const GAP_FILL_BATCH = 1000;

/**
 * The live path on each node: for every event heard on the bus, build the envelope once, emit
 * it once to the union of rooms the routers name, then let routers with their own delivery
 * (raw WebSockets, channel namespaces) take it.
 *
 * Events leave here in strict seq order with no gaps: the bus may deliver events appended on
 * different nodes out of order, so a jump in seq is filled from the log first, and anything at
 * or below the last seq already fanned out is dropped. Outlets can therefore resume from a seq
 * (replay, then live) without a hole or a duplicate at the seam. A seq that never committed
 * (a rolled-back append) is simply absent from the log and skipped.
 */
@Injectable()
export class LiveFanout implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('LiveFanout');
  private unsubscribe?: Unsubscribe;
  /** Highest seq fanned out on this node; undefined until the first event arrives. */
  private head?: number;
  private queue: Promise<void> = Promise.resolve();

  constructor(
    private readonly bus: EventBus,
    private readonly log: EventLog,
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
      this.queue = this.queue.then(() => this.inOrder(events)).catch((err) => this.logger.error({ err }, 'live fan-out failed'));
    });
  }

  /** Highest seq this node has fanned out (undefined before the first event). */
  get fannedOutThrough(): number | undefined {
    return this.head;
  }

  private async inOrder(events: StoredEvent[]): Promise<void> {
    for (const event of [...events].sort((a, b) => a.seq - b.seq)) {
      if (this.head === undefined) this.head = event.seq - 1;
      if (event.seq <= this.head) continue;
      while (event.seq > this.head + 1) {
        const missing = await this.log.readAfter(this.head, {}, GAP_FILL_BATCH, event.seq - 1);
        for (const earlier of missing) this.fanOut(earlier);
        this.head = missing.length === GAP_FILL_BATCH ? missing[missing.length - 1].seq : event.seq - 1;
      }
      this.fanOut(event);
      this.head = event.seq;
    }
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
