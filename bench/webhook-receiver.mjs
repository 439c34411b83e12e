// The webhook scenario's receiver, in a process of its own: a plain HTTP server on 127.0.0.1
// standing in for a customer's endpoint. It answers 200 at once and records, per request, the
// time from the event's publish (`data.t` in the body, set by the publisher) to its receipt.
//
// Messages from the parent: 'reset' clears the record; 'stats' answers with counts and
// percentiles; 'sample' answers with one received body and its headers.
import { createServer } from 'node:http';

let latencies = [];
let ids = new Set();
let firstAt = 0;
let lastAt = 0;
let sample;
let bad = 0;

const server = createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const at = Date.now();
    const body = Buffer.concat(chunks).toString('utf8');
    try {
      const t = JSON.parse(body)?.data?.t;
      if (typeof t !== 'number') throw new Error('no data.t');
      latencies.push(at - t);
      ids.add(req.headers['webhook-id']);
      if (!firstAt) firstAt = at;
      lastAt = at;
      sample ??= { body, headers: req.headers };
    } catch {
      bad++;
    }
    res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
  });
});
server.keepAliveTimeout = 10_000;

function percentile(sorted, p) {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

process.on('message', (msg) => {
  if (msg === 'reset') {
    latencies = [];
    ids = new Set();
    firstAt = lastAt = bad = 0;
    process.send({ reset: true });
  } else if (msg === 'count') {
    process.send({ count: latencies.length });
  } else if (msg === 'sample') {
    process.send({ sample });
  } else if (msg === 'stats') {
    const sorted = [...latencies].sort((a, b) => a - b);
    process.send({
      stats: {
        received: latencies.length,
        unique_ids: ids.size,
        bad,
        first_at: firstAt,
        last_at: lastAt,
        p50_ms: percentile(sorted, 50),
        p99_ms: percentile(sorted, 99),
        max_ms: sorted.at(-1) ?? NaN,
      },
    });
  }
});
process.on('disconnect', () => process.exit(0));

server.listen(0, '127.0.0.1', () => process.send({ port: server.address().port }));
