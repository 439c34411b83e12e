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
//   npm run bench -- --repeats N          each scenario N times (default 3, --quick 1); the table
//                                         shows the median and the spread (min–max)
//   npm run bench -- --curves             how cost grows with the work (four sizes each, --quick the
//                                         smallest two); writes bench/results/curves-*.json and docs/*.svg
//
// Scenarios: ingest, batch, fanout, webhooks (capacity: the offered rate steps up ×1.5 until the
// server falls behind; CPU per 1,000 units), replay, connections (memory per idle socket, fresh process).
// docs/performance.md describes the method.
//
// Prints a table and writes bench/results/<timestamp>.json.
import { fork, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { execSync } from 'node:child_process';

const require = createRequire(import.meta.url);
const autocannon = require('autocannon');
const { io } = require('socket.io-client');
const { Client: PgClient } = require('pg');
const Redis = require('ioredis');

const SCENARIOS = ['ingest', 'batch', 'fanout', 'replay', 'webhooks', 'connections', 'statements'];
const quick = process.argv.includes('--quick');
const curvesMode = process.argv.includes('--curves');
const argNumber = (flag, fallback) => {
  const at = process.argv.indexOf(flag);
  return at >= 0 ? Number(process.argv[at + 1]) : fallback;
};
const REPEATS = argNumber('--repeats', quick ? 1 : 3);
const cluster = process.argv.includes('--cluster');
const onlyAt = process.argv.indexOf('--only');
const only = onlyAt >= 0 ? (process.argv[onlyAt + 1] ?? '').split(',').filter(Boolean) : curvesMode ? [] : SCENARIOS;
const CURVE_NAMES = ['dispatcher', 'replay', 'pages', 'channels'];
for (const name of only) {
  const known = curvesMode ? CURVE_NAMES : SCENARIOS;
  if (!known.includes(name)) {
    console.error(`unknown ${curvesMode ? 'curve' : 'scenario'} ${name}; one of ${known.join(', ')}`);
    process.exit(2);
  }
}
const SIZE = quick
  ? {
      windowSeconds: 2,
      graceSeconds: 1,
      maxSteps: 4,
      ingestStartRate: 400,
      batchStartRate: 2_000,
      fanoutClients: 100,
      fanoutStartRate: 10,
      replayEvents: 10_000,
      webhookStartRate: 100,
      webhookClaims: 50,
      idleSockets: 1_000,
    }
  : {
      windowSeconds: 10,
      graceSeconds: 2,
      maxSteps: 12,
      ingestStartRate: 500,
      // 20,000 events/s is the fifth step (the batch ingest target is stated at that rate).
      batchStartRate: 20_000 / 1.5 ** 4,
      fanoutClients: 2_000,
      fanoutStartRate: 4,
      replayEvents: 100_000,
      // 1,000 events/s is the fourth step (the latency target is stated at that rate).
      webhookStartRate: 1000 / 1.5 ** 3,
      webhookClaims: 200,
      idleSockets: 10_000,
    };
// Resizing: --window N (seconds per step), --max-steps N, --idle-sockets N, --fanout-clients N.
for (const [flag, key] of [
  ['--window', 'windowSeconds'],
  ['--max-steps', 'maxSteps'],
  ['--idle-sockets', 'idleSockets'],
  ['--fanout-clients', 'fanoutClients'],
]) {
  const at = process.argv.indexOf(flag);
  if (at >= 0) SIZE[key] = Number(process.argv[at + 1]);
}
/** Each step offers this many times the previous step's rate. */
const STEP_FACTOR = 1.5;
/** A step is sustained when this share of what was offered arrived within the window (+ grace) ... */
const SUSTAINED_SHARE = 0.99;
/** ... and the p99 latency stayed at or under this. */
const SUSTAINED_P99_MS = 1_000;
/** The load generator counts as saturated above this share of one core, or this event-loop lag. */
const GENERATOR_CPU_LIMIT = 0.9;
const GENERATOR_LAG_LIMIT_MS = 100;
/** Herald's delivery worker default (WEBHOOK_CONCURRENCY); the undici baseline uses the same. */
const WEBHOOK_CONCURRENCY = 50;
/** Idle sockets per load-generator process in the connections scenario. */
const SOCKETS_PER_CLIENT_PROCESS = 2_500;
const ROOT = new URL('..', import.meta.url).pathname;
const GC_HOOK = join(ROOT, 'bench/gc-hook.mjs');
/** Where the servers' gc hook writes process.memoryUsage() on SIGWINCH (bench/gc-hook.mjs). */
const MEM_DIR = mkdtempSync(join(tmpdir(), 'herald-bench-mem-'));

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
  const child = spawn(
    process.execPath,
    ['--expose-gc', '--import', GC_HOOK, ...nodeArgs, join(ROOT, 'dist/src/main.js')],
    {
      env: {
        PATH: process.env.PATH,
        BENCH_MEM_DIR: MEM_DIR,
        PORT: String(port),
        HOST: '127.0.0.1',
        LOG_LEVEL: process.env.BENCH_HERALD_LOG_LEVEL ?? 'silent',
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
      // The log (stdout, silent unless BENCH_HERALD_LOG_LEVEL) and stderr, their last 4 kB kept for errors.
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const stderr = tail(child.stderr);
  const stdout = tail(child.stdout);
  let exitStatus;
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve((exitStatus = code ?? signal))));
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
    pid: child.pid,
    /** The exit code or signal once the process has exited, else undefined. */
    exited: () => exitStatus,
    /** The last of what the process wrote, log and stderr. */
    output: () => [stdout(), stderr()].filter(Boolean).join('\n'),
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
async function startSqlite(extraEnv = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'herald-bench-'));
  const key = `hrld_bench_${randomBytes(12).toString('hex')}`;
  const sqlitePath = join(dir, 'herald.sqlite');
  let node;
  try {
    node = await startNode({ SQLITE_PATH: sqlitePath, HERALD_BOOTSTRAP_KEY: key, ...extraEnv }, 'sqlite');
    const token = await createAppKey(node.url, key);
    const stop = once(async () => {
      await node.stop();
      rmSync(dir, { recursive: true, force: true });
    });
    return { mode: 'sqlite', url: node.url, token, bootstrapKey: key, sqlitePath, nodes: [node], info: {}, stop };
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
async function startCluster(extraEnv = {}) {
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
    ...extraEnv,
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
      bootstrapKey: key,
      databaseUrl,
      schema,
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
    env: { ...process.env, PORT: String(port), BENCH_MEM_DIR: MEM_DIR },
    execArgv: ['--expose-gc', '--import', GC_HOOK],
    stdio: 'ignore',
  });
  await new Promise((resolve, reject) => {
    child.once('message', resolve);
    child.once('exit', (code) => reject(new Error(`${file} exited with ${code}`)));
  });
  return { url: `http://127.0.0.1:${port}`, pid: child.pid, stop: () => child.kill('SIGTERM') };
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

/** The generator is behind its own schedule when its last send leaves later than this. */
const generatorLateLimitMs = () => Math.max(GENERATOR_LAG_LIMIT_MS, SIZE.windowSeconds * 50);

/** Concurrent connections of the ingest load, split evenly over the nodes in cluster mode. */
const INGEST_CONNECTIONS = 32;
/** Events per request of the batch scenario, and its connections (split over the nodes). */
const BATCH_SIZE = 100;
const BATCH_CONNECTIONS = 8;

// ---------------------------------------------------------------------------------------------
// Measuring: server CPU from /proc, the generator's own load, memory after a forced GC.

let CLK_TCK = 100;
try {
  CLK_TCK = Number(execSync('getconf CLK_TCK', { encoding: 'utf8' }).trim()) || 100;
} catch {
  // 100 on every Linux the bench runs on
}

/** utime + stime of a process in seconds, from /proc/<pid>/stat (fields 14 and 15). */
function cpuSeconds(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
  } catch {
    return NaN;
  }
}

/** VmRSS of a process in bytes, from /proc/<pid>/status. */
function rssBytes(pid) {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
}

/**
 * Asks a server started with bench/gc-hook.mjs to run a full GC and report process.memoryUsage();
 * returns that with VmRSS read from /proc right after.
 */
