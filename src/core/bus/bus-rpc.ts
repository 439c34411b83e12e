import { Injectable, OnApplicationShutdown } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { EventBus, type Unsubscribe } from './event-bus';

interface RpcRequest {
  requestId: string;
  replyTo: string;
  payload: unknown;
}

interface RpcReply {
  requestId: string;
  result: unknown;
}

/**
 * Ask-the-cluster over the bus: a request goes to every node; the node that can answer (the
 * one holding a connection) replies, the others stay silent. No reply within the timeout
 * means nobody holds it.
 */
@Injectable()
export class BusRpc implements OnApplicationShutdown {
  readonly nodeId = randomUUID();
  private readonly pending = new Map<string, (result: unknown) => void>();
  private readonly subscriptions: Unsubscribe[] = [];

  constructor(private readonly bus: EventBus) {
    this.subscriptions.push(
      this.bus.on(`rpc-reply:${this.nodeId}`, (message) => {
        const reply = message as RpcReply;
        this.pending.get(reply.requestId)?.(reply.result);
      }),
    );
  }

  /** Registers this node's answer to `topic`; returning undefined means "not mine". */
  handle<Req, Res>(topic: string, answer: (payload: Req) => Res | undefined | Promise<Res | undefined>): void {
    this.subscriptions.push(
      this.bus.on(`rpc:${topic}`, (message) => {
        const request = message as RpcRequest;
        void Promise.resolve(answer(request.payload as Req)).then((result) => {
          if (result !== undefined)
            this.bus.publish(`rpc-reply:${request.replyTo}`, { requestId: request.requestId, result });
        });
      }),
    );
  }

  /** Resolves with the first answer, or undefined if none came within `timeoutMs`. */
  request<Req, Res>(topic: string, payload: Req, timeoutMs = 2000): Promise<Res | undefined> {
    // A single node has already asked itself; there is nobody else to wait for.
    if (!this.bus.distributed) return Promise.resolve(undefined);
    const requestId = randomUUID();
    return new Promise((resolve) => {
      const timer = setTimeout(() => finish(undefined), timeoutMs);
      const finish = (result: unknown) => {
        clearTimeout(timer);
        this.pending.delete(requestId);
        resolve(result as Res | undefined);
      };
      this.pending.set(requestId, finish);
      this.bus.publish(`rpc:${topic}`, { requestId, replyTo: this.nodeId, payload } satisfies RpcRequest);
    });
  }

  onApplicationShutdown(): void {
    for (const unsubscribe of this.subscriptions) unsubscribe();
    for (const finish of this.pending.values()) finish(undefined);
  }
}
