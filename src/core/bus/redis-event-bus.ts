import { Logger } from '@nestjs/common';
import type Redis from 'ioredis';
import type { StoredEvent } from '../event-log/event.types';
import { EventBus, Handlers, Unsubscribe } from './event-bus';

/**
 * Redis pub/sub: every node, the publisher included, hears each message once through its own
 * subscription, so all nodes see events in the same order the publishing node sent them.
 */
export class RedisEventBus extends EventBus {
  readonly distributed = true;
  private readonly logger = new Logger('EventBus');
  private readonly events = new Handlers<StoredEvent[]>();
  private readonly topics = new Map<string, Handlers<unknown>>();
  private readonly eventsChannel: string;
  private readonly topicPrefix: string;
  private readonly subscribed: Promise<void>;

  constructor(
    private readonly pub: Redis,
    private readonly sub: Redis,
    prefix: string,
  ) {
    super();
    // The bus owns `<prefix>bus:*` and nothing else: other users of the same Redis prefix (the
    // Socket.IO adapter under `<prefix>socket.io…`) must not reach bus handlers, nor the bus theirs.
    const namespace = busChannelPrefix(prefix);
    this.eventsChannel = `${namespace}events`;
    this.topicPrefix = `${namespace}topic:`;
    this.subscribed = this.sub.psubscribe(`${namespace}*`).then(() => undefined);
    this.sub.on('pmessage', (_pattern: string, channel: string, raw: string) => this.dispatch(channel, raw));
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
    else if (channel.startsWith(this.topicPrefix)) this.topics.get(channel.slice(this.topicPrefix.length))?.emit(message, onError);
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
    this.pub.publish(channel, JSON.stringify(message)).catch((err) => this.logger.error({ err, channel }, 'bus publish failed'));
  }

  ready(): Promise<void> {
    return this.subscribed;
  }
}

/** Every bus channel starts with this; the pattern the bus subscribes to is this plus `*`. */
export function busChannelPrefix(redisPrefix: string): string {
  return `${redisPrefix}bus:`;
}