async function memoryAfterGc(pid) {
  const file = join(MEM_DIR, `${pid}.json`);
  rmSync(file, { force: true });
  process.kill(pid, 'SIGWINCH');
  const deadline = Date.now() + 10_000;
  while (!existsSync(file)) {
    if (Date.now() > deadline) throw new Error(`process ${pid} did not answer the GC request`);
    await sleep(20);
  }
  const usage = JSON.parse(readFileSync(file, 'utf8'));
  if (!usage.gc) throw new Error(`process ${pid} runs without --expose-gc`);
  return { heap_used: usage.heapUsed, rss: rssBytes(pid), rss_reported: usage.rss };
}

/**
 * Starts measuring: CPU seconds of the server processes `pids`, and of the load generator — this
 * process (CPU share and event-loop lag) and the helper processes `generatorPids`. The returned
 * function ends the measurement.
 */
function meter(pids, generatorPids = []) {
  const t0 = performance.now();
  const server0 = pids.map(cpuSeconds);
  const helpers0 = generatorPids.map(cpuSeconds);
  const self0 = process.cpuUsage();
  const lag = monitorEventLoopDelay({ resolution: 10 });
  lag.enable();
  return () => {
    const wall = (performance.now() - t0) / 1000;
    lag.disable();
    const self = process.cpuUsage(self0);
    const server = pids.map((pid, i) => cpuSeconds(pid) - server0[i]);
    const helperShares = generatorPids.map((pid, i) => (cpuSeconds(pid) - helpers0[i]) / wall);
    const generatorShare = Math.max((self.user + self.system) / 1e6 / wall, ...helperShares);
    const lagP99 = lag.percentile(99) / 1e6;
    return {
      wall_s: wall,
      server_cpu_s: server.reduce((a, b) => a + b, 0),
      server_cpu_s_per_process: server,
      generator_cpu_share: generatorShare,
      generator_lag_p99_ms: lagP99,
      generator_saturated: generatorShare > GENERATOR_CPU_LIMIT || lagP99 > GENERATOR_LAG_LIMIT_MS,
    };
  };
}

/**
 * The capacity search: runs trial(rate) at start, start×1.5, … (each a fixed window) until a step
 * is not sustained (delivered < 99 % of offered within the window + grace, or p99 > 1 s), the load
 * generator saturates, or maxSteps. The capacity is the highest sustained offered rate; when the
 * generator saturated at or before the first failing step, the server's limit was not reached and
 * `generator_bound` says so. A warm-up window at the start rate comes first and is not counted.
 */
async function stepUp(label, start, trial) {
  // One window at the start rate first, not counted: JIT, connection pools and caches warm up.
  const warm = await trial(Math.round(start));
  console.error(
    `  ${label} warm-up ${warm.offered ?? Math.round(start)}/s: ${warm.delivered}/${warm.expected}, p99 ${warm.p99_ms} ms`,
  );
  const steps = [];
  for (let i = 0; i < SIZE.maxSteps; i++) {
    const rate = Math.round(start * STEP_FACTOR ** i);
    const r = await trial(rate);
    r.delivered_share = r.expected ? Math.min(1, r.delivered / r.expected) : 0;
    r.sustained = r.delivered_share >= SUSTAINED_SHARE && r.p99_ms <= SUSTAINED_P99_MS;
    r.cpu_ms_per_1000 = r.delivered ? (r.server_cpu_s / r.delivered) * 1e6 : NaN;
    steps.push(r);
    console.error(
      `  ${label} ${r.offered ?? rate}/s: ${r.delivered}/${r.expected} in window, p99 ${r.p99_ms} ms, server CPU ${fmt(r.server_cpu_s, 2)} s, generator ${fmt(r.generator_cpu_share * 100, 0)} % lag ${fmt(r.generator_lag_p99_ms, 0)} ms${r.sustained ? '' : ' — behind'}${r.generator_saturated ? ' — generator saturated' : ''}`,
    );
    if (!r.sustained || r.generator_saturated) break;
  }
  const sustained = steps.filter((s) => s.sustained);
  const last = steps.at(-1);
  return {
    steps,
    first_rate: Math.round(start),
    capacity: sustained.length ? sustained.at(-1).offered : 0,
    // The generator gave out before the server fell behind (or in the step that fell behind).
    generator_bound: last.generator_saturated,
    // Every step sustained: the ceiling is above the largest step tried.
    ceiling_not_reached: last.sustained && !last.generator_saturated,
  };
}

/**
 * Herald and baseline stepped through the same rates; CPU cost compared at the highest offered
 * rate both sustained (the same offered load).
 */
function compare(herald, baseline, unitsPerRate = 1) {
  const common = herald.steps
    .filter((h) => h.sustained)
    .map((h) => [h, baseline.steps.find((b) => b.offered === h.offered && b.sustained)])
    .filter(([, b]) => b)
    .at(-1);
  const boundBy = herald.generator_bound || baseline.generator_bound;
  return {
    herald_capacity: herald.capacity * unitsPerRate,
    baseline_capacity: baseline.capacity * unitsPerRate,
    capacity_ratio: boundBy ? null : herald.capacity / baseline.capacity,
    generator_bound: boundBy ? (herald.generator_bound ? 'herald' : 'baseline') : null,
    cost_at: common ? common[0].offered * unitsPerRate : null,
    herald_cpu_ms_per_1000: common ? common[0].cpu_ms_per_1000 : null,
    baseline_cpu_ms_per_1000: common ? common[1].cpu_ms_per_1000 : null,
    cpu_ratio: common ? common[0].cpu_ms_per_1000 / common[1].cpu_ms_per_1000 : null,
    // Cluster mode: the CPU per 1,000 units of each node (they sum to herald_cpu_ms_per_1000).
    herald_cpu_ms_per_1000_per_node: common
      ? common[0].server_cpu_s_per_process.map((cpu) => (cpu / common[0].delivered) * 1e6)
      : null,
  };
}

// ---------------------------------------------------------------------------------------------
// Ingest: POST /api/v1/events at a fixed overall rate (autocannon --overallRate).

async function ingestTrial(urls, pids, headers, rate) {
  return postTrial(urls, pids, headers, rate, {
    path: '/api/v1/events',
    body: EVENT,
    perRequest: 1,
    connections: INGEST_CONNECTIONS,
  });
}

const BATCH_BODY = {
  events: Array.from({ length: BATCH_SIZE }, (_, i) => ({ ...EVENT, claim_id: `clm_bench_${i % 10}` })),
};

/** `rate` events/s as batches of BATCH_SIZE; offered, expected and delivered count events. */
async function batchTrial(urls, pids, headers, rate) {
  return postTrial(urls, pids, headers, rate, {
    path: '/api/v1/events/batch',
    body: BATCH_BODY,
    perRequest: BATCH_SIZE,
    connections: BATCH_CONNECTIONS,
  });
}

/**
 * POSTs `body` to `path` on every node at `rate` units/s overall, each request carrying
 * `perRequest` units. The overall rate is rounded to an even number of requests per second, so
 * that two nodes get equal whole shares and Herald and its one-process baseline are offered the
 * same; the offered rate reported is that rounded one.
 */
async function postTrial(urls, pids, headers, rate, { path, body, perRequest, connections }) {
  const seconds = SIZE.windowSeconds;
  const per = Math.ceil(connections / urls.length);
  const requests = Math.max(2, 2 * Math.round(rate / perRequest / 2));
  const requestsPerNode = requests / urls.length;
  const offered = requests * perRequest;
  const stop = meter(pids);
  const results = await Promise.all(
    urls.map((url) =>
      autocannon({
        url: url + path,
        method: 'POST',
        connections: per,
        overallRate: requestsPerNode,
        duration: seconds,
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify(body),
      }),
    ),
  );
  const m = stop();
  return {
    offered,
    expected: offered * seconds,
    delivered: results.reduce((n, r) => n + r['2xx'], 0) * perRequest,
    sent: results.reduce((n, r) => n + r.requests.total, 0) * perRequest,
    p50_ms: Math.max(...results.map((r) => r.latency.p50)),
    p99_ms: Math.max(...results.map((r) => r.latency.p99)),
    non2xx: results.reduce((n, r) => n + r.non2xx, 0),
    errors: results.reduce((n, r) => n + r.errors, 0),
    ...m,
  };
}

/**
 * The capacity search of `trial` against the bare NestJS baseline, then against every Herald node
 * (with its key), both from `startRate`; `extra` goes into the result.
 */
