// Baseline for fan-out and connection memory: a bare socket.io server that takes the same
// HTTP publish and emits to a room, with nothing else in the way.
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
const { Server } = require('socket.io');

const server = createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/rss') {
    globalThis.gc?.();
    res.end(String(process.memoryUsage().rss));
    return;
  }
  let body = '';
  req.on('data', (c) => (body += c));
  req.on('end', () => {
    const event = JSON.parse(body || '{}');
    io.to('org').emit(event.type ?? 'claim_approved', event);
    res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify({ ok: true }));
  });
});
const io = new Server(server, { transports: ['websocket'] });
io.on('connection', (socket) => socket.join('org'));
server.listen(Number(process.env.PORT), '127.0.0.1', () => process.send?.('ready'));
