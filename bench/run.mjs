// Herald benchmarks, each against a bare baseline in the same run. Everything runs on
// 127.0.0.1, is bounded in count and time, and stops by itself.
//
//   npm run bench                         full sizes
//   npm run bench -- --quick              a small version (well under a minute)
//   npm run bench -- --only webhooks,connections   only the named scenarios
//   npm run bench -- --cluster            two Herald nodes on Postgres + Redis instead of one on
//                                         SQLite (BENCH_DATABASE_URL, BENCH_REDIS_URL; defaults
//                                         postgres://postgres@127.0.0.1:5432/test, redis://127.0.0.1:6379)
//
// Scenarios: ingest, fanout, replay, webhooks, connections.
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
const { Client: PgClient } = require('pg');
const Redis = require('ioredis');

const SCENARIOS = ['ingest', 'fanout', 'replay', 'webhooks', 'connections'];
const quick = process.argv.includes('--quick');
const cluster = process.argv.includes('--cluster');
const onlyAt = process.argv.indexOf('--only');
const only = onlyAt >= 0 ? (process.argv[onlyAt + 1] ?? '').split(',').filter(Boolean) : SCENARIOS;
for (const name of only) {
  if (!SCENARIOS.includes(name)) {
    console.error(`unknown scenario ${name}; one of ${SCENARIOS.join(', ')}`);
    process.exit(2);
  }
}
const SIZE = quick
  ? {
      ingestSeconds: 5,
      fanoutClients: 200,
      fanoutRate: 50,
      fanoutSeconds: 5,
      replayEvents: 10_000,
      webhookRate: 200,
      webhookSeconds: 3,
      webhookClaims: 50,
      idleSockets: 1_000,
    }
  : {
      ingestSeconds: 15,
      fanoutClients: 2_000,
      fanoutRate: 10,
      fanoutSeconds: 15,
      replayEvents: 100_000,
      webhookRate: 1_000,
      webhookSeconds: 30,
      webhookClaims: 200,
      idleSockets: 10_000,
    };
// For profiling one scenario at another size: --webhook-rate N, --webhook-seconds N.
for (const [flag, key] of [
  ['--webhook-rate', 'webhookRate'],
  ['--webhook-seconds', 'webhookSeconds'],
]) {
  const at = process.argv.indexOf(flag);
  if (at >= 0) SIZE[key] = Number(process.argv[at + 1]);
}
/** Herald's delivery worker default (WEBHOOK_CONCURRENCY); the undici baseline uses the same. */
const WEBHOOK_CONCURRENCY = 50;
/** Idle sockets per load-generator process in the connections scenario. */
const SOCKETS_PER_CLIENT_PROCESS = 2_500;
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
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${url} did not come up`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

class SetupError extends Error {}

/** Lines of a Herald node's stderr kept for the error when it does not come up. */
function tail(stream, limit = 4_000) {
  let text = '';
  stream.setEncoding('utf8');
  stream.on('data', (d) => (text = (text + d).slice(-limit)));
  return () => text.trim();
}

/**
 * Starts one Herald node from dist/ with `env` on top of the bench defaults and waits for
 * /readyz. stop() sends SIGTERM and waits for the exit (SIGKILL after 15 s), so that a profile
 * the server writes on the way out (BENCH_HERALD_NODE_ARGS) is complete.
 */
async function startNode(env, name) {
  const port = await freePort();
  // BENCH_HERALD_NODE_ARGS, e.g. '--cpu-prof --cpu-prof-dir=/tmp/herald-prof', profiles the server.
  const nodeArgs = (process.env.BENCH_HERALD_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const child = spawn(process.execPath, ['--expose-gc', ...nodeArgs, join(ROOT, 'dist/src/main.js')], {
    env: {
      PATH: process.env.PATH,
      PORT: String(port),
      HOST: '127.0.0.1',
      LOG_LEVEL: 'silent',
      PUBLIC_BASE_URL: `http://127.0.0.1:${port}`,
      // The webhook receiver is on 127.0.0.1, which the SSRF guard refuses otherwise.
      WEBHOOK_ALLOW_PRIVATE: 'true',
      WEBHOOK_CONCURRENCY: String(WEBHOOK_CONCURRENCY),
      // Every load generator connects from 127.0.0.1 with a handful of keys: the per-address and
      // per-credential caps that keep one client from holding a node would cap the bench instead.
      MAX_CONNECTIONS_PER_ADDRESS: '1000000',
      WS_MAX_SOCKETS_PER_ADDRESS: '1000000',
      WS_MAX_SOCKETS_PER_CREDENTIAL: '1000000',
      CHANNEL_MAX_ATTACHMENTS: '1000000',
      ...env,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const stderr = tail(child.stderr);
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal)));
  const url = `http://127.0.0.1:${port}`;
  let starting = true;
  try {
    await Promise.race([
      waitReady(`${url}/readyz`),
      exited.then((code) => {
        if (starting) throw new Error(`Herald ${name} exited (${code}) before it was ready\n${stderr()}`);
      }),
    ]);
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  } finally {
    starting = false;
  }
  return {
    name,
    url,
    port,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const code = await Promise.race([exited, sleep(15_000).then(() => 'timeout')]);
      if (code === 'timeout') {
        child.kill('SIGKILL');
        await exited;
      }
    },
  };
}