async function againstBareNest(herald, label, startRate, trial, extra) {
  const bare = await startBaseline('bare-nest.mjs');
  try {
    const baseline = await stepUp(`${label} bare`, startRate, (rate) => trial([bare.url], [bare.pid], {}, rate));
    const herald_ = await stepUp(`${label} herald`, startRate, (rate) =>
      trial(
        herald.nodes.map((n) => n.url),
        herald.nodes.map((n) => n.pid),
        { 'x-api-key': herald.token },
        rate,
      ),
    );
    return { nodes: herald.nodes.length, ...extra, herald: herald_, baseline, ...compare(herald_, baseline) };
  } finally {
    bare.stop();
  }
}

function batch(herald) {
  return againstBareNest(herald, 'batch', SIZE.batchStartRate, batchTrial, {
    connections: BATCH_CONNECTIONS,
    batch_size: BATCH_SIZE,
  });
}

function ingest(herald) {
  return againstBareNest(herald, 'ingest', SIZE.ingestStartRate, ingestTrial, { connections: INGEST_CONNECTIONS });
}

// ---------------------------------------------------------------------------------------------
// Fan-out: N connected clients, publishes at a rate; offered messages/s = rate × N.

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

/** Clients connect in batches of 50, the batches alternating over `urls`. */
async function connectClients(urls, count, auth, event = 'claim_approved') {
  const sockets = [];
  for (let i = 0, b = 0; i < count; i += 50, b++)
    sockets.push(...(await connectMany(urls[b % urls.length], Math.min(50, count - i), { auth })));
  const state = { latencies: [], run: 0 };
  for (const s of sockets)
    s.on(event, (e) => {
      const d = e.data ?? e;
      if (d.run === state.run) state.latencies.push(Date.now() - d.t);
    });
  return { sockets, state, close: () => sockets.forEach((s) => s.close()) };
}

/** One step of fan-out: `rate` publishes/s for the window; publish(t, i, run) sends the i-th. */
async function fanoutTrial(clients, pids, publish, rate) {
  const { sockets, state } = clients;
  state.run++;
  state.latencies = [];
  const total = Math.max(1, Math.round(rate * SIZE.windowSeconds));
  const stop = meter(pids);
  const started = performance.now();
  for (let i = 0; i < total; i++) {
    const wait = started + (i * 1000) / rate - performance.now();
    if (wait > 0) await sleep(wait);
    void publish(Date.now(), i, state.run);
  }
  const issueSeconds = (performance.now() - started) / 1000;
  const expected = total * sockets.length;
  const deadline = started + (SIZE.windowSeconds + SIZE.graceSeconds) * 1000;
  while (state.latencies.length < expected && performance.now() < deadline) await sleep(20);
  const delivered = state.latencies.length;
  const m = stop();
  // Late messages of this step must not count in the next one (they carry this run's number).
  await sleep(200);
  const sorted = state.latencies.slice().sort((a, b) => a - b);
  // How late the last publish left against its schedule: the generator's own backlog.
  const lateMs = (issueSeconds - (total - 1) / rate) * 1000;
  return {
    offered: rate * sockets.length,
    publish_rate: rate,
    expected,
    delivered,
    p50_ms: percentile(sorted, 50),
    p99_ms:
      delivered < expected
        ? Math.max(percentile(sorted, 99), (SIZE.windowSeconds + SIZE.graceSeconds) * 1000)
        : percentile(sorted, 99),
    ...m,
    // The generator could not even issue the publishes on time.
    generator_saturated: m.generator_saturated || lateMs > generatorLateLimitMs(),
    generator_late_ms: lateMs,
  };
}

const post = (url, headers, body) =>
  fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  }).then(
    (res) => res.arrayBuffer(),
    () => undefined,
  );

async function fanout(herald) {
  const bare = await startBaseline('bare-socketio.mjs');
  let clients;
  try {
    clients = await connectClients([bare.url], SIZE.fanoutClients, {});
    const baseline = await stepUp('fan-out bare', SIZE.fanoutStartRate, (rate) =>
      fanoutTrial(
        clients,
        [bare.pid],
        (t, i, run) => post(`${bare.url}/publish`, {}, { type: 'claim_approved', t, run }),
        rate,
      ),
    );
    clients.close();
    // In cluster mode the clients are spread over the nodes and the publishes alternate between
    // them, so about half of every delivery crosses nodes through the Redis adapter.
    const urls = herald.nodes.map((node) => node.url);
    clients = await connectClients(urls, SIZE.fanoutClients, { token: herald.token });
    const herald_ = await stepUp('fan-out herald', SIZE.fanoutStartRate, (rate) =>
      fanoutTrial(
        clients,
        herald.nodes.map((n) => n.pid),
        (t, i, run) =>
          post(`${urls[i % urls.length]}/api/v1/events`, { 'x-api-key': herald.token }, { ...EVENT, data: { t, run } }),
        rate,
      ),
    );
    return {
      nodes: urls.length,
      clients: SIZE.fanoutClients,
      units_per_rate: SIZE.fanoutClients,
      herald: herald_,
      baseline,
      ...compare(herald_, baseline),
    };
  } finally {
    clients?.close();
    bare.stop();
  }
}

// ---------------------------------------------------------------------------------------------
// Webhooks: events at a rate over REST, one delivery each to a local receiver.

