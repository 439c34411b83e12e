import { Logger } from '@nestjs/common';
import type { StoredEvent } from '../event-log/event.types';
import { EventBus, Handlers, Unsubscribe } from './event-bus';

/** One process: delivery is a queued in-memory call, in publish order. */
export class LocalEventBus extends EventBus {
  readonly distributed = false;
  private readonly logger = new Logger('EventBus');
  private readonly events = new Handlers<StoredEvent[]>();
  private readonly topics = new Map<string, Handlers<unknown>>();

  publishEvents(events: StoredEvent[]): void {
    // Deliver after the caller's stack unwinds, as a network bus would.
    queueMicrotask(() => this.events.emit(events, (err) => this.logger.error({ err }, 'event handler failed')));
  }

  onEvents(handler: (events: StoredEvent[]) => void): Unsubscribe {
    return this.events.add(handler);
  }

  publish(topic: string, message: unknown): void {
    queueMicrotask(() =>
      this.topics.get(topic)?.emit(message, (err) => this.logger.error({ err, topic }, 'topic handler failed')),
    );
  }

  on(topic: string, handler: (message: unknown) => void): Unsubscribe {
    let handlers = this.topics.get(topic);
    if (!handlers) this.topics.set(topic, (handlers = new Handlers()));
    return handlers.add(handler);
  }

  async ready(): Promise<void> {}
}