async function createAppKey(url, bootstrapKey) {
  const res = await fetch(`${url}/api/v1/api-keys`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': bootstrapKey },
    body: JSON.stringify({
      kind: 'app',
      organisation_id: 'org_bench',
      scopes: ['events:publish', 'events:read', 'claims:read:org'],
    }),
  });
  if (res.status !== 201) throw new Error(`creating the bench API key failed: ${res.status} ${await res.text()}`);
  return (await res.json()).token;
}

/** Runs `stop` once, however many times the result is called. */
function once(stop) {
  let done;
  return () => (done ??= stop());
}

/** One Herald node on a SQLite file of its own (the default mode). */
async function startSqlite() {
  const dir = mkdtempSync(join(tmpdir(), 'herald-bench-'));
  const key = `hrld_bench_${randomBytes(12).toString('hex')}`;
  let node;
  try {
    node = await startNode({ SQLITE_PATH: join(dir, 'herald.sqlite'), HERALD_BOOTSTRAP_KEY: key }, 'sqlite');
    const token = await createAppKey(node.url, key);
    const stop = once(async () => {
      await node.stop();
      rmSync(dir, { recursive: true, force: true });
    });
    return { mode: 'sqlite', url: node.url, token, nodes: [node], info: {}, stop };
  } catch (err) {
    await node?.stop();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

const redact = (raw) => raw.replace(/\/\/([^:/@]+):([^@]+)@/, '//$1:***@');

/** Fails with a SetupError naming the service when Postgres or Redis does not answer. */
async function checkServices(databaseUrl, redisUrl) {
  const pg = new PgClient({ connectionString: databaseUrl, connectionTimeoutMillis: 5_000 });
  pg.on('error', () => {});
  try {
    await pg.connect();
    await pg.query('SELECT 1');
  } catch (err) {
    throw new SetupError(
      `--cluster needs Postgres at ${redact(databaseUrl)} (set BENCH_DATABASE_URL): ${err?.message ?? err}`,
    );
  } finally {
    await pg.end().catch(() => {});
  }
  const redis = new Redis(redisUrl, {
    lazyConnect: true,
    connectTimeout: 5_000,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  });
  let cause;
  redis.on('error', (err) => (cause ??= err));
  try {
    await redis.connect();
    await redis.ping();
  } catch (err) {
    throw new SetupError(
      `--cluster needs Redis at ${redact(redisUrl)} (set BENCH_REDIS_URL): ${(cause ?? err)?.message ?? err}`,
    );
  } finally {
    redis.disconnect();
  }
}

async function dropSchema(databaseUrl, schema) {
  const pg = new PgClient({ connectionString: databaseUrl, connectionTimeoutMillis: 5_000 });
  pg.on('error', () => {});
  try {
    await pg.connect();
    await pg.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await pg.end().catch(() => {});
  }
}

/**
 * Two Herald nodes sharing a fresh Postgres schema, a Redis prefix of this run and one bootstrap
 * key. Node A starts first and runs the migrations, then node B. stop() ends both nodes and drops
 * the schema (Redis holds only pub/sub channels under the prefix, nothing to remove).
 */
async function startCluster() {
  const databaseUrl = process.env.BENCH_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test';
  const redisUrl = process.env.BENCH_REDIS_URL || 'redis://127.0.0.1:6379';
  await checkServices(databaseUrl, redisUrl);
  const schema = `bench_${process.pid}_${randomBytes(4).toString('hex')}`;
  const redisPrefix = `herald-bench-${schema}`;
  const key = `hrld_bench_${randomBytes(12).toString('hex')}`;
  const env = {
    DATABASE_URL: databaseUrl,
    DATABASE_SCHEMA: schema,
    REDIS_URL: redisUrl,
    REDIS_PREFIX: redisPrefix,
    HERALD_BOOTSTRAP_KEY: key,
  };
  const nodes = [];
  const stop = once(async () => {
    await Promise.all(nodes.map((node) => node.stop()));
    await dropSchema(databaseUrl, schema).catch((err) =>
      console.error(`dropping schema ${schema} failed: ${err?.message ?? err}`),
    );
  });
  try {
    nodes.push(await startNode(env, 'A'));
    nodes.push(await startNode(env, 'B'));
    const token = await createAppKey(nodes[0].url, key);
    return {
      mode: 'cluster',
      url: nodes[0].url,
      token,
      nodes,
      info: {
        nodes: nodes.length,
        database: redact(databaseUrl),
        schema,
        redis: redact(redisUrl),
        redis_prefix: redisPrefix,
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

async function startBaseline(file) {
  const port = await freePort();
  const child = fork(join(ROOT, 'bench/baselines', file), [], {
    env: { ...process.env, PORT: String(port) },
    execArgv: ['--expose-gc'],
    stdio: 'ignore',
  });
  await new Promise((resolve, reject) => {
    child.once('message', resolve);
    child.once('exit', (code) => reject(new Error(`${file} exited with ${code}`)));
  });
  return { url: `http://127.0.0.1:${port}`, stop: () => child.kill('SIGTERM') };
}

/** Forks a helper script of bench/ that talks over IPC. */
async function startHelper(file) {
  const child = fork(join(ROOT, file), [], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  const first = await ask(child, undefined, () => true, 30_000);
  return { child, first };
}

/** Sends `msg` (if any) to `child` and resolves with the first answer `accept` takes. */
function ask(child, msg, accept, timeoutMs = 180_000) {
  return new Promise((resolve, reject) => {
    const done = (fn, value) => {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
      fn(value);
    };
    const onMessage = (m) => accept(m) && done(resolve, m);
    const onExit = (code) => done(reject, new Error(`helper exited with ${code}`));
    const timer = setTimeout(() => done(reject, new Error(`helper did not answer within ${timeoutMs} ms`)), timeoutMs);
    child.on('message', onMessage);
    child.once('exit', onExit);
    if (msg !== undefined) child.send(msg);
  });
}

function stopHelper(child) {
  if (child.exitCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function percentile(sorted, p) {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

const EVENT = {
  type: 'claim_approved',
  user_id: 'usr_bench',
  claim_id: 'clm_bench',
  data: { amount: 4850, currency: 'NOK' },
};

/** Concurrent connections of the ingest load, split evenly over the nodes in cluster mode. */
const INGEST_CONNECTIONS = 32;

async function cannon(url, path, headers, body, seconds, connections = INGEST_CONNECTIONS) {
  const result = await autocannon({
    url: url + path,
    method: 'POST',
    connections,
    duration: seconds,
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  const ok = result['2xx'];
  return {
    requests_per_s: ok / seconds,
    p50_ms: result.latency.p50,
    p99_ms: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors,
  };
}

/**
 * One autocannon per node at the same time, the connections split between them; req/s summed,
 * latency percentiles those of the slower node.
 */
async function cannonNodes(nodes, path, headers, body, seconds) {
  if (nodes.length === 1) return cannon(nodes[0].url, path, headers, body, seconds);
  const per = await Promise.all(
    nodes.map((node) => cannon(node.url, path, headers, body, seconds, Math.ceil(INGEST_CONNECTIONS / nodes.length))),
  );
  const sum = (key) => per.reduce((n, r) => n + r[key], 0);
  const max = (key) => Math.max(...per.map((r) => r[key]));
  return {
    requests_per_s: sum('requests_per_s'),
    p50_ms: max('p50_ms'),
    p99_ms: max('p99_ms'),
    non2xx: sum('non2xx'),
    errors: sum('errors'),
    per_node: per,
  };
}

async function ingest(herald) {
  const bare = await startBaseline('bare-nest.mjs');
  try {
    const baseline = await cannon(bare.url, '/api/v1/events', {}, EVENT, SIZE.ingestSeconds);
    const single = await cannonNodes(
      herald.nodes,
      '/api/v1/events',
      { 'x-api-key': herald.token },
      EVENT,
      SIZE.ingestSeconds,
    );
    const batch = await cannonNodes(
      herald.nodes,
      '/api/v1/events/batch',
      { 'x-api-key': herald.token },
      { events: Array.from({ length: 100 }, () => EVENT) },
      SIZE.ingestSeconds,
    );
    return {
      nodes: herald.nodes.length,
      connections: INGEST_CONNECTIONS,
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
          const s = io(url, {
            transports: ['websocket'],
            reconnection: false,
            forceNew: true,
            timeout: 60_000,
            ...opts,
          });
          s.once('connect', () => resolve(s));
          s.once('connect_error', reject);
        }),
    ),
  );
}

/** Clients connect in batches of 50, the batches alternating over `urls`; publish(t, i) sends the i-th event. */
async function fanoutRun(urls, publish, auth) {
  const sockets = [];
  for (let i = 0, b = 0; i < SIZE.fanoutClients; i += 50, b++)
    sockets.push(...(await connectMany(urls[b % urls.length], Math.min(50, SIZE.fanoutClients - i), { auth })));
  const latencies = [];
  for (const s of sockets) s.on('claim_approved', (e) => latencies.push(Date.now() - (e.data?.t ?? e.t)));
  const total = SIZE.fanoutRate * SIZE.fanoutSeconds;
  const started = performance.now();
  for (let i = 0; i < total; i++) {
    const due = started + (i * 1000) / SIZE.fanoutRate;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    void publish(Date.now(), i);
  }
  const expected = total * sockets.length;
  const deadline = Date.now() + 30_000;
  while (latencies.length < expected && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  const elapsed = (performance.now() - started) / 1000;
  for (const s of sockets) s.close();
  const sorted = latencies.sort((a, b) => a - b);
  return {
    delivered: latencies.length,
    expected,
    messages_per_s: latencies.length / elapsed,
    p50_ms: percentile(sorted, 50),
    p99_ms: percentile(sorted, 99),
  };
}

async function fanout(herald) {
  const bare = await startBaseline('bare-socketio.mjs');
  try {
    const post = (url, headers, body) =>
      fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify(body),
      }).catch(() => undefined);
    const baseline = await fanoutRun(
      [bare.url],
      (t) => post(`${bare.url}/publish`, {}, { type: 'claim_approved', t }),
      {},
    );
    // In cluster mode the clients are spread over the nodes and the publishes alternate between
    // them, so about half of every delivery crosses nodes through the Redis adapter.
    const urls = herald.nodes.map((node) => node.url);
    const herald_ = await fanoutRun(
      urls,
      (t, i) =>
        post(`${urls[i % urls.length]}/api/v1/events`, { 'x-api-key': herald.token }, { ...EVENT, data: { t } }),
      { token: herald.token },
    );
    return {
      nodes: urls.length,
      clients: SIZE.fanoutClients,
      rate_per_s: SIZE.fanoutRate,
      baseline,
      herald: herald_,
      throughput_ratio: herald_.messages_per_s / baseline.messages_per_s,
      p99_ratio: herald_.p99_ms / baseline.p99_ms,
    };
  } finally {
    bare.stop();
  }
}

/** Publishes through the first node and, in cluster mode, replays from the last one. */
async function replay(herald) {
  const writer = herald.nodes[0];
  const reader = herald.nodes.at(-1);
  const headers = { 'content-type': 'application/json', 'x-api-key': herald.token };
  const channel = await (
    await fetch(`${writer.url}/api/v1/realtime-subscriptions/organisation`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ organisation_id: 'org_bench', event_types: ['status_changed'] }),
    })
  ).json();
  for (let sent = 0; sent < SIZE.replayEvents; sent += 500) {
    const events = Array.from({ length: Math.min(500, SIZE.replayEvents - sent) }, (_, i) => ({
      type: 'status_changed',
      data: { i: sent + i },
    }));
    const res = await fetch(`${writer.url}/api/v1/events/batch`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ events }),
    });
    if (res.status !== 201) throw new Error(`batch failed: ${res.status}`);
  }
  const started = performance.now();
  let received = 0;
  await new Promise((resolve, reject) => {
    const socket = io(reader.url.replace(/^http/, 'ws') + new URL(channel.websocket_url).pathname, {
      transports: ['websocket'],
      reconnection: false,
      forceNew: true,
      autoConnect: false,
      auth: { token: herald.token },
    });
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
  return {
    events: SIZE.replayEvents,
    published_via: writer.name,
    read_from: reader.name,
    seconds,
    events_per_s: SIZE.replayEvents / seconds,
  };
}

async function rssOf(kind, target) {
  if (kind === 'bare') return Number(await (await fetch(`${target.url}/rss`)).text());
  const text = await (await fetch(`${target.url}/metrics`)).text();
  return Number(/^herald_process_resident_memory_bytes (\d+)/m.exec(text)[1]);
}

/**
 * Opens `count` idle sockets spread over child processes (one event loop cannot open and keep
 * 10,000), waits for the server to settle and reports its RSS growth per socket.
 */
async function idleSockets(kind, target, auth) {
  const before = await rssOf(kind, target);
  const processes = Math.max(1, Math.ceil(SIZE.idleSockets / SOCKETS_PER_CLIENT_PROCESS));
  const helpers = [];
  try {
    for (let i = 0; i < processes; i++) helpers.push((await startHelper('bench/socket-clients.mjs')).child);
    const shares = helpers.map(
      (_, i) => Math.floor(SIZE.idleSockets / processes) + (i < SIZE.idleSockets % processes ? 1 : 0),
    );
    const started = performance.now();
    const answers = await Promise.all(
      helpers.map((child, i) =>
        ask(child, { url: target.url, count: shares[i], auth }, (m) => 'opened' in m || 'error' in m),
      ),
    );
    const failed = answers.find((a) => a.error);
    if (failed) throw new Error(`${kind}: opening sockets failed: ${failed.error}`);
    const connectSeconds = (performance.now() - started) / 1000;
    const opened = answers.reduce((n, a) => n + a.opened, 0);
    await sleep(quick ? 1_500 : 3_000);
    const after = await rssOf(kind, target);
    return {
      sockets: opened,
      client_processes: processes,
      connect_seconds: connectSeconds,
      rss_before: before,
      rss_after: after,
      bytes_per_connection: (after - before) / opened,
    };
  } finally {
    for (const child of helpers) if (child.connected) child.send('close');
    await Promise.all(helpers.map((child) => stopHelper(child)));
  }
}

async function connections(herald) {
  const bare = await startBaseline('bare-socketio.mjs');
  try {
    const baseline = await idleSockets('bare', bare, {});
    // The first node only: a per-process memory figure.
    const herald_ = await idleSockets('herald', herald.nodes[0], { token: herald.token });
    return {
      node: herald.nodes[0].name,
      baseline,
      herald: herald_,
      ratio: herald_.bytes_per_connection / baseline.bytes_per_connection,
    };
  } finally {
    bare.stop();
  }
}

/**
 * Seed 002 claim webhook subscriptions, one per claim (the claimant's endpoint), all pointing at
 * one local receiver; events are published over REST at a steady rate, round-robin over the claims,
 * each carrying its publish time in `data.t`. The receiver records publish→receipt per delivery.
 * The baseline is undici posting the same bodies, signed the same way, at the same rate and the
 * same concurrency as Herald's delivery worker.
 */
async function webhooks(herald) {
  const { child: receiver, first } = await startHelper('bench/webhook-receiver.mjs');
  const receiverUrl = `http://127.0.0.1:${first.port}/hooks`;
  const total = SIZE.webhookRate * SIZE.webhookSeconds;
  const ticksPerSecond = 50;
  const perTick = SIZE.webhookRate / ticksPerSecond;
  const drainMs = quick ? 10_000 : 60_000;
  const stats = async () => (await ask(receiver, 'stats', (m) => 'stats' in m)).stats;
  const waitForReceipts = async (expected) => {
    const deadline = Date.now() + drainMs;
    while (Date.now() < deadline && (await ask(receiver, 'count', (m) => 'count' in m)).count < expected)
      await sleep(100);
  };
  const summarise = (s, started, expected) => ({
    expected,
    delivered: s.unique_ids,
    received: s.received,
    deliveries_per_s: s.received / ((s.last_at - started) / 1000),
    p50_ms: s.p50_ms,
    p99_ms: s.p99_ms,
    max_ms: s.max_ms,
  });
  try {
    const headers = { 'content-type': 'application/json', 'x-api-key': herald.token };
    for (let c = 0; c < SIZE.webhookClaims; c++) {
      const res = await fetch(
        `${herald.nodes[c % herald.nodes.length].url}/api/v1/approval-notifications/subscriptions`,
        {
          method: 'POST',
          headers,
          body: JSON.stringify({ claim_id: `clm_wh_${c}`, user_id: `usr_wh_${c}`, webhook_url: receiverUrl }),
        },
      );
      if (res.status !== 201) throw new Error(`subscribing failed: ${res.status} ${await res.text()}`);
    }

    await ask(receiver, 'reset', (m) => 'reset' in m);
    const started = Date.now();
    const t0 = performance.now();
    const publishes = [];
    let publishFailed = 0;
    for (let tick = 0, k = 0; k < total; tick++) {
      const wait = t0 + (tick * 1000) / ticksPerSecond - performance.now();
      if (wait > 0) await sleep(wait);
      const t = Date.now();
      const events = [];
      for (let i = 0; i < perTick && k < total; i++, k++)
        events.push({ type: 'status_changed', claim_id: `clm_wh_${k % SIZE.webhookClaims}`, data: { t, k } });
      publishes.push(
        // Ticks alternate over the nodes; every node's delivery worker takes deliveries from the shared store.
        fetch(`${herald.nodes[tick % herald.nodes.length].url}/api/v1/events/batch`, {
          method: 'POST',
          headers,
          body: JSON.stringify({ events }),
        }).then(
          async (res) => {
            await res.arrayBuffer();
            if (res.status !== 201) publishFailed += events.length;
          },
          () => (publishFailed += events.length),
        ),
      );
    }
    await Promise.all(publishes);
    const expected = total - publishFailed;
    await waitForReceipts(expected);
    const herald_ = { ...summarise(await stats(), started, expected), publish_failed: publishFailed };

    const { sample } = await ask(receiver, 'sample', (m) => 'sample' in m);
    if (!sample) throw new Error('Herald delivered nothing to take the body from');
    await ask(receiver, 'reset', (m) => 'reset' in m);
    const bare = (await startHelper('bench/baselines/bare-undici-webhooks.mjs')).child;
    let baseline;
    try {
      const bareStarted = Date.now();
      const answer = await ask(
        bare,
        {
          url: receiverUrl,
          rate: SIZE.webhookRate,
          seconds: SIZE.webhookSeconds,
          concurrency: WEBHOOK_CONCURRENCY,
          template: sample.body,
          secret: `whsec_${randomBytes(24).toString('base64')}`,
        },
        (m) => typeof m === 'object' && ('sent' in m || 'error' in m),
      );
      if (answer.error) throw new Error(`undici baseline failed: ${answer.error}`);
      await waitForReceipts(total);
      baseline = { ...summarise(await stats(), bareStarted, total), failed: answer.failed };
    } finally {
      await stopHelper(bare);
    }
    return {
      nodes: herald.nodes.length,
      rate_per_s: SIZE.webhookRate,
      seconds: SIZE.webhookSeconds,
      subscriptions: SIZE.webhookClaims,
      concurrency: WEBHOOK_CONCURRENCY,
      herald: herald_,
      baseline,
      throughput_ratio: herald_.deliveries_per_s / baseline.deliveries_per_s,
      p99_ratio: herald_.p99_ms / baseline.p99_ms,
    };
  } finally {
    await stopHelper(receiver);
  }
}

const fmt = (n, d = 1) => (Number.isFinite(n) ? n.toFixed(d) : String(n));

const RUNS = { ingest, fanout, replay, webhooks, connections };

/** The cluster-mode addition to a row's note, empty on one node. */
const across = (n, text) => (n > 1 ? `; ${text}` : '');

const ROWS = {
  ingest: (i) => [
    [
      'ingest POST /events (req/s)',
      fmt(i.herald_single.requests_per_s, 0),
      fmt(i.baseline.requests_per_s, 0),
      fmt(i.ratio_single_vs_bare, 2),
      `p99 ${i.herald_single.p99_ms} ms vs ${i.baseline.p99_ms} ms${across(i.nodes, `${i.nodes} nodes at once, ${Math.ceil(i.connections / i.nodes)} connections each, req/s summed, p99 of the slower node`)}`,
    ],
    [
      'ingest /events/batch (events/s)',
      fmt(i.herald_batch.events_per_s, 0),
      '—',
      '—',
      `p99 ${i.herald_batch.p99_ms} ms per 100-event batch${across(i.nodes, 'both nodes at once, summed')}`,
    ],
  ],
  fanout: (f) => [
    [
      `fan-out ${f.clients} clients (msgs/s)`,
      fmt(f.herald.messages_per_s, 0),
      fmt(f.baseline.messages_per_s, 0),
      fmt(f.throughput_ratio, 2),
      `delivered ${f.herald.delivered}/${f.herald.expected}${across(f.nodes, `clients split over ${f.nodes} nodes, publishes alternate between them`)}`,
    ],
    [
      'fan-out publish→receive p50/p99 (ms)',
      `${f.herald.p50_ms}/${f.herald.p99_ms}`,
      `${f.baseline.p50_ms}/${f.baseline.p99_ms}`,
      fmt(f.p99_ratio, 2),
      'ratio of p99',
    ],
  ],
  replay: (r) => [
    [
      `replay ${r.events} missed events (s)`,
      fmt(r.seconds, 2),
      '—',
      '—',
      `${fmt(r.events_per_s, 0)} events/s${r.read_from !== r.published_via ? `; published via node ${r.published_via}, replayed from node ${r.read_from}` : ''}`,
    ],
  ],
  webhooks: (w) => [
    [
      `webhooks ${w.rate_per_s} events/s × ${w.seconds} s (deliveries/s)`,
      fmt(w.herald.deliveries_per_s, 0),
      fmt(w.baseline.deliveries_per_s, 0),
      fmt(w.throughput_ratio, 2),
      `delivered ${w.herald.delivered}/${w.herald.expected}, ${w.subscriptions} subscriptions, concurrency ${w.concurrency}${w.nodes > 1 ? ` per node; publishes alternate over ${w.nodes} nodes` : ''}`,
    ],
    [
      'webhooks event→receipt p50/p99 (ms)',
      `${w.herald.p50_ms}/${w.herald.p99_ms}`,
      `${w.baseline.p50_ms}/${w.baseline.p99_ms}`,
      fmt(w.p99_ratio, 2),
      'ratio of p99',
    ],
  ],
  connections: (c) => [
    [
      `memory per idle connection (bytes, ${c.herald.sockets})`,
      fmt(c.herald.bytes_per_connection, 0),
      fmt(c.baseline.bytes_per_connection, 0),
      fmt(c.ratio, 2),
      `RSS delta / sockets, clients in ${c.herald.client_processes} processes${c.node !== 'sqlite' ? `; node ${c.node} only` : ''}`,
    ],
  ],
};

function modeLine(herald) {
  if (herald.mode === 'sqlite') return 'mode: sqlite — one Herald node on SQLite';
  const { nodes, schema, redis_prefix } = herald.info;
  return `mode: cluster — ${nodes} Herald nodes (A, B) on Postgres schema ${schema} + Redis prefix ${redis_prefix}`;
}

async function main() {
  const herald = await (cluster ? startCluster() : startSqlite());
  // Interrupted: stop the nodes (and drop the cluster's schema) before going.
  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.once(signal, () => {
      console.error(`${signal}: stopping Herald`);
      herald.stop().finally(() => process.exit(130));
    });
  }
  const results = {
    at: new Date().toISOString(),
    mode: herald.mode,
    ...(cluster ? { cluster: herald.info } : {}),
    quick,
    only: onlyAt >= 0 ? only : undefined,
    size: SIZE,
    node: process.version,
  };
  console.log(modeLine(herald));
  try {
    for (const name of SCENARIOS) {
      if (!only.includes(name)) continue;
      try {
        results[name] = await RUNS[name](herald);
      } catch (err) {
        results[name] = { error: String(err?.message ?? err) };
        console.error(`${name} failed: ${results[name].error}`);
      }
    }
  } finally {
    await herald.stop();
  }
  const ran = SCENARIOS.filter((name) => results[name]);
  if (ran.some((name) => results[name].error)) {
    console.log(JSON.stringify(results, null, 2));
    process.exitCode = 1;
    return;
  }
  console.log(`\n${modeLine(herald)}\n`);
  console.log('| scenario | Herald | bare baseline | ratio | note |\n|---|---|---|---|---|');
  for (const name of ran) for (const row of ROWS[name](results[name])) console.log(`| ${row.join(' | ')} |`);
  mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
  const file = join(ROOT, 'bench/results', `${results.at.replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify(results, null, 2));
  console.log(`\nwritten ${file}`);
}

main().then(
  () => process.exit(process.exitCode ?? 0),
  (err) => {
    console.error(err instanceof SetupError ? err.message : err);
    process.exit(1);
  },
);