async function webhooks(herald, repeat = 0) {
  const { child: receiver, first } = await startHelper('bench/webhook-receiver.mjs');
  const receiverUrl = `http://127.0.0.1:${first.port}/hooks`;
  const ticksPerSecond = 50;
  const stats = async () => (await ask(receiver, 'stats', (m) => 'stats' in m)).stats;
  const count = async () => (await ask(receiver, 'count', (m) => 'count' in m)).count;
  const waitForReceipts = async (expected, deadline) => {
    while (performance.now() < deadline && (await count()) < expected) await sleep(50);
  };
  const claim = (c) => `clm_wh_${repeat}_${c}`;
  try {
    const headers = { 'content-type': 'application/json', 'x-api-key': herald.token };
    for (let c = 0; c < SIZE.webhookClaims; c++) {
      const res = await fetch(
        `${herald.nodes[c % herald.nodes.length].url}/api/v1/approval-notifications/subscriptions`,
        {
          method: 'POST',
          headers,
          body: JSON.stringify({ claim_id: claim(c), user_id: `usr_wh_${c}`, webhook_url: receiverUrl }),
        },
      );
      if (res.status !== 201) throw new Error(`subscribing failed: ${res.status} ${await res.text()}`);
    }
    const heraldTrial = async (rate) => {
      await ask(receiver, 'reset', (m) => 'reset' in m);
      const total = Math.round(rate * SIZE.windowSeconds);
      const perTick = rate / ticksPerSecond;
      const stop = meter(
        herald.nodes.map((n) => n.pid),
        [receiver.pid],
      );
      const t0 = performance.now();
      const publishes = [];
      let publishFailed = 0;
      for (let tick = 0, k = 0; k < total; tick++) {
        const wait = t0 + (tick * 1000) / ticksPerSecond - performance.now();
        if (wait > 0) await sleep(wait);
        const t = Date.now();
        const events = [];
        for (let i = 0; i < perTick * (tick + 1) - k && k < total; i++, k++)
          events.push({ type: 'status_changed', claim_id: claim(k % SIZE.webhookClaims), data: { t, k } });
        if (!events.length) continue;
        publishes.push(
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
      const issueSeconds = (performance.now() - t0) / 1000;
      await waitForReceipts(total, t0 + (SIZE.windowSeconds + SIZE.graceSeconds) * 1000);
      const s = await stats();
      const m = stop();
      await Promise.all(publishes);
      // Let the rest drain so that it does not load the next step.
      await waitForReceipts(total, performance.now() + 30_000);
      return {
        offered: rate,
        expected: total,
        delivered: s.unique_ids,
        publish_failed: publishFailed,
        p50_ms: s.p50_ms,
        p99_ms: s.unique_ids < total ? Math.max(s.p99_ms, (SIZE.windowSeconds + SIZE.graceSeconds) * 1000) : s.p99_ms,
        ...m,
        generator_late_ms: (issueSeconds - SIZE.windowSeconds) * 1000,
        generator_saturated:
          m.generator_saturated || (issueSeconds - SIZE.windowSeconds) * 1000 > generatorLateLimitMs(),
      };
    };
    const herald_ = await stepUp('webhooks herald', SIZE.webhookStartRate, heraldTrial);

    const { sample } = await ask(receiver, 'sample', (m) => 'sample' in m);
    if (!sample) throw new Error('Herald delivered nothing to take the body from');
    // One undici process for every step, started before the first (its start-up is not measured).
    const bare = (await startHelper('bench/baselines/bare-undici-webhooks.mjs')).child;
    const bareTrial = async (rate) => {
      await ask(receiver, 'reset', (m) => 'reset' in m);
      {
        const total = Math.round(rate * SIZE.windowSeconds);
        // The undici process is the baseline's server side; the receiver is the generator.
        const stop = meter([bare.pid], [receiver.pid]);
        const t0 = performance.now();
        const answer = ask(
          bare,
          {
            url: receiverUrl,
            rate,
            seconds: SIZE.windowSeconds,
            concurrency: WEBHOOK_CONCURRENCY,
            template: sample.body,
            secret: `whsec_${randomBytes(24).toString('base64')}`,
          },
          (m) => typeof m === 'object' && ('sent' in m || 'error' in m),
        );
        await waitForReceipts(total, t0 + (SIZE.windowSeconds + SIZE.graceSeconds) * 1000);
        const s = await stats();
        const m = stop();
        const a = await answer;
        if (a.error) throw new Error(`undici baseline failed: ${a.error}`);
        return {
          offered: rate,
          expected: total,
          delivered: s.unique_ids,
          failed: a.failed,
          p50_ms: s.p50_ms,
          p99_ms: s.unique_ids < total ? Math.max(s.p99_ms, (SIZE.windowSeconds + SIZE.graceSeconds) * 1000) : s.p99_ms,
          ...m,
        };
      }
    };
    let baseline;
    try {
      baseline = await stepUp('webhooks bare', SIZE.webhookStartRate, bareTrial);
    } finally {
      await stopHelper(bare);
    }
    const at1000 = herald_.steps.find((s) => s.offered === 1000);
    return {
      nodes: herald.nodes.length,
      subscriptions: SIZE.webhookClaims,
      concurrency: WEBHOOK_CONCURRENCY,
      herald: herald_,
      baseline,
      ...compare(herald_, baseline),
      herald_p99_at_1000_ms: at1000?.p99_ms ?? null,
    };
  } finally {
    await stopHelper(receiver);
  }
}

// ---------------------------------------------------------------------------------------------
// Memory per idle connection, on a fresh server process, after a forced GC on both sides.

async function idleSockets(target, auth) {
  await sleep(quick ? 1_000 : 3_000);
  const before = await memoryAfterGc(target.pid);
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
    if (failed) throw new Error(`opening sockets on ${target.url} (pid ${target.pid}) failed: ${failed.error}`);
    const connectSeconds = (performance.now() - started) / 1000;
    const opened = answers.reduce((n, a) => n + a.opened, 0);
    await sleep(quick ? 1_500 : 5_000);
    const after = await memoryAfterGc(target.pid);
    const heap = (after.heap_used - before.heap_used) / opened;
    const rss = (after.rss - before.rss) / opened;
    return {
      sockets: opened,
      client_processes: processes,
      connect_seconds: connectSeconds,
      before,
      after,
      heap_bytes_per_connection: heap,
      rss_bytes_per_connection: rss,
      // A negative figure means something else freed memory during the measurement: not a result.
      valid: heap > 0 && rss > 0,
    };
  } finally {
    for (const child of helpers) if (child.connected) child.send('close');
    await Promise.all(helpers.map((child) => stopHelper(child)));
  }
}

/** Starts its own fresh Herald (and bare server): nothing has run in either before. */
async function connections() {
  const bare = await startBaseline('bare-socketio.mjs');
  let baseline;
  try {
    baseline = await idleSockets(bare, {});
  } catch (err) {
    throw new Error(`bare: ${err.message}`, { cause: err });
  } finally {
    bare.stop();
  }
  const fresh = await (cluster ? startCluster() : startSqlite());
  try {
    // The first node only: a per-process memory figure.
    const herald_ = await idleSockets(fresh.nodes[0], { token: fresh.token });
    return {
      node: fresh.nodes[0].name,
      baseline,
      herald: herald_,
      heap_ratio: herald_.heap_bytes_per_connection / baseline.heap_bytes_per_connection,
      rss_ratio: herald_.rss_bytes_per_connection / baseline.rss_bytes_per_connection,
    };
  } finally {
    await fresh.stop();
  }
}

/** Publishes through the first node and, in cluster mode, replays from the last one. */
async function replay(herald, _repeat, events = SIZE.replayEvents) {
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
  for (let sent = 0; sent < events; sent += 500) {
    const batch = Array.from({ length: Math.min(500, events - sent) }, (_, i) => ({
      type: 'status_changed',
      data: { i: sent + i },
    }));
    const res = await fetch(`${writer.url}/api/v1/events/batch`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ events: batch }),
    });
    if (res.status !== 201) throw new Error(`batch failed: ${res.status}`);
  }
  const stop = meter(herald.nodes.map((n) => n.pid));
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
      if (++received === events) {
        socket.close();
        resolve();
      }
    });
    socket.once('connect_error', reject);
    socket.connect();
    setTimeout(
      () => reject(new Error(`replay incomplete: ${received}/${events}`)),
      Math.max(120_000, events / 5),
    ).unref();
  });
  const seconds = (performance.now() - started) / 1000;
  const m = stop();
  return {
    server_cpu_s: m.server_cpu_s,
    server_cpu_s_per_process: m.server_cpu_s_per_process,
    reader_cpu_share: m.generator_cpu_share,
    events,
    published_via: writer.name,
    read_from: reader.name,
    seconds,
    events_per_s: events / seconds,
  };
}

const fmt = (n, d = 1) => (Number.isFinite(n) ? n.toFixed(d) : String(n));

// ---------------------------------------------------------------------------------------------
// Database statements per unit of work, from herald_db_statements_total summed over the nodes: a
// figure that does not move with how busy the machine is. Polling while the work runs is counted
// with it, and the idle rate is reported beside it. Also the closed-loop batch ingest rate.

const STATEMENT_UNITS = quick ? 200 : 1_000;

/** herald_db_statements_total of every node, summed, by statement kind and in all. */
async function statementCounts(herald) {
  const byKind = {};
  for (const node of herald.nodes) {
    const text = await (await fetch(`${node.url}/metrics`)).text();
    for (const m of text.matchAll(/^herald_db_statements_total\{statement="(\w+)"\} (\d+)/gm))
      byKind[m[1]] = (byKind[m[1]] ?? 0) + Number(m[2]);
  }
  return { byKind, total: Object.values(byKind).reduce((a, b) => a + b, 0) };
}

/** Statements sent while `work` runs, per unit, in all and by kind. */
async function statementsPer(herald, units, work) {
  const before = await statementCounts(herald);
  const t0 = performance.now();
  await work();
  const seconds = (performance.now() - t0) / 1000;
  const after = await statementCounts(herald);
  const byKind = Object.fromEntries(
    Object.keys(after.byKind).map((k) => [k, (after.byKind[k] - (before.byKind[k] ?? 0)) / units]),
  );
  // The two /metrics reads are not statements; what the nodes did meanwhile is.
  return { per_unit: (after.total - before.total) / units, by_kind: byKind, units, seconds };
}

