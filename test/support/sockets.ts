import { io, Socket } from 'socket.io-client';

/** Connects a real socket.io-client with `auth.token`; rejects with the server's connect_error. */
export function connectSocket(
  url: string,
  token: string | undefined,
  opts: { path?: string; query?: Record<string, string>; localAddress?: string } = {},
): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = io(url, {
      transports: ['websocket'],
      reconnection: false,
      forceNew: true,
      auth: token ? { token } : {},
      query: opts.query,
      ...(opts.localAddress ? { localAddress: opts.localAddress } : {}),
    });
    socket.once('connect', () => resolve(socket));
    socket.once('connect_error', (err) => {
      socket.close();
      reject(err);
    });
  });
}

/** Records every message of the given event names, in arrival order. */
export function record(socket: Socket, ...events: string[]): { event: string; payload: any }[] {
  const seen: { event: string; payload: any }[] = [];
  for (const event of events) socket.on(event, (payload: unknown) => seen.push({ event, payload }));
  return seen;
}

/** Polls until `check` returns true; fails with `what` after `timeoutMs`. */
export async function waitFor(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
