// Baseline for the webhook scenario: undici posting the same signed bodies Herald sends, at the
// same offered rate and the same concurrency as Herald's delivery worker, with nothing else in the
// way (no log, no queue, no database).
//
// The parent sends { url, rate, seconds, concurrency, template, secret }; the answer is
// { sent, failed } once every request has been answered.
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';
const require = createRequire(import.meta.url);
const { Agent, request } = require('undici');
const { signedRequest } = require('../../dist/src/core/webhooks/webhook-request.js');

const TICKS_PER_SECOND = 50;

async function run({ url, rate, seconds, concurrency, template, secret }) {
  // Herald's sender: one keep-alive Agent, the same timeouts.
  const agent = new Agent({ connect: { timeout: 5_000 }, keepAliveTimeout: 4_000 });
  const base = JSON.parse(template);
  const total = rate * seconds;
  const perTick = rate / TICKS_PER_SECOND;
  const queue = [];
  let produced = 0;
  let done = false;
  let sent = 0;
  let failed = 0;
  const idle = [];

  const worker = async () => {
    for (;;) {
      const job = queue.shift();
      if (!job) {
        if (done) return;
        await new Promise((r) => idle.push(r));
        continue;
      }
      const req = signedRequest({ url, secret, headers: {} }, job.id, job.body, new Date());
      try {
        const res = await request(req.url, {
          dispatcher: agent,
          method: req.method,
          headers: req.headers,
          body: req.body,
        });
        await res.body.dump();
        if (res.statusCode < 300) sent++;
        else failed++;
      } catch {
        failed++;
      }
    }
  };
  const workers = Array.from({ length: concurrency }, worker);
  const started = performance.now();
  for (let tick = 0; produced < total; tick++) {
    const due = started + (tick * 1000) / TICKS_PER_SECOND;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const t = Date.now();
    for (let i = 0; i < perTick && produced < total; i++, produced++) {
      const id = `evt_${randomBytes(13).toString('hex')}`;
      const body = JSON.stringify({
        ...base,
        id,
        sequence: String(produced + 1),
        time: new Date(t).toISOString(),
        data: { ...base.data, t, k: produced },
      });
      queue.push({ id: `msg_${randomBytes(13).toString('hex')}`, body });
    }
    for (let i = Math.min(queue.length, idle.length); i > 0; i--) idle.shift()();
  }
  done = true;
  while (idle.length) idle.shift()();
  await Promise.all(workers);
  await agent.close();
  return { sent, failed };
}

process.on('message', (msg) => {
  run(msg).then(
    (result) => process.send(result),
    (err) => process.send({ error: String(err?.stack ?? err) }),
  );
});
process.on('disconnect', () => process.exit(0));
process.send('ready');