async function statements(herald, repeat = 0) {
  const headers = { 'content-type': 'application/json', 'x-api-key': herald.token };
  const urls = herald.nodes.map((n) => n.url);
  const post = async (url, path, body) => {
    const res = await fetch(url + path, { method: 'POST', headers, body: JSON.stringify(body) });
    await res.arrayBuffer();
    if (res.status !== 201) throw new Error(`${path} answered ${res.status}`);
  };
  // Idle: what the nodes send with nothing to do (polls, leases, heartbeats), per second.
  const idle = await statementsPer(herald, 1, () => sleep(5_000));
  const idlePerSecond = idle.per_unit / idle.seconds;

  // autocannon, as in the ingest scenario: fetch is slow enough here that polling would dominate.
  const single = await statementsPer(herald, STATEMENT_UNITS, async () => {
    const runs = await Promise.all(
      urls.map((url) =>
        autocannon({
          url: url + '/api/v1/events',
          method: 'POST',
          connections: 16 / urls.length,
          amount: STATEMENT_UNITS / urls.length,
          headers,
          body: JSON.stringify(EVENT),
        }),
      ),
    );
    const ok = runs.reduce((n, r) => n + r['2xx'], 0);
    if (ok !== STATEMENT_UNITS) throw new Error(`statements: ${ok}/${STATEMENT_UNITS} single appends answered 2xx`);
  });
  const batchSize = 100;
  const batches = (STATEMENT_UNITS * 10) / batchSize;
  const batch = await statementsPer(herald, STATEMENT_UNITS * 10, () =>
    pool(batches, 8, (i) =>
      post(urls[i % urls.length], '/api/v1/events/batch', { events: Array.from({ length: batchSize }, () => EVENT) }),
    ),
  );

  // Webhooks: one subscription per claim, every event owes one delivery.
  const { child: receiver, first } = await startHelper('bench/webhook-receiver.mjs');
  let webhook;
  try {
    const claims = 20;
    const claim = (c) => `clm_st_${repeat}_${c}`;
    for (let c = 0; c < claims; c++)
      await post(urls[c % urls.length], '/api/v1/approval-notifications/subscriptions', {
        claim_id: claim(c),
        user_id: `usr_st_${c}`,
        webhook_url: `http://127.0.0.1:${first.port}/hooks`,
      });
    await ask(receiver, 'reset', (m) => 'reset' in m);
    const total = STATEMENT_UNITS * 2;
    webhook = await statementsPer(herald, total, async () => {
      // 50 events every 50 ms (1,000 events/s), then wait for every receipt.
      for (let k = 0, tick = 0; k < total; tick++, k += 50) {
        const t = Date.now();
        void post(urls[tick % urls.length], '/api/v1/events/batch', {
          events: Array.from({ length: 50 }, (_, i) => ({
            type: 'status_changed',
            claim_id: claim((k + i) % claims),
            data: { t, k: k + i },
          })),
        });
        await sleep(50);
      }
      const deadline = performance.now() + 120_000;
      while ((await ask(receiver, 'count', (m) => 'count' in m)).count < total && performance.now() < deadline)
        await sleep(50);
      // The completions are written after the receiver answered.
      await sleep(500);
    });
    const got = (await ask(receiver, 'stats', (m) => 'stats' in m)).stats;
    webhook.delivered = got.unique_ids;
    if (got.unique_ids < total) throw new Error(`statements: ${got.unique_ids}/${total} webhooks delivered`);
  } finally {
    await stopHelper(receiver);
  }
  return {
    nodes: herald.nodes.length,
    idle_per_second: idlePerSecond,
    single,
    batch: { ...batch, events_per_s: batch.units / batch.seconds },
    webhook,
    single_per_event: single.per_unit,
    batch_per_event: batch.per_unit,
    webhook_per_delivery: webhook.per_unit,
    batch_events_per_s: batch.units / batch.seconds,
  };
}

const RUNS = { ingest, batch, fanout, replay, webhooks, connections, statements };

