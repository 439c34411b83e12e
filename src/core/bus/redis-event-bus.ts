import { Logger } from '@nestjs/common';
import type Redis from 'ioredis';
import type { StoredEvent } from '../event-log/event.types';
import { EventBus, Handlers, Unsubscribe } from './event-bus';

/** Where messages lost to a Redis outage are counted, so an outage is reported once, not per message. */
export interface LostMessages {
  /** Counts one lost message and returns true while Redis is known to be down; else false. */
  countLost(): boolean;
}

/**
 * Redis pub/sub: every node, the publisher included, hears each message once through its own
 * subscription, so all nodes see events in the same order the publishing node sent them.
 *
 * Pub/sub is fire-and-forget: whatever is published while a connection is down is lost. When
 * the subscriber connection is back, the bus subscribes again and then tells `onResume`
 * listeners, which catch up from the log.
 */
export class RedisEventBus extends EventBus {
  readonly distributed = true;
  private readonly logger = new Logger('EventBus');
  private readonly events = new Handlers<StoredEvent[]>();
  private readonly topics = new Map<string, Handlers<unknown>>();
  private readonly eventsChannel: string;
  private readonly topicPrefix: string;
  private readonly resumed = new Handlers<void>();
  private readonly pattern: string;
  private readonly subscribed: Promise<void>;
  private broken = false;

  constructor(
    private readonly pub: Redis,
    private readonly sub: Redis,
    prefix: string,
    private readonly lost: LostMessages = { countLost: () => false },
  ) {
    super();
    // The bus owns `<prefix>bus:*` and nothing else: other users of the same Redis prefix (the
    // Socket.IO adapter under `<prefix>socket.io…`) must not reach bus handlers, nor the bus theirs.
    const namespace = busChannelPrefix(prefix);
    this.eventsChannel = `${namespace}events`;
    this.topicPrefix = `${namespace}topic:`;
    this.pattern = `${namespace}*`;
    this.subscribed = this.sub.psubscribe(this.pattern).then(() => undefined);
    this.sub.on('pmessage', (_pattern: string, channel: string, raw: string) => this.dispatch(channel, raw));
    this.sub.on('close', () => (this.broken = true));
    this.sub.on('ready', () => {
      if (!this.broken) return;
      this.broken = false;
      void this.resubscribed();
    });
  }

  /**
   * ioredis subscribes again by itself on reconnect, but reports `ready` before Redis has
   * confirmed it; this subscription's confirmation comes after that one, so once it is in,
   * everything published from here on is heard, and a catch-up from the log misses nothing.
   */
  private async resubscribed(): Promise<void> {
    try {
      await this.sub.psubscribe(this.pattern);
    } catch {
      // Dropped again before the confirmation: the next `ready` tries again.
      return;
    }
    this.resumed.emit(undefined, (err) => this.logger.error({ err }, 'bus resume handler failed'));
  }

  private dispatch(channel: string, raw: string): void {
    let message: unknown;
    try {
      message = JSON.parse(raw);
    } catch (err) {
      this.logger.warn({ err, channel }, 'dropped an unreadable bus message');
      return;
    }
    const onError = (err: unknown) => this.logger.error({ err, channel }, 'bus handler failed');
    if (channel === this.eventsChannel) this.events.emit(message as StoredEvent[], onError);
    else if (channel.startsWith(this.topicPrefix))
      this.topics.get(channel.slice(this.topicPrefix.length))?.emit(message, onError);
  }

  publishEvents(events: StoredEvent[]): void {
    this.send(this.eventsChannel, events);
  }

  onEvents(handler: (events: StoredEvent[]) => void): Unsubscribe {
    return this.events.add(handler);
  }

  publish(topic: string, message: unknown): void {
    this.send(`${this.topicPrefix}${topic}`, message);
  }

  on(topic: string, handler: (message: unknown) => void): Unsubscribe {
    let handlers = this.topics.get(topic);
    if (!handlers) this.topics.set(topic, (handlers = new Handlers()));
    return handlers.add(handler);
  }

  private send(channel: string, message: unknown): void {
    this.pub.publish(channel, JSON.stringify(message)).catch((err) => {
      // While Redis is down every publish fails: the outage is logged once, with the count.
      if (!this.lost.countLost()) this.logger.error({ err, channel }, 'bus publish failed');
    });
  }

  ready(): Promise<void> {
    return this.subscribed;
  }

  override onResume(handler: () => void): Unsubscribe {
    return this.resumed.add(handler);
  }
}

/** Every bus channel starts with this; the pattern the bus subscribes to is this plus `*`. */
export function busChannelPrefix(redisPrefix: string): string {
  return `${redisPrefix}bus:`;
}
