import Redis from 'ioredis';
import { EventBus } from '../../src/core/bus/event-bus';
import { EventsGateway } from '../../src/core/gateway/events.gateway';
import { RedisConnections } from '../../src/core/redis/redis.service';
import { services } from '../support/services';
import { waitFor } from '../support/sockets';
import { startTestApp, TestApp } from '../support/test-app';

// The bus and the Socket.IO adapter share one Redis and one prefix; only Redis can show whether
// their channels overlap.
const describeRedis = services.redisUrl ? describe : describe.skip;

describeRedis('Redis: the bus and the Socket.IO adapter use disjoint channels', () => {
  let t: TestApp;
  let observer: Redis;

  beforeAll(async () => {
    t = await startTestApp();
    observer = new Redis(services.redisUrl!);
  });
  afterAll(async () => {
    await observer?.quit();
    await t?.close();
  });

  it('the bus subscription hears its own messages and none of the adapter’s, though both are under the prefix', async () => {
    const prefix = t.config.redisPrefix;
    const everything: string[] = [];
    observer.on('pmessage', (_pattern: string, channel: string) => everything.push(channel));
    await observer.psubscribe(`${prefix}*`);

    const busConnection = t.app.get(RedisConnections).get('bus-sub');
    const heardByBus: string[] = [];
    const listener = (_pattern: string, channel: string) => heardByBus.push(channel);
    busConnection.on('pmessage', listener);
    const bus = t.app.get(EventBus);
    const received: unknown[] = [];
    const unsubscribe = bus.on('bus-channel-probe', (m) => received.push(m));
    try {
      // A cluster-wide broadcast goes through the adapter's Redis channels.
      t.app.get(EventsGateway).server.to('room-nobody-is-in').emit('probe', { n: 1 });
      await waitFor('the adapter to publish under the prefix', () =>
        everything.some((c) => c.startsWith(`${prefix}socket.io`)),
      );
      // Redis has handed the adapter's message to every matching subscriber by now; what the
      // bus is sent next arrives after it on the same connection.
      bus.publish('bus-channel-probe', { n: 2 });
      await waitFor('the bus to deliver its own topic', () => received.length === 1);
      expect(received).toEqual([{ n: 2 }]);
      expect(heardByBus.length).toBeGreaterThan(0);
      expect(heardByBus.filter((c) => !c.startsWith(`${prefix}bus:`))).toEqual([]);
      expect(everything.filter((c) => c.startsWith(`${prefix}socket.io`) && c.startsWith(`${prefix}bus:`))).toEqual([]);
    } finally {
      unsubscribe();
      busConnection.off('pmessage', listener);
    }
  });
});