const median = (xs) => {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (!s.length) return NaN;
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
/** "median (min–max)" of the repeats, or the one value. */
function spread(xs, d = 0) {
  const v = xs.filter(Number.isFinite);
  if (!v.length) return '—';
  if (v.length === 1) return fmt(v[0], d);
  return `${fmt(median(v), d)} (${fmt(Math.min(...v), d)}–${fmt(Math.max(...v), d)})`;
}

/** The summary of the repeats of one scenario, for the JSON. */
function summarise(runs, keys) {
  return Object.fromEntries(
    keys.map((k) => {
      const v = runs.map((r) => k.split('.').reduce((o, p) => o?.[p], r)).filter(Number.isFinite);
      return [k, { median: median(v), min: Math.min(...v), max: Math.max(...v), n: v.length }];
    }),
  );
}

/** A capacity cell; a side that fell behind at the first step shows "< first rate". */
function capacityCell(rs, side, prefix) {
  const values = rs.map((r) => r[`${side}_capacity`]);
  if (values.every((v) => v === 0)) return `< ${rs[0][side].first_rate * (rs[0].units_per_rate ?? 1)}`;
  return prefix + spread(values);
}

/** Capacity and CPU rows of a stepped scenario. */
function capacityRows(rs, name, unit, costUnit, nodes) {
  const bound = rs.find((r) => r.generator_bound)?.generator_bound;
  const above = (side) => (rs.some((r) => r[side].ceiling_not_reached) ? '≥ ' : '');
  const perNode =
    nodes > 1
      ? `; ${nodes} nodes: CPU summed over them, Herald capacity per node ${spread(rs.map((r) => r.herald_capacity / nodes))}`
      : '';
  return [
    [
      `${name} capacity (${unit})`,
      capacityCell(rs, 'herald', above('herald')),
      capacityCell(rs, 'baseline', above('baseline')),
      bound
        ? `load generator saturated first (${bound})`
        : rs.every((r) => r.herald_capacity === 0)
          ? 'Herald behind at the first step'
          : (above('herald') && !above('baseline')
              ? '≥ '
              : !above('herald') && above('baseline')
                ? '≤ '
                : above('herald')
                  ? '? '
                  : '') +
            spread(
              rs.map((r) => r.capacity_ratio),
              2,
            ),
      `highest offered rate sustained (≥ 99 % delivered in the window, p99 ≤ 1 s)${above('herald') || above('baseline') ? '; ≥: every step sustained, ceiling not reached' : ''}`,
    ],
    [
      `${name} server CPU per 1,000 ${costUnit} (ms)`,
      spread(
        rs.map((r) => r.herald_cpu_ms_per_1000),
        1,
      ),
      spread(
        rs.map((r) => r.baseline_cpu_ms_per_1000),
        1,
      ),
      spread(
        rs.map((r) => r.cpu_ratio),
        2,
      ),
      `at the same offered load, ${spread(rs.map((r) => r.cost_at))} ${unit}${perNode}`,
    ],
  ];
}

const ROWS = {
  statements: (rs) => [
    [
      'database statements per appended event, POST /events',
      spread(
        rs.map((r) => r.single_per_event),
        2,
      ),
      '—',
      '—',
      `${rs[0].single.units} events, 16 in flight; polling while they ran included`,
    ],
    [
      'database statements per appended event, /events/batch of 100',
      spread(
        rs.map((r) => r.batch_per_event),
        3,
      ),
      '—',
      '—',
      `${rs[0].batch.units} events, 8 batches in flight`,
    ],
    [
      'database statements per delivered webhook',
      spread(
        rs.map((r) => r.webhook_per_delivery),
        2,
      ),
      '—',
      '—',
      `${rs[0].webhook.units} events at 1,000/s, one delivery each, dispatch included`,
    ],
    [
      'database statements per second, idle',
      spread(
        rs.map((r) => r.idle_per_second),
        1,
      ),
      '—',
      '—',
      `all ${rs[0].nodes} node(s)`,
    ],
    [
      'ingest /events/batch of 100, closed loop (events/s)',
      spread(rs.map((r) => r.batch_events_per_s)),
      '—',
      '—',
      '8 batches in flight',
    ],
  ],
  ingest: (rs) => capacityRows(rs, 'ingest POST /events', 'req/s', 'appended events', rs[0].nodes),
  batch: (rs) =>
    capacityRows(rs, `ingest /events/batch of ${rs[0].batch_size}`, 'events/s', 'appended events', rs[0].nodes),
  fanout: (rs) => capacityRows(rs, `fan-out ${rs[0].clients} clients`, 'msgs/s', 'socket messages', rs[0].nodes),
  webhooks: (rs) => [
    ...capacityRows(rs, 'webhooks', 'deliveries/s', 'deliveries', rs[0].nodes),
    [
      'webhooks event→receipt p99 at 1,000 events/s (ms)',
      spread(rs.map((r) => r.herald_p99_at_1000_ms)),
      spread(rs.map((r) => r.baseline.steps.find((s) => s.offered === 1000)?.p99_ms)),
      '—',
      rs.some((r) => r.herald_p99_at_1000_ms != null)
        ? 'the 1,000/s step of the capacity search'
        : 'no 1,000/s step in this run (--quick)',
    ],
  ],
  replay: (rs) => [
    [
      `replay ${rs[0].events} missed events (s)`,
      spread(
        rs.map((r) => r.seconds),
        2,
      ),
      '—',
      '—',
      `${spread(rs.map((r) => r.events_per_s))} events/s${rs[0].read_from !== rs[0].published_via ? `; published via node ${rs[0].published_via}, replayed from node ${rs[0].read_from}` : ''}`,
    ],
  ],
  connections: (rs) => {
    const bad = rs.some((r) => !r.herald.valid || !r.baseline.valid);
    const note = `fresh process, forced GC before and after, ${rs[0].herald.sockets} sockets from ${rs[0].herald.client_processes} client processes${rs[0].node !== 'sqlite' ? `; node ${rs[0].node}` : ''}${bad ? '; INVALID: a negative delta in some repeat' : ''}`;
    return [
      [
        `memory per idle connection, heap (bytes)`,
        spread(rs.map((r) => r.herald.heap_bytes_per_connection)),
        spread(rs.map((r) => r.baseline.heap_bytes_per_connection)),
        spread(
          rs.map((r) => r.heap_ratio),
          2,
        ),
        note,
      ],
      [
        `memory per idle connection, RSS (bytes)`,
        spread(rs.map((r) => r.herald.rss_bytes_per_connection)),
        spread(rs.map((r) => r.baseline.rss_bytes_per_connection)),
        spread(
          rs.map((r) => r.rss_ratio),
          2,
        ),
        'VmRSS from /proc/<pid>/status',
      ],
    ];
  },
};

const SUMMARY_KEYS = {
  statements: ['single_per_event', 'batch_per_event', 'webhook_per_delivery', 'idle_per_second', 'batch_events_per_s'],
  batch: [
    'herald_capacity',
    'baseline_capacity',
    'capacity_ratio',
    'herald_cpu_ms_per_1000',
    'baseline_cpu_ms_per_1000',
    'cpu_ratio',
  ],
  ingest: [
    'herald_capacity',
    'baseline_capacity',
    'capacity_ratio',
    'herald_cpu_ms_per_1000',
    'baseline_cpu_ms_per_1000',
    'cpu_ratio',
  ],
  fanout: [
    'herald_capacity',
    'baseline_capacity',
    'capacity_ratio',
    'herald_cpu_ms_per_1000',
    'baseline_cpu_ms_per_1000',
    'cpu_ratio',
  ],
  webhooks: [
    'herald_capacity',
    'baseline_capacity',
    'capacity_ratio',
    'herald_cpu_ms_per_1000',
    'baseline_cpu_ms_per_1000',
    'cpu_ratio',
    'herald_p99_at_1000_ms',
  ],
  replay: ['seconds', 'events_per_s'],
  connections: [
    'herald.heap_bytes_per_connection',
    'baseline.heap_bytes_per_connection',
    'herald.rss_bytes_per_connection',
    'baseline.rss_bytes_per_connection',
    'heap_ratio',
    'rss_ratio',
  ],
};

function modeLine(herald) {
  if (herald.mode === 'sqlite') return 'mode: sqlite — one Herald node on SQLite';
  const { nodes, schema, redis_prefix } = herald.info;
  return `mode: cluster — ${nodes} Herald nodes (A, B) on Postgres schema ${schema} + Redis prefix ${redis_prefix}`;
}

async function main() {
  if (curvesMode) return curves();
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
    repeats: REPEATS,
    only: onlyAt >= 0 ? only : undefined,
    size: SIZE,
    method: {
      step_factor: STEP_FACTOR,
      sustained_share: SUSTAINED_SHARE,
      sustained_p99_ms: SUSTAINED_P99_MS,
      generator_cpu_limit: GENERATOR_CPU_LIMIT,
      generator_lag_limit_ms: GENERATOR_LAG_LIMIT_MS,
    },
    node: process.version,
    runs: {},
    summary: {},
  };
  const started = performance.now();
  console.log(modeLine(herald));
  try {
    for (const name of SCENARIOS) {
      if (!only.includes(name)) continue;
      results.runs[name] = [];
      try {
        for (let r = 0; r < REPEATS; r++) {
          console.error(`${name} ${r + 1}/${REPEATS}`);
          results.runs[name].push(await RUNS[name](herald, r));
        }
        results.summary[name] = summarise(results.runs[name], SUMMARY_KEYS[name]);
      } catch (err) {
        results.runs[name] = { error: String(err?.stack ?? err) };
        console.error(`${name} failed: ${results.runs[name].error}`);
      }
    }
  } finally {
    await herald.stop();
    rmSync(MEM_DIR, { recursive: true, force: true });
  }
  results.seconds = (performance.now() - started) / 1000;
  const ran = SCENARIOS.filter((name) => results.runs[name]);
  mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
  const file = join(ROOT, 'bench/results', `${results.at.replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify(results, null, 2));
  if (ran.some((name) => results.runs[name].error)) {
    console.log(`failed; details in ${file}`);
    process.exitCode = 1;
    return;
  }
  console.log(`\n${modeLine(herald)}; ${REPEATS} repeat(s): median (min–max); ${fmt(results.seconds, 0)} s\n`);
  console.log('| scenario | Herald | bare baseline | ratio | note |\n|---|---|---|---|---|');
  for (const name of ran) for (const row of ROWS[name](results.runs[name])) console.log(`| ${row.join(' | ')} |`);
  console.log(`\nwritten ${file}`);
}

// ---------------------------------------------------------------------------------------------
// --curves: how cost grows with the work. Each size on a fresh Herald (SQLite; in --cluster mode
// the page-latency curve is skipped, see docs/performance.md). Four sizes each, --quick the two smallest.

const CURVE_SIZES = {
  dispatcher: [10, 100, 1_000, 10_000],
  replay: [1_000, 10_000, 100_000, 1_000_000],
  pages: [1_000, 10_000, 100_000, 1_000_000],
  channels: [10, 100, 1_000, 10_000],
};
const CURVE_EVENTS = quick ? 300 : 2_000;
/** Quicker polling than the defaults, so that idle waits do not stand in for work. */
const CURVE_ENV = { DISPATCH_POLL_INTERVAL: '50ms', WEBHOOK_POLL_INTERVAL: '50ms' };
const WORKSPACE = 'ws_bench';

async function api(url, method, path, token, body, extra = {}) {
  const res = await fetch(url + path, {
    method,
    headers: { 'content-type': 'application/json', 'x-api-key': token, ...extra },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

/** A key of org_bench in workspace ws_bench that may publish, read and write subscriptions. */
async function workspaceKey(herald) {
  const res = await api(herald.url, 'POST', '/api/v1/api-keys', herald.bootstrapKey, {
    kind: 'app',
    organisation_id: 'org_bench',
    workspace_ids: [WORKSPACE],
    scopes: ['events:publish', 'events:read', 'claims:read:org', 'subscriptions:write'],
  });
  if (res.status !== 201)
    throw new Error(`creating the workspace key failed: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.token;
}

/** Runs fn(items[i]) with `width` in flight. */
async function pool(count, width, fn) {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(width, count) }, async () => {
      while (next < count) await fn(next++);
    }),
  );
}

async function publishBatches(url, token, events) {
  for (let i = 0; i < events.length; i += 500) {
    const res = await api(url, 'POST', '/api/v1/events/batch', token, { events: events.slice(i, i + 500) });
    if (res.status !== 201) throw new Error(`batch failed: ${res.status} ${JSON.stringify(res.body)}`);
  }
}

/**
 * Dispatcher throughput with N workspace subscriptions in one organisation: one matches every
 * event (webhook to a local receiver); the N−1 others do not — half by trigger, half by resource.
 * Time per event from the first publish to the last receipt, and server CPU per event.
 */
