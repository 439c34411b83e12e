// Herald benchmarks, each against a bare baseline in the same run. Everything runs on
// 127.0.0.1, is bounded in count and time, and stops by itself.
//
//   npm run bench            full sizes
//   npm run bench -- --quick a small version (well under a minute)
//
// Prints a table and writes bench/results/<timestamp>.json.
import { fork, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

const require = createRequire(import.meta.url);
const autocannon = require('autocannon');
const { io } = require('socket.io-client');

const quick = process.argv.includes('--quick');
const SIZE = quick
  ? { ingestSeconds: 5, fanoutClients: 200, fanoutRate: 50, fanoutSeconds: 5, replayEvents: 10_000, idleSockets: 1_000 }
  : { ingestSeconds: 15, fanoutClients: 2_000, fanoutRate: 10, fanoutSeconds: 15, replayEvents: 100_000, idleSockets: 5_000 };
const ROOT = new URL('..', import.meta.url).pathname;

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function waitReady(url, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if ((await fetch(url)).ok) return;
    } catch {}
    if (Date.now() > deadline) throw new Error(`${url} did not come up`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function startHerald() {
  const dir = mkdtempSync(join(tmpdir(), 'herald-bench-'));
  const port = await freePort();
  const key = `hrld_bench_${randomBytes(12).toString('hex')}`;
  const child = spawn(process.execPath, ['--expose-gc', join(ROOT, 'dist/src/main.js')], {
    env: { PATH: process.env.PATH, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'silent', SQLITE_PATH: join(dir, 'herald.sqlite'), HERALD_BOOTSTRAP_KEY: key, PUBLIC_BASE_URL: `http://127.0.0.1:${port}` },
    stdio: 'ignore',
  });
  const url = `http://127.0.0.1:${port}`;
  await waitReady(`${url}/readyz`);
  const res = await fetch(`${url}/api/v1/api-keys`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': key },
    body: JSON.stringify({ kind: 'app', organisation_id: 'org_bench', scopes: ['events:publish', 'events:read', 'claims:read:org'] }),
  });
  const { token } = await res.json();
  return { url, port, token, stop: () => (child.kill('SIGTERM'), rmSync(dir, { recursive: true, force: true })) };
}

async function startBaseline(file) {
  const port = await freePort();
  const child = fork(join(ROOT, 'bench/baselines', file), [], { env: { ...process.env, PORT: String(port) }, execArgv: ['--expose-gc'], stdio: 'ignore' });
  await new Promise((resolve, reject) => {
    child.once('message', resolve);
    child.once('exit', (code) => reject(new Error(`${file} exited with ${code}`)));
  });
  return { url: `http://127.0.0.1:${port}`, stop: () => child.kill('SIGTERM') };
}

function percentile(sorted, p) {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

const EVENT = { type: 'claim_approved', user_id: 'usr_bench', claim_id: 'clm_bench', data: { amount: 4850, currency: 'NOK' } };

async function cannon(url, path, headers, body, seconds) {
  const result = await autocannon({ url: url + path, method: 'POST', connections: 32, duration: seconds, headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  const ok = result['2xx'];
  return { requests_per_s: ok / seconds, p50_ms: result.latency.p50, p99_ms: result.latency.p99, non2xx: result.non2xx, errors: result.errors };
}

async function ingest(herald) {
  const bare = await startBaseline('bare-nest.mjs');
  try {
    const baseline = await cannon(bare.url, '/api/v1/events', {}, EVENT, SIZE.ingestSeconds);
    const single = await cannon(herald.url, '/api/v1/events', { 'x-api-key': herald.token }, EVENT, SIZE.ingestSeconds);
    const batch = await cannon(herald.url, '/api/v1/events/batch', { 'x-api-key': herald.token }, { events: Array.from({ length: 100 }, () => EVENT) }, SIZE.ingestSeconds);
    return {
      baseline,
      herald_single: single,
      herald_batch: { ...batch, events_per_s: batch.requests_per_s * 100 },
      ratio_single_vs_bare: single.requests_per_s / baseline.requests_per_s,
    };
  } finally {
    bare.stop();
  }
}

function connectMany(url, count, opts) {
  return Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise((resolve, reject) => {
          const s = io(url, { transports: ['websocket'], reconnection: false, forceNew: true, timeout: 60_000, ...opts });
          s.once('connect', () => resolve(s));
          s.once('connect_error', reject);
        }),
    ),
  );
}

async function fanoutRun(url, publish, auth) {
  const sockets = [];
  for (let i = 0; i < SIZE.fanoutClients; i += 50) sockets.push(...(await connectMany(url, Math.min(50, SIZE.fanoutClients - i), { auth })));
  const latencies = [];
  for (const s of sockets) s.on('claim_approved', (e) => latencies.push(Date.now() - (e.data?.t ?? e.t)));
  const total = SIZE.fanoutRate * SIZE.fanoutSeconds;
  const started = performance.now();
  for (let i = 0; i < total; i++) {
    const due = started + (i * 1000) / SIZE.fanoutRate;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    void publish(Date.now());
  }
  const expected = total * sockets.length;
  const deadline = Date.now() + 30_000;
  while (latencies.length < expected && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  const elapsed = (performance.now() - started) / 1000;
  for (const s of sockets) s.close();
  const sorted = latencies.sort((a, b) => a - b);
  return { delivered: latencies.length, expected, messages_per_s: latencies.length / elapsed, p50_ms: percentile(sorted, 50), p99_ms: percentile(sorted, 99) };
}

async function fanout(herald) {
  const bare = await startBaseline('bare-socketio.mjs');
  try {
    const post = (url, headers, body) => fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) }).catch(() => undefined);
    const baseline = await fanoutRun(bare.url, (t) => post(`${bare.url}/publish`, {}, { type: 'claim_approved', t }), {});
    const herald_ = await fanoutRun(herald.url, (t) => post(`${herald.url}/api/v1/events`, { 'x-api-key': herald.token }, { ...EVENT, data: { t } }), { token: herald.token });
    return { clients: SIZE.fanoutClients, rate_per_s: SIZE.fanoutRate, baseline, herald: herald_, throughput_ratio: herald_.messages_per_s / baseline.messages_per_s, p99_ratio: herald_.p99_ms / baseline.p99_ms };
  } finally {
    bare.stop();
  }
}

