import { Injectable } from '@nestjs/common';
import { Counter, Gauge } from 'prom-client';
import { MetricsService } from '../health/metrics.service';
import type { Transport } from './connection';

/** How a replay ended: handed over to live events, stopped because its client left, or failed reading the log. */
export type ReplayOutcome = 'live' | 'closed' | 'failed';

/** Told when a replay (CursorStream) starts and how it ends. */
export interface ReplayObserver {
  replayStarted(): void;
  replayFinished(outcome: ReplayOutcome): void;
}

const TRANSPORTS: readonly Transport[] = ['websocket', 'socket.io'];
const OUTCOMES: readonly ReplayOutcome[] = ['live', 'closed', 'failed'];

/**
 * What the gateway shows on /metrics (README "Operations"): connected clients, messages sent and
 * replays. Sending a message only adds to a plain number; the Prometheus counters catch up at
 * scrape time, so the fan-out loop pays no label hashing per message. Labels are the transport
 * and the replay outcome, never a client, channel or organisation.
 */
@Injectable()
export class GatewayMetrics implements ReplayObserver {
  private readonly sent: Record<Transport, number> = { websocket: 0, 'socket.io': 0 };
  private readonly sentReported: Record<Transport, number> = { websocket: 0, 'socket.io': 0 };
  private started = 0;
  private startedReported = 0;
  private readonly finished: Record<ReplayOutcome, number> = { live: 0, closed: 0, failed: 0 };
  private readonly finishedReported: Record<ReplayOutcome, number> = { live: 0, closed: 0, failed: 0 };
  private socketIoSockets: () => number = () => 0;
  private websocketClients: () => number = () => 0;
  private attachments: () => Record<Transport, number> = () => ({ websocket: 0, 'socket.io': 0 });

  constructor(metrics: MetricsService) {
    const registers = [metrics.registry];
    const messages: Counter<'transport'> = new Counter({
      name: 'herald_fanout_messages_total',
      help: 'Messages this node sent to clients (events, live and replayed, and notifications), by transport',
      labelNames: ['transport'],
      registers,
      collect: () => {
        for (const transport of TRANSPORTS) {
          messages.inc({ transport }, this.sent[transport] - this.sentReported[transport]);
          this.sentReported[transport] = this.sent[transport];
        }
      },
    });
    const replaysStarted: Counter = new Counter({
      name: 'herald_replays_started_total',
      help: 'Channel replays started on this node (an attaching client, or a catch-up after the bus lost events)',
      registers,
      collect: () => {
        replaysStarted.inc(this.started - this.startedReported);
        this.startedReported = this.started;
      },
    });
    const replaysFinished: Counter<'outcome'> = new Counter({
      name: 'herald_replays_finished_total',
      help: 'Channel replays finished on this node, by outcome: live (handed over to live events), closed (the client left), failed (reading the log failed)',
      labelNames: ['outcome'],
      registers,
      collect: () => {
        for (const outcome of OUTCOMES) {
          replaysFinished.inc({ outcome }, this.finished[outcome] - this.finishedReported[outcome]);
          this.finishedReported[outcome] = this.finished[outcome];
        }
      },
    });
    const socketIo: Gauge = new Gauge({
      name: 'herald_socketio_sockets',
      help: 'Socket.IO sockets connected to this node, in every namespace (the default one and channel namespaces)',
      registers,
      collect: () => socketIo.set(this.socketIoSockets()),
    });
    const websocket: Gauge = new Gauge({
      name: 'herald_websocket_clients',
      help: 'Raw WebSocket connections open on this node, on every path (/api/v1/ws/subscribe and /channels/<id>)',
      registers,
      collect: () => websocket.set(this.websocketClients()),
    });
    const attached: Gauge<'transport'> = new Gauge({
      name: 'herald_channel_attachments',
      help: 'Clients attached to realtime channels on this node, by transport',
      labelNames: ['transport'],
      registers,
      collect: () => {
        const counts = this.attachments();
        for (const transport of TRANSPORTS) attached.set({ transport }, counts[transport]);
      },
    });
  }

  /** Where the connected-client gauges read from, set once by the owner of each kind of connection. */
  countSocketIoSockets(read: () => number): void {
    this.socketIoSockets = read;
  }

  countWebsocketClients(read: () => number): void {
    this.websocketClients = read;
  }

  countChannelAttachments(read: () => Record<Transport, number>): void {
    this.attachments = read;
  }

  /** `n` messages went out to clients over `transport`. */
  messagesSent(transport: Transport, n = 1): void {
    this.sent[transport] += n;
  }

  replayStarted(): void {
    this.started++;
  }

  replayFinished(outcome: ReplayOutcome): void {
    this.finished[outcome]++;
  }
}
