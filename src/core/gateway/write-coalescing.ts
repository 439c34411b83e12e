import type { Socket as TcpSocket } from 'node:net';
import type { Server } from 'socket.io';
import type { WebSocket } from 'ws';

/**
 * Frames written to one client in the same pass of the event loop leave in one system call.
 *
 * `ws` corks and uncorks the TCP socket around every frame it sends, so N frames sent in a row
 * are N `writev` calls, each waking the client's reader. A replay batch sends up to 500 frames in
 * a row, and a burst of live events several: replaying 100k events to one Socket.IO client spent
 * about a third of the node's CPU in those calls. Corking the TCP socket around the whole run
 * (Node counts nested corks, and writes only at the outermost uncork) sends them together. The
 * bytes and their order are unchanged, and the per-client limits measure only what the kernel has
 * not taken (see writeHeldFrames).
 */

/** The TCP socket under a `ws` WebSocket (`ws` keeps it in a field it does not document). */
function tcpOf(ws: WebSocket | undefined): TcpSocket | undefined {
  const tcp = (ws as unknown as { _socket?: TcpSocket } | undefined)?._socket;
  return typeof tcp?.cork === 'function' ? tcp : undefined;
}

/**
 * Bytes held back at most: past this the held frames are written at once and holding starts
 * again, so a burst of large events is not all held until the end of the pass.
 */
export const COALESCE_MAX_BYTES = 64 * 1024;

/**
 * Corks `ws`'s TCP socket until the end of the current pass of the event loop (process.nextTick),
 * so the frames sent before then go out together; call it before each send. Once more than
 * COALESCE_MAX_BYTES are held they are written straight away.
 *
 * Held frames count in `bufferedAmount`, which the slow-client rule compares with
 * WS_MAX_BUFFERED_BYTES (as low as 1 KiB): whoever measures a client's backlog calls
 * `writeHeldFrames` first, so only bytes the kernel refused count, never bytes held here.
 */
export function coalesceUntilNextTick(ws: WebSocket): void {
  const tcp = tcpOf(ws);
  if (!tcp) return;
  if (corkedUntilTick.has(tcp)) {
    if (tcp.writableLength > COALESCE_MAX_BYTES) flush(tcp);
    return;
  }
  corkedUntilTick.add(tcp);
  tcp.cork();
  process.nextTick(() => {
    corkedUntilTick.delete(tcp);
    tcp.uncork();
  });
}

/** Writes the frames `coalesceUntilNextTick` holds for `ws` now (holding goes on for the rest of the pass). */
export function writeHeldFrames(ws: WebSocket): void {
  const tcp = tcpOf(ws);
  if (tcp && corkedUntilTick.has(tcp)) flush(tcp);
}

/** Hands what a corked socket holds to the kernel and corks it again: the pending uncork stays balanced. */
function flush(tcp: TcpSocket): void {
  tcp.uncork();
  tcp.cork();
}
const corkedUntilTick = new WeakSet<TcpSocket>();

/** engine.io's WebSocket transport, as far as this file uses it. */
interface EngineTransport {
  name: string;
  socket?: WebSocket;
  send(packets: unknown[]): void;
}
interface EngineConnection {
  transport: EngineTransport;
  on(event: 'upgrade', listener: (transport: EngineTransport) => void): void;
}

/**
 * engine.io flushes the packets queued for a connection (every emit made while the previous flush
 * was being written) with one `ws` send per packet. This wraps each WebSocket transport's flush
 * in one cork, for every connection of `server`, including those upgraded from long-polling.
 */
export function coalesceSocketIoFlushes(server: Server): void {
  server.engine.on('connection', (conn: EngineConnection) => {
    coalesceTransport(conn.transport);
    conn.on('upgrade', (transport) => coalesceTransport(transport));
  });
}

function coalesceTransport(transport: EngineTransport): void {
  const tcp = transport.name === 'websocket' ? tcpOf(transport.socket) : undefined;
  if (!tcp) return;
  const send = transport.send;
  transport.send = function (this: EngineTransport, packets: unknown[]) {
    if (packets.length < 2) return send.call(this, packets);
    tcp.cork();
    try {
      send.call(this, packets);
    } finally {
      tcp.uncork();
    }
  };
}
