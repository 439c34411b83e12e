import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { Webhook } from 'standardwebhooks';

/** How the receiver answers one request. `hang` never answers; `delayMs` answers late. */
export interface Reply {
  status?: number;
  headers?: Record<string, string>;
  body?: string;
  delayMs?: number;
  hang?: boolean;
}

export interface ReceivedWebhook {
  /** The `webhook-id` header: the delivery id, the same on every retry. */
  id: string;
  headers: IncomingHttpHeaders;
  body: string;
  /** True when the Standard Webhooks library verified the signature with the receiver's secret. */
  verified: boolean;
  verifyError?: string;
  /** `Date.now()` when the request arrived. */
  at: number;
  /** What the receiver answered (`hang` when it never did). */
  answered: number | 'hang';
}

/**
 * A real HTTP server on 127.0.0.1 standing in for a customer's webhook endpoint. Replies are
 * scripted per request, in order, then fall back to a default; every request is recorded and its
 * signature checked with the `standardwebhooks` package, as a customer's receiver would.
 */
export class WebhookReceiver {
  readonly requests: ReceivedWebhook[] = [];
  private readonly script: Reply[] = [];
  private fallback: Reply = { status: 200 };
  private server?: Server;
  private readonly sockets = new Set<Socket>();
  private readonly hanging = new Set<ServerResponse>();
  private port = 0;
  /** While set, every request gets this reply, but only when `release` is called. */
  private holding?: Reply;
  private readonly held: (() => void)[] = [];
  /** Requests that have arrived and not been answered (or cut off) yet. */
  private unanswered = 0;
  private mostUnanswered = 0;

  private constructor(private readonly secret: string) {}

  static async start(secret: string): Promise<WebhookReceiver> {
    const receiver = new WebhookReceiver(secret);
    await receiver.up();
    return receiver;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/hooks`;
  }

  /** The next requests get these replies, in order; later ones get the default. */
  reply(...replies: Reply[]): this {
    this.script.push(...replies);
    return this;
  }

  /** The reply for every request the script does not cover. */
  otherwise(reply: Reply): this {
    this.fallback = reply;
    return this;
  }

  ids(): string[] {
    return this.requests.map((r) => r.id);
  }

  /** Holds every request from now on open, unanswered, until `release` (scripted replies wait too). */
  hold(reply: Reply = { status: 200 }): this {
    this.holding = reply;
    return this;
  }

  /** Answers every held request and stops holding. */
  release(): void {
    this.holding = undefined;
    for (const answer of this.held.splice(0)) answer();
  }

  /** Requests open right now: arrived, not yet answered or cut off. */
  get inFlight(): number {
    return this.unanswered;
  }

  /** The most requests that were ever open at once. */
  get maxInFlight(): number {
    return this.mostUnanswered;
  }

  /** Listens (again, on the same port after `down`). */
  async up(): Promise<void> {
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => this.handle(req.headers, Buffer.concat(chunks).toString('utf8'), res));
    });
    server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  /** Stops listening and cuts every open connection: senders now get connection errors. */
  async down(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    for (const res of this.hanging) res.destroy();
    this.hanging.clear();
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  close(): Promise<void> {
    return this.down();
  }

  private handle(headers: IncomingHttpHeaders, body: string, res: ServerResponse): void {
    const flat: Record<string, string> = {};
    for (const [name, value] of Object.entries(headers)) if (typeof value === 'string') flat[name] = value;
    let verified = false;
    let verifyError: string | undefined;
    try {
      new Webhook(this.secret).verify(body, flat);
      verified = true;
    } catch (err) {
      verifyError = (err as Error).message;
    }
    this.unanswered++;
    this.mostUnanswered = Math.max(this.mostUnanswered, this.unanswered);
    res.once('close', () => this.unanswered--);
    const reply = this.holding ?? this.script.shift() ?? this.fallback;
    this.requests.push({
      id: flat['webhook-id'] ?? '',
      headers,
      body,
      verified,
      verifyError,
      at: Date.now(),
      answered: reply.hang ? 'hang' : (reply.status ?? 200),
    });
    if (reply.hang) {
      this.hanging.add(res);
      res.on('close', () => this.hanging.delete(res));
      return;
    }
    const answer = () => {
      if (res.destroyed) return;
      res.writeHead(reply.status ?? 200, { 'content-type': 'text/plain', ...reply.headers });
      res.end(reply.body ?? '');
    };
    if (reply === this.holding) {
      this.held.push(answer);
      res.once('close', () => {
        const i = this.held.indexOf(answer);
        if (i >= 0) this.held.splice(i, 1);
      });
    } else if (reply.delayMs) setTimeout(answer, reply.delayMs);
    else answer();
  }
}