async function replay(herald) {
  const headers = { 'content-type': 'application/json', 'x-api-key': herald.token };
  const channel = await (await fetch(`${herald.url}/api/v1/realtime-subscriptions/organisation`, { method: 'POST', headers, body: JSON.stringify({ organisation_id: 'org_bench', event_types: ['status_changed'] }) })).json();
  for (let sent = 0; sent < SIZE.replayEvents; sent += 500) {
    const events = Array.from({ length: Math.min(500, SIZE.replayEvents - sent) }, (_, i) => ({ type: 'status_changed', data: { i: sent + i } }));
    const res = await fetch(`${herald.url}/api/v1/events/batch`, { method: 'POST', headers, body: JSON.stringify({ events }) });
    if (res.status !== 201) throw new Error(`batch failed: ${res.status}`);
  }
  const started = performance.now();
  let received = 0;
  await new Promise((resolve, reject) => {
    const socket = io(channel.websocket_url, { transports: ['websocket'], reconnection: false, forceNew: true, autoConnect: false, auth: { token: herald.token } });
    socket.on('status_changed', () => {
      if (++received === SIZE.replayEvents) {
        socket.close();
        resolve();
      }
    });
    socket.once('connect_error', reject);
    socket.connect();
    setTimeout(() => reject(new Error(`replay incomplete: ${received}/${SIZE.replayEvents}`)), 120_000).unref();
  });
  const seconds = (performance.now() - started) / 1000;
  return { events: SIZE.replayEvents, seconds, events_per_s: SIZE.replayEvents / seconds };
}

