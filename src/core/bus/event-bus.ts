import type { StoredEvent } from '../event-log/event.types';

export type Unsubscribe = () => void;

/**
 * Live fan-out between nodes: every node hears every appended event, and commands addressed to
 * whichever node holds a connection. Best effort by design — durability comes from the log.
 */
export abstract class EventBus {
  /** False when every subscriber is in this process (no other node can hear). */
  abstract readonly distributed: boolean;
  /** After commit: make these events known to every node, this one included. */
  abstract publishEvents(events: StoredEvent[]): void;
  abstract onEvents(handler: (events: StoredEvent[]) => void): Unsubscribe;
  /** A small message on a named topic to every node (e.g. "unsubscribe client X"). */
  abstract publish(topic: string, message: unknown): void;
  abstract on(topic: string, handler: (message: unknown) => void): Unsubscribe;
  /** Resolves once the bus can deliver (Redis subscription confirmed). */
  abstract ready(): Promise<void>;
  /**
   * Called each time the bus can deliver again after a break (Redis reconnected and
   * resubscribed): messages sent during the break are gone, and listeners catch up from the log.
   * A bus that cannot lose messages never calls it.
   */
  onResume(_handler: () => void): Unsubscribe {
    return () => undefined;
  }
}

/** A tiny typed handler list shared by both implementations. */
export class Handlers<T> {
  private readonly list = new Set<(value: T) => void>();

  add(handler: (value: T) => void): Unsubscribe {
    this.list.add(handler);
    return () => this.list.delete(handler);
  }

  emit(value: T, onError: (err: unknown) => void): void {
    for (const handler of this.list) {
      try {
        handler(value);
      } catch (err) {
        onError(err);
      }
    }
  }
}
