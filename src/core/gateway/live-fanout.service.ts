import { Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { nonOverlapping } from '../database/periodic';
import { EventBus, type Unsubscribe } from '../bus/event-bus';
import { RouterRegistry } from '../bus/router-registry';
import { toEnvelope } from '../event-log/envelope';
import { EventLog } from '../event-log/event-log.service';
import type { StoredEvent } from '../event-log/event.types';
import { RealtimeService } from './realtime.service';

const GAP_FILL_BATCH = 1000;
/**
 * How often each node compares what it has fanned out with the log. An event the log held at
 * one check and the bus still had not brought by the next is read from the log, so an event
 * the bus lost reaches live clients within two intervals even with no later event and no
 * reconnect to tell.
 */
const CATCH_UP_CHECK_MS = 2000;
/**
 * How long events heard after a gap wait for the bus to bring the missing seqs before they are
 * read from the log. Two nodes publish independently, so seq 11 from one node often arrives a
 * moment before seq 10 from the other; reading the log for every such reordering cost a query on
 * every node. An event the bus really lost still arrives, from the log, this much later.
 */
const REORDER_WAIT_MS = 50;

/**
 * The live path on each node: for every event heard on the bus, build the envelope once, emit
 * it once to the union of rooms the routers name, then let routers with their own delivery
 * (raw WebSockets, channel namespaces) take it.
 *
 * Events leave here in strict seq order with no gaps: the bus may deliver events appended on
 * different nodes out of order, so events after a jump in seq wait (REORDER_WAIT_MS) for the bus
 * to fill it, then the rest of the jump is read from the log; anything at or below the last seq
 * already fanned out is dropped. Outlets can therefore resume from a seq (replay, then live)
 * without a hole or a duplicate at the seam. A seq that never committed
 * (a rolled-back append) is simply absent from the log and skipped.
 *
 * The bus may also lose events outright (Redis down: nothing published meanwhile arrives), with
 * no later event to reveal the gap. So the node also catches up from the log, through the same
 * ordered path, when the bus says it is back, and when a periodic check finds the log ahead of
 * what was fanned out. The head starts at the log's head at start-up, so there is always a
 * point to catch up from.
 */
@Injectable()
export class LiveFanout implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('LiveFanout');
  private readonly unsubscribe: Unsubscribe[] = [];
  /** Highest seq fanned out on this node; undefined only until the log's head has been read. */
  private head?: number;
  private queue: Promise<void> = Promise.resolve();
  /** A catch-up waiting in the queue: later requests join it instead of queueing another. */
  private catchUpQueued?: Promise<void>;
  private checkTimer?: NodeJS.Timeout;
  /** One check at a time: a tick while the previous check still waits on the database is skipped. */
  private readonly periodicCheck = nonOverlapping(() => this.check());
  /** The log's head at the previous check. */
  private logHeadAtLastCheck?: number;
  private checkFailing = false;
  /** Set while successive checks keep finding the bus behind the log (logged once per streak). */
  private behind = false;
  private closed = false;
  /** Events heard on the bus after a gap, by seq, waiting for the gap to fill; all above the head. */
  private readonly waiting = new Map<number, StoredEvent>();
  private reorderTimer?: NodeJS.Timeout;

  constructor(
    private readonly bus: EventBus,
    private readonly log: EventLog,
    private readonly routers: RouterRegistry,
    private readonly realtime: RealtimeService,
  ) {}

  onApplicationBootstrap(): void {
    // Start from the log's head: what was appended before this node started is replay's business.
    void this.enqueue(async () => {
      const head = await this.log.head();
      this.head ??= head;
    });
    this.unsubscribe.push(
      this.bus.onEvents((events) => void this.enqueue(() => this.fromBus(events))),
      this.bus.onResume(() => void this.catchUp()),
    );
    this.checkTimer = setInterval(() => void this.periodicCheck(), CATCH_UP_CHECK_MS);
    this.checkTimer.unref();
  }

  private enqueue(work: () => Promise<void>): Promise<void> {
    this.queue = this.queue.then(work).catch((err) => this.logger.error({ err }, 'live fan-out failed'));
    return this.queue;
  }

  /** Fans out, in order, every event the log holds after the head (up to the log's head as of now). */
  catchUp(): Promise<void> {
    this.catchUpQueued ??= this.enqueue(async () => {
      this.catchUpQueued = undefined;
      if (this.closed) return;
      const target = await this.log.head();
      if (this.head === undefined) {
        this.head = target;
        return;
      }
      while (this.head < target && !this.closed) {
        const batch = await this.log.readAcrossTenants(this.head, GAP_FILL_BATCH, target);
        if (!batch.length) break;
        await this.inOrder(batch);
      }
      this.releaseWaiting();
    });
    return this.catchUpQueued;
  }

  /**
   * Catches up when the head is still below what the log held at the previous check: the bus had
   * a whole interval to bring those events and did not. Events merely in flight on the bus do not
   * trigger a read. Run through `periodicCheck`, so never alongside itself.
   */
  private async check(): Promise<void> {
    if (this.closed) return;
    try {
      const logHead = await this.log.head();
      const before = this.logHeadAtLastCheck;
      this.logHeadAtLastCheck = logHead;
      if (this.checkFailing) this.logger.log('live catch-up check works again');
      this.checkFailing = false;
      const lagging = this.head !== undefined && before !== undefined && this.head < before;
      if (lagging && !this.behind)
        this.logger.warn(
          { head: this.head, logHead },
          'live fan-out is behind the log (the bus lost or delayed events); catching up from the log',
        );
      this.behind = lagging;
      if (lagging || this.head === undefined) await this.catchUp();
    } catch (err) {
      // The database is down: say so once, not every interval.
      if (!this.checkFailing) this.logger.warn({ err }, 'live catch-up check failed');
      this.checkFailing = true;
    }
  }

  /**
   * Bus events: fanned out as far as the seqs run on from the head; the rest wait for the bus to
   * fill the gap, or for the reorder timer to read it from the log.
   */
  private async fromBus(events: StoredEvent[]): Promise<void> {
    if (this.closed) return;
    for (const event of events) {
      if (this.head === undefined) this.head = event.seq - 1;
      // The usual case, the next seq with nothing waiting, goes straight out.
      if (event.seq === this.head + 1 && !this.waiting.size) this.advance(event);
      else if (event.seq > this.head) this.waiting.set(event.seq, event);
    }
    this.releaseWaiting();
    // More waiting than one log read holds is no brief reordering: fill the gap now.
    if (this.waiting.size > GAP_FILL_BATCH) await this.fillGap();
  }

  /**
   * Fans out the waiting events that continue the head; arms or clears the reorder timer. The
   * wait runs from when events first started waiting, so under a steady stream of reorderings the
   * log is read at most once per REORDER_WAIT_MS.
   */
  private releaseWaiting(): void {
    if (this.head !== undefined) {
      for (const seq of this.waiting.keys()) if (seq <= this.head) this.waiting.delete(seq);
      for (let next = this.waiting.get(this.head + 1); next; next = this.waiting.get(this.head + 1)) {
        this.waiting.delete(next.seq);
        this.advance(next);
      }
    }
    if (!this.waiting.size) {
      clearTimeout(this.reorderTimer);
      this.reorderTimer = undefined;
    } else if (!this.reorderTimer && !this.closed) {
      this.reorderTimer = setTimeout(() => {
        this.reorderTimer = undefined;
        void this.enqueue(() => this.fillGap());
      }, REORDER_WAIT_MS);
      this.reorderTimer.unref();
    }
  }

  /** The bus did not fill the gap in time: the waiting events go out with the gap read from the log. */
  private async fillGap(): Promise<void> {
    const events = [...this.waiting.values()];
    this.waiting.clear();
    await this.inOrder(events);
    // Nothing waits now: this clears the timer if the fill did not come from it.
    this.releaseWaiting();
  }

  /** Fans out the event that continues the head. */
  private advance(event: StoredEvent): void {
    this.fanOut(event);
    this.head = event.seq;
  }

  /** Events in seq order; a gap before one is read from the log, which holds every seq it will ever hold below it. */
  private async inOrder(events: StoredEvent[]): Promise<void> {
    for (const event of [...events].sort((a, b) => a.seq - b.seq)) {
      if (this.head === undefined) this.head = event.seq - 1;
      if (event.seq <= this.head) continue;
      while (event.seq > this.head + 1) {
        const missing = await this.log.readAcrossTenants(this.head, GAP_FILL_BATCH, event.seq - 1);
        for (const earlier of missing) this.fanOut(earlier);
        this.head = missing.length === GAP_FILL_BATCH ? missing[missing.length - 1].seq : event.seq - 1;
      }
      this.advance(event);
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
    this.realtime.emitEventToRooms([...targets], envelope);
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
    this.closed = true;
    if (this.checkTimer) clearInterval(this.checkTimer);
    clearTimeout(this.reorderTimer);
    this.waiting.clear();
    for (const unsubscribe of this.unsubscribe) unsubscribe();
  }
}
