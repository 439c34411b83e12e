import WebSocket from 'ws';

export interface WsConnection {
  ws: WebSocket;
  frames: any[];
  next(predicate: (frame: any) => boolean, what?: string, timeoutMs?: number): Promise<any>;
  closed: Promise<{ code: number; reason: string }>;
}

export interface UpgradeRefusal {
  status: number;
  body: any;
}

/** Opens a real `ws` client; rejects with the HTTP status and JSON body when the upgrade is refused. */
/** `localAddress` (e.g. 127.0.0.2) makes the connection come from another loopback address. */
export function connectWs(
  url: string,
  opts: { headers?: Record<string, string>; localAddress?: string } = {},
): Promise<WsConnection> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url.replace(/^http/, 'ws'), { headers: opts.headers, localAddress: opts.localAddress });
    const frames: any[] = [];
    const waiters: { predicate: (f: any) => boolean; resolve: (f: any) => void }[] = [];
    ws.on('message', (data) => {
      const frame = JSON.parse(data.toString());
      frames.push(frame);
      for (const w of [...waiters]) {
        if (w.predicate(frame)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(frame);
        }
      }
    });
    const closed = new Promise<{ code: number; reason: string }>((r) =>
      ws.on('close', (code, reason) => r({ code, reason: reason.toString() })),
    );
    ws.on('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () =>
        reject({ status: res.statusCode ?? 0, body: body ? JSON.parse(body) : undefined } satisfies UpgradeRefusal),
      );
    });
    ws.on('error', (err) => reject(err));
    ws.on('open', () =>
      resolve({
        ws,
        frames,
        closed,
        next(predicate, what = 'frame', timeoutMs = 10_000) {
          const found = frames.find(predicate);
          if (found) return Promise.resolve(found);
          return new Promise((res, rej) => {
            const timer = setTimeout(() => rej(new Error(`timed out waiting for ${what}`)), timeoutMs);
            waiters.push({ predicate, resolve: (f) => (clearTimeout(timer), res(f)) });
          });
        },
      }),
    );
  });
}

export function send(conn: WsConnection, frame: unknown): void {
  conn.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
}