async function curveDispatcher(herald, n) {
  const token = await workspaceKey(herald);
  const { child: receiver, first } = await startHelper('bench/webhook-receiver.mjs');
  try {
    const ws = { 'x-workspace-id': WORKSPACE };
    const create = async (i) => {
      const matching = i === 0;
      const body = matching
        ? {
            template: null,
            rules: [{ trigger: 'claim_approved', conditions: {} }],
            resources: ['organisations/org_bench'],
            actions: [{ type: 'webhook', url: `http://127.0.0.1:${first.port}/hooks` }],
            meta: { title: 'bench match' },
            state: 'on',
          }
        : {
            template: null,
            rules: [{ trigger: i % 2 ? 'claim_rejected' : 'claim_approved', conditions: {} }],
            resources: i % 2 ? ['organisations/org_bench'] : [`claims/clm_other_${i}`],
            actions: [{ type: 'socket' }],
            meta: { title: `bench other ${i}` },
            state: 'on',
          };
      const res = await api(herald.url, 'POST', '/api/v1/subscriptions', token, body, ws);
      if (res.status !== 201)
        throw new Error(`creating subscription ${i} failed: ${res.status} ${JSON.stringify(res.body)}`);
    };
    await pool(n, 8, create);
    await ask(receiver, 'reset', (m) => 'reset' in m);
    const events = Array.from({ length: CURVE_EVENTS }, (_, k) => ({
      type: 'claim_approved',
      claim_id: 'clm_bench',
      user_id: 'usr_bench',
      data: { t: Date.now(), k },
    }));
    const stop = meter(herald.nodes.map((x) => x.pid));
    const started = performance.now();
    await publishBatches(herald.url, token, events);
    const deadline = performance.now() + 300_000;
    let got = 0;
    while (
      (got = (await ask(receiver, 'count', (m) => 'count' in m)).count) < CURVE_EVENTS &&
      performance.now() < deadline
    )
      await sleep(20);
    const seconds = (performance.now() - started) / 1000;
    const m = stop();
    if (got < CURVE_EVENTS) throw new Error(`dispatcher curve at ${n}: ${got}/${CURVE_EVENTS} delivered`);
    return {
      size: n,
      events: CURVE_EVENTS,
      seconds,
      ms_per_unit: (seconds * 1000) / CURVE_EVENTS,
      cpu_ms_per_unit: (m.server_cpu_s * 1000) / CURVE_EVENTS,
    };
  } finally {
    await stopHelper(receiver);
  }
}

async function curveReplay(herald, n) {
  const r = await replay(herald, 0, n);
  return {
    size: n,
    seconds: r.seconds,
    ms_per_unit: (r.seconds * 1000) / n,
    cpu_ms_per_unit: (r.server_cpu_s * 1000) / n,
  };
}

/**
 * Fan-out cost with N realtime channels of the organisation (all matching the event type); one
 * socket on the last. Publishes CURVE_EVENTS events; time and server CPU per event.
 */
async function curveChannels(herald, n) {
  let last;
  await pool(n, 8, async () => {
    const res = await api(herald.url, 'POST', '/api/v1/realtime-subscriptions/organisation', herald.token, {
      organisation_id: 'org_bench',
      event_types: ['claim_approved'],
    });
    if (res.status !== 201) throw new Error(`creating a channel failed: ${res.status} ${JSON.stringify(res.body)}`);
    last = res.body;
  });
  let received = 0;
  const socket = io(herald.url.replace(/^http/, 'ws') + new URL(last.websocket_url).pathname, {
    transports: ['websocket'],
    reconnection: false,
    forceNew: true,
    auth: { token: herald.token },
  });
  socket.on('claim_approved', () => received++);
  await new Promise((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('connect_error', reject);
  });
  try {
    await sleep(500);
    received = 0;
    const events = Array.from({ length: CURVE_EVENTS }, (_, k) => ({ ...EVENT, data: { k } }));
    const stop = meter(herald.nodes.map((x) => x.pid));
    const started = performance.now();
    await publishBatches(herald.url, herald.token, events);
    const deadline = performance.now() + 300_000;
    while (received < CURVE_EVENTS && performance.now() < deadline) await sleep(20);
    const seconds = (performance.now() - started) / 1000;
    const m = stop();
    if (received < CURVE_EVENTS) throw new Error(`channels curve at ${n}: ${received}/${CURVE_EVENTS} received`);
    return {
      size: n,
      events: CURVE_EVENTS,
      seconds,
      ms_per_unit: (seconds * 1000) / CURVE_EVENTS,
      cpu_ms_per_unit: (m.server_cpu_s * 1000) / CURVE_EVENTS,
    };
  } finally {
    socket.close();
  }
}

/**
 * Page latency of the delivery log at N rows: one real delivery through the app (a workspace
 * subscription with a webhook), then N−1 copies of that row written straight into
 * webhook_deliveries (every column as the app wrote it; new id, event id and a unique created_at
 * 1 ms apart going back). Then the median of 20 GETs of the newest page and of a page from the
 * middle, for /api/v2/subscriptions/alerts/history and /api/v1/webhook-deliveries.
 */
async function curvePages(herald, n) {
  const token = await workspaceKey(herald);
  const { child: receiver, first } = await startHelper('bench/webhook-receiver.mjs');
  const ws = { 'x-workspace-id': WORKSPACE };
  try {
    const res = await api(
      herald.url,
      'POST',
      '/api/v1/subscriptions',
      token,
      {
        template: null,
        rules: [{ trigger: 'claim_approved', conditions: {} }],
        resources: ['organisations/org_bench'],
        actions: [{ type: 'webhook', url: `http://127.0.0.1:${first.port}/hooks` }],
        meta: { title: 'bench pages' },
        state: 'on',
      },
      ws,
    );
    if (res.status !== 201)
      throw new Error(`creating the subscription failed: ${res.status} ${JSON.stringify(res.body)}`);
    await publishBatches(herald.url, token, [{ ...EVENT, data: { t: Date.now() } }]);
    const deadline = Date.now() + 30_000;
    while ((await ask(receiver, 'count', (m) => 'count' in m)).count < 1) {
      if (Date.now() > deadline) throw new Error('the seed delivery did not arrive');
      await sleep(50);
    }
    await sleep(500);
  } finally {
    await stopHelper(receiver);
  }
  const mid = Math.floor(n / 2);
  const middle = await (herald.sqlitePath ? seedSqlite : seedPostgres)(herald, n, mid);
  // Seeding SQLite blocks this process for seconds, during which Herald closes the idle keep-alive
  // connections; let the client see those closes before it picks a connection to reuse.
  await sleep(200);
  const time = async (path, headers) => {
    const samples = [];
    for (let i = 0; i < 22; i++) {
      const t = performance.now();
      const r = await fetch(herald.url + path, { headers: { 'x-api-key': token, ...headers } });
      const body = await r.text();
      if (r.status !== 200) throw new Error(`GET ${path}: ${r.status} ${body.slice(0, 200)}`);
      if (i >= 2) samples.push(performance.now() - t);
      if (i === 0) {
        const parsed = JSON.parse(body);
        const entries = Array.isArray(parsed) ? parsed : (parsed.data ?? parsed.items ?? parsed.deliveries ?? []);
        // A page that is not full would time an empty scan, not a page.
        if (entries.length < 50) throw new Error(`GET ${path}: ${entries.length} entries, expected a full page of 50`);
      }
    }
    return median(samples);
  };
  if (!middle) throw new Error(`seeded row whd_seed_${mid} not found`);
  // The middle page: alert history pages by `datetime` (before it, by default); the delivery log
  // by `until` (logged before it).
  const q = (param, dt) => `?limit=50${dt ? `&${param}=${encodeURIComponent(dt)}` : ''}`;
  return {
    size: n,
    middle_created_at: middle,
    history_first_ms: await time(`/api/v2/subscriptions/alerts/history${q()}`, ws),
    history_middle_ms: await time(`/api/v2/subscriptions/alerts/history${q('datetime', middle)}`, ws),
    deliveries_first_ms: await time(`/api/v1/webhook-deliveries${q()}`, {}),
    deliveries_middle_ms: await time(`/api/v1/webhook-deliveries${q('until', middle)}`, {}),
  };
}

/** Splits a created_at (RFC 3339 UTC with microseconds) into epoch microseconds. */
function createdAtMicros(createdAt) {
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\.(\d{6})Z$/.exec(createdAt);
  if (!m) throw new Error(`unexpected created_at format ${createdAt}`);
  return Date.parse(`${m[1]}Z`) * 1000 + Number(m[2]);
}

/**
 * Copies the newest delivered webhook_deliveries row n−1 times (new id and event id, created_at
 * 1 ms apart going back); returns the created_at of copy `mid`.
 */
