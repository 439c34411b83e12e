// A share of the idle Socket.IO clients of the connections scenario, in a process of its own so
// that 10,000 sockets are not opened and kept by one event loop.
//
// The parent sends { url, count, auth }; the answer is { opened } once all are connected (or
// { error }). 'close' closes them all and the process exits.
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
const { io } = require('socket.io-client');

const BATCH = 50;
const sockets = [];

function connect(url, auth) {
  return new Promise((resolve, reject) => {
    const s = io(url, { transports: ['websocket'], reconnection: false, forceNew: true, timeout: 60_000, auth });
    s.once('connect', () => resolve(s));
    s.once('connect_error', (err) => {
      s.close();
      const cause = err?.description?.message ?? err?.description?.error?.message ?? err?.context?.statusText;
      reject(new Error(`${err?.message ?? err}${cause ? ` (${cause})` : ''}`));
    });
  });
}

async function open({ url, count, auth }) {
  for (let i = 0; i < count; i += BATCH) {
    const batch = await Promise.all(Array.from({ length: Math.min(BATCH, count - i) }, () => connect(url, auth)));
    sockets.push(...batch);
  }
  let dropped = 0;
  for (const s of sockets) if (!s.connected) dropped++;
  return { opened: sockets.length - dropped };
}

process.on('message', (msg) => {
  if (msg === 'close') {
    for (const s of sockets) s.close();
    setTimeout(() => process.exit(0), 200);
    return;
  }
  open(msg).then(
    (result) => process.send(result),
    (err) => process.send({ error: String(err?.message ?? err) }),
  );
});
process.on('disconnect', () => process.exit(0));
process.send('ready');
