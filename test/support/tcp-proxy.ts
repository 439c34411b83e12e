import { connect, createServer, type Server, type Socket } from 'node:net';
import { freePort } from './test-app';

/**
 * A loopback TCP proxy to a real service that a test can take down and bring back: `down()`
 * resets every connection through it and refuses new ones, `up()` listens again on the same
 * port. `hold()` stops passing on what the service sends (as a client that stops reading
 * would), `release()` passes it on again. The service itself is never touched.
 */
export class TcpProxy {
  private server?: Server;
  private readonly sockets = new Set<Socket>();
  /** Each connection's service side and client side. */
  private readonly links = new Set<{ upstream: Socket; client: Socket }>();
  private holding = false;

  private constructor(
    readonly port: number,
    private readonly target: { host: string; port: number },
  ) {}

  static async start(target: { host: string; port: number }): Promise<TcpProxy> {
    const proxy = new TcpProxy(await freePort(), target);
    await proxy.up();
    return proxy;
  }

  up(): Promise<void> {
    if (this.server) return Promise.resolve();
    const server = createServer((client) => {
      const upstream = connect(this.target);
      const link = { upstream, client };
      this.links.add(link);
      upstream.once('close', () => this.links.delete(link));
      for (const [from, to] of [
        [client, upstream],
        [upstream, client],
      ] as const) {
        this.sockets.add(from);
        from.on('error', () => to.destroy());
        from.on('close', () => {
          this.sockets.delete(from);
          to.destroy();
        });
        if (from === client || !this.holding) from.pipe(to);
        else from.pause();
      }
    });
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
  }

  /** From now on, nothing the service sends reaches the clients (it waits in the proxy and the kernel). */
  hold(): void {
    this.holding = true;
    for (const { upstream, client } of this.links) {
      upstream.unpipe(client);
      upstream.pause();
    }
  }

  /** Passes on what was held, and everything after it. */
  release(): void {
    this.holding = false;
    for (const { upstream, client } of this.links) upstream.pipe(client);
  }

  async down(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const socket of this.sockets) socket.resetAndDestroy();
    this.sockets.clear();
    if (server) await new Promise((resolve) => server.close(resolve));
  }
}