async function seedSqlite(herald, n, mid) {
  const Database = require('better-sqlite3');
  const db = new Database(herald.sqlitePath);
  try {
    db.pragma('busy_timeout = 30000');
    const template = db
      .prepare(`SELECT * FROM webhook_deliveries WHERE status = 'delivered' ORDER BY created_at DESC LIMIT 1`)
      .get();
    if (!template) throw new Error('no delivered row to copy');
    const baseUs = createdAtMicros(template.created_at);
    const columns = Object.keys(template);
    const expr = {
      id: `'whd_seed_' || n`,
      event_id: `event_id || '_seed_' || n`,
      created_at: `strftime('%Y-%m-%dT%H:%M:%S', (${baseUs} - n * 1000) / 1000000, 'unixepoch') || '.' || printf('%06d', (${baseUs} - n * 1000) % 1000000) || 'Z'`,
    };
    const insert = db.prepare(
      `INSERT INTO webhook_deliveries (${columns.map((c) => `"${c}"`).join(', ')})
       WITH RECURSIVE seq(n) AS (SELECT CAST(? AS INTEGER) UNION ALL SELECT n + 1 FROM seq WHERE n < CAST(? AS INTEGER))
       SELECT ${columns.map((c) => expr[c] ?? `"${c}"`).join(', ')} FROM seq, (SELECT * FROM webhook_deliveries WHERE id = ?)`,
    );
    for (let from = 1; from < n; from += 50_000)
      db.transaction(() => insert.run(from, Math.min(n - 1, from + 49_999), template.id))();
    const rows = db.prepare(`SELECT count(*) AS c FROM webhook_deliveries`).get().c;
    if (rows < n) throw new Error(`seeded ${rows} rows, wanted ${n}`);
    return db.prepare(`SELECT created_at FROM webhook_deliveries WHERE id = ?`).get(`whd_seed_${mid}`)?.created_at;
  } finally {
    db.close();
  }
}

/** The same on the cluster's Postgres schema. */
async function seedPostgres(herald, n, mid) {
  const pg = new PgClient({ connectionString: herald.databaseUrl, connectionTimeoutMillis: 5_000 });
  pg.on('error', () => {});
  await pg.connect();
  try {
    await pg.query(`SET search_path TO "${herald.schema}"`);
    const { rows: tpl } = await pg.query(
      `SELECT * FROM webhook_deliveries WHERE status = 'delivered' ORDER BY created_at DESC LIMIT 1`,
    );
    if (!tpl.length) throw new Error('no delivered row to copy');
    const baseUs = createdAtMicros(tpl[0].created_at);
    const columns = Object.keys(tpl[0]);
    const expr = {
      id: `'whd_seed_' || n`,
      event_id: `event_id || '_seed_' || n`,
      created_at: `to_char(timestamp 'epoch' + (${baseUs} - n * 1000) * interval '1 microsecond', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`,
    };
    for (let from = 1; from < n; from += 50_000)
      await pg.query(
        `INSERT INTO webhook_deliveries (${columns.map((c) => `"${c}"`).join(', ')})
         SELECT ${columns.map((c) => expr[c] ?? `"${c}"`).join(', ')}
         FROM generate_series($1::bigint, $2::bigint) AS n, (SELECT * FROM webhook_deliveries WHERE id = $3) AS t`,
        [from, Math.min(n - 1, from + 49_999), tpl[0].id],
      );
    await pg.query('ANALYZE webhook_deliveries');
    const { rows } = await pg.query(`SELECT count(*)::int AS c FROM webhook_deliveries`);
    if (rows[0].c < n) throw new Error(`seeded ${rows[0].c} rows, wanted ${n}`);
    const { rows: m } = await pg.query(`SELECT created_at FROM webhook_deliveries WHERE id = $1`, [`whd_seed_${mid}`]);
    return m[0]?.created_at;
  } finally {
    await pg.end().catch(() => {});
  }
}

const CURVES = {
  dispatcher: {
    run: curveDispatcher,
    title: 'Dispatcher: time per event vs workspace subscriptions in the organisation',
    xLabel: 'workspace subscriptions',
    series: [
      ['ms_per_unit', 'wall ms per event'],
      ['cpu_ms_per_unit', 'server CPU ms per event'],
    ],
  },
  replay: {
    run: curveReplay,
    title: 'Replay: time per missed event vs events missed',
    xLabel: 'missed events',
    series: [
      ['ms_per_unit', 'wall ms per event'],
      ['cpu_ms_per_unit', 'server CPU ms per event'],
    ],
  },
  pages: {
    run: curvePages,
    title: 'Delivery-log page latency (limit 50) vs rows in the log',
    xLabel: 'delivery-log rows',
    series: [
      ['history_first_ms', 'alerts/history, newest page (ms)'],
      ['history_middle_ms', 'alerts/history, middle page (ms)'],
      ['deliveries_first_ms', 'webhook-deliveries, newest page (ms)'],
      ['deliveries_middle_ms', 'webhook-deliveries, middle page (ms)'],
    ],
  },
  channels: {
    run: curveChannels,
    title: 'Fan-out: time per event vs realtime channels of the organisation',
    xLabel: 'channels',
    series: [
      ['ms_per_unit', 'wall ms per event'],
      ['cpu_ms_per_unit', 'server CPU ms per event'],
    ],
  },
};

/** An error with its cause (fetch hides the socket error there), and whether a node had exited, with its last log lines. */
function describeFailure(err, herald) {
  const cause = err?.cause ? ` (${err.cause.code ?? err.cause.message ?? err.cause})` : '';
  const logs = herald.nodes.map(
    (n) =>
      `Herald ${n.name} ${n.exited() === undefined ? 'running' : `exited (${n.exited()})`}; last output:\n${n.output()}`,
  );
  return `${err?.message ?? err}${cause}\n${logs.join('\n')}`;
}

async function curves() {
  const { lineChart } = await import('./svg-chart.mjs');
  const names = onlyAt >= 0 ? only : Object.keys(CURVES);
  const at = new Date().toISOString();
  const results = {
    at,
    mode: cluster ? 'cluster' : 'sqlite',
    quick,
    events_per_point: CURVE_EVENTS,
    env: CURVE_ENV,
    node: process.version,
    curves: {},
  };
  const started = performance.now();
  let failed = false;
  for (const name of names) {
    const curve = CURVES[name];
    const sizes = quick ? CURVE_SIZES[name].slice(0, 2) : CURVE_SIZES[name];
    results.curves[name] = [];
    for (const size of sizes) {
      console.error(`curve ${name} at ${size}`);
      const herald = await (cluster ? startCluster(CURVE_ENV) : startSqlite(CURVE_ENV));
      try {
        results.curves[name].push(await curve.run(herald, size));
      } catch (err) {
        const error = describeFailure(err, herald);
        results.curves[name].push({ size, error });
        console.error(`curve ${name} at ${size} failed: ${error}`);
        failed = true;
      } finally {
        await herald.stop();
      }
    }
  }
  rmSync(MEM_DIR, { recursive: true, force: true });
  results.seconds = (performance.now() - started) / 1000;
  mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
  const file = join(ROOT, 'bench/results', `curves-${at.replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify(results, null, 2));
  for (const name of names) {
    const points = results.curves[name].filter((p) => !p.error);
    const keys = CURVES[name].series;
    console.log(`\n${CURVES[name].title}\n`);
    console.log(
      `| ${CURVES[name].xLabel} | ${keys.map(([, l]) => l).join(' | ')} |\n|${'---|'.repeat(keys.length + 1)}`,
    );
    for (const p of results.curves[name])
      console.log(`| ${p.size} | ${p.error ? `failed: ${p.error}` : keys.map(([k]) => fmt(p[k], 3)).join(' | ')} |`);
    if (!points.length) continue;
    const svg = join(ROOT, 'docs', `bench-curve-${name}${cluster ? '-cluster' : ''}.svg`);
    writeFileSync(
      svg,
      lineChart({
        title: CURVES[name].title + (quick ? ' (--quick smoke sizes)' : ''),
        xLabel: CURVES[name].xLabel,
        yLabel: 'ms',
        series: keys.map(([k, l]) => ({ name: l, points: points.map((p) => [p.size, p[k]]) })),
      }),
    );
    console.log(`\nplotted ${svg}`);
  }
  console.log(`\n${fmt(results.seconds, 0)} s; written ${file}`);
  if (failed) process.exitCode = 1;
}

main().then(
  () => process.exit(process.exitCode ?? 0),
  (err) => {
    console.error(err instanceof SetupError ? err.message : err);
    process.exit(1);
  },
);
