import type { Socket } from 'socket.io';

interface EngineConnection {
  writeBuffer?: { data?: unknown }[];
  transport?: { socket?: { bufferedAmount?: number } };
}

/**
 * Bytes emitted to a Socket.IO socket that have not reached the network yet: packets engine.io
 * holds while its transport is busy (or until a long-polling client polls again), plus what the
 * WebSocket transport has handed to `ws` but the kernel has not taken. Socket.IO does not cap
 * either, so this is what a per-client limit is checked against (the raw WebSocket contract's 1 MiB rule).
 */
export function pendingBytes(socket: Socket): number {
  const conn = socket.conn as unknown as EngineConnection;
  let bytes = conn.transport?.socket?.bufferedAmount ?? 0;
  for (const packet of conn.writeBuffer ?? []) {
    const data = packet.data;
    if (typeof data === 'string') bytes += data.length;
    else if (data instanceof ArrayBuffer || ArrayBuffer.isView(data)) bytes += data.byteLength;
  }
  return bytes;
}

/**
 * Resolves once `pending()` is at most `below`, or the connection is `gone()`. Neither `ws` nor
 * Socket.IO signals when its queue shrinks, so this polls every 5 ms.
 */
export function waitUntilDrained(pending: () => number, gone: () => boolean, below: number): Promise<void> {
  return new Promise((resolve) => {
    const check = () => (gone() || pending() <= below ? resolve() : setTimeout(check, 5));
    check();
  });
}

/** Resolves once the socket's pending bytes are at most `below`, or it has disconnected. */
export function waitForSocketDrain(socket: Socket, below: number): Promise<void> {
  return waitUntilDrained(
    () => pendingBytes(socket),
    () => socket.disconnected,
    below,
  );
}