async function rssOf(kind, target) {
  if (kind === 'bare') return Number(await (await fetch(`${target.url}/rss`)).text());
  const text = await (await fetch(`${target.url}/metrics`)).text();
  return Number(/^herald_process_resident_memory_bytes (\d+)/m.exec(text)[1]);
}

async function connections(herald) {
  const bare = await startBaseline('bare-socketio.mjs');
  try {
    const measure = async (kind, target, auth) => {
      const before = await rssOf(kind, target);
      const sockets = [];
      for (let i = 0; i < SIZE.idleSockets; i += 50) sockets.push(...(await connectMany(target.url, Math.min(50, SIZE.idleSockets - i), { auth })));
      await new Promise((r) => setTimeout(r, 2000));
      const after = await rssOf(kind, target);
      for (const s of sockets) s.close();
      return { sockets: SIZE.idleSockets, bytes_per_connection: (after - before) / SIZE.idleSockets };
    };
    const baseline = await measure('bare', bare, {});
    const herald_ = await measure('herald', herald, { token: herald.token });
    return { baseline, herald: herald_, ratio: herald_.bytes_per_connection / baseline.bytes_per_connection };
  } finally {
    bare.stop();
  }
}

const fmt = (n, d = 1) => (Number.isFinite(n) ? n.toFixed(d) : String(n));

async function main() {
  const herald = await startHerald();
  const results = { at: new Date().toISOString(), quick, size: SIZE, node: process.version };
  const attempt = async (name, run) => {
    try {
      results[name] = await run(herald);
    } catch (err) {
      results[name] = { error: String(err?.message ?? err) };
      console.error(`${name} failed: ${results[name].error}`);
    }
  };
  try {
    await attempt('ingest', ingest);
    await attempt('fanout', fanout);
    await attempt('replay', replay);
    await attempt('connections', connections);
  } finally {
    herald.stop();
  }
  const { ingest: i, fanout: f, replay: r, connections: c } = results;
  if ([i, f, r, c].some((x) => x.error)) {
    console.log(JSON.stringify(results, null, 2));
    process.exitCode = 1;
    return;
  }
  const rows = [
    ['ingest POST /events (req/s)', fmt(i.herald_single.requests_per_s, 0), fmt(i.baseline.requests_per_s, 0), fmt(i.ratio_single_vs_bare, 2), `p99 ${i.herald_single.p99_ms} ms vs ${i.baseline.p99_ms} ms`],
    ['ingest /events/batch (events/s)', fmt(i.herald_batch.events_per_s, 0), '—', '—', `p99 ${i.herald_batch.p99_ms} ms per 100-event batch`],
    [`fan-out ${f.clients} clients (msgs/s)`, fmt(f.herald.messages_per_s, 0), fmt(f.baseline.messages_per_s, 0), fmt(f.throughput_ratio, 2), `delivered ${f.herald.delivered}/${f.herald.expected}`],
    ['fan-out publish→receive p50/p99 (ms)', `${f.herald.p50_ms}/${f.herald.p99_ms}`, `${f.baseline.p50_ms}/${f.baseline.p99_ms}`, fmt(f.p99_ratio, 2), 'ratio of p99'],
    [`replay ${r.events} missed events (s)`, fmt(r.seconds, 2), '—', '—', `${fmt(r.events_per_s, 0)} events/s`],
    [`memory per idle connection (bytes, ${c.herald.sockets})`, fmt(c.herald.bytes_per_connection, 0), fmt(c.baseline.bytes_per_connection, 0), fmt(c.ratio, 2), 'RSS delta / sockets'],
  ];
  console.log('| scenario | Herald | bare baseline | ratio | note |\n|---|---|---|---|---|');
  for (const row of rows) console.log(`| ${row.join(' | ')} |`);
  mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
  const file = join(ROOT, 'bench/results', `${results.at.replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify(results, null, 2));
  console.log(`\nwritten ${file}`);
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
