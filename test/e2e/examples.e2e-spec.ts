import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { readme, ROOT, runExample, runToEnd, type ExampleRun } from '../support/examples';
import { startTestApp, type TestApp } from '../support/test-app';

/**
 * The README's "First five minutes", run as a reader would: the keys are made with the README's
 * own curl commands, and every example in examples/ runs as a child process with the README's
 * command line against a real server, printing what the test then checks.
 */

/** The bash blocks of one README section, line continuations joined. */
function bashBlocks(markdown: string, heading: string): string[] {
  const start = markdown.indexOf(`\n## ${heading}\n`);
  if (start < 0) throw new Error(`README has no "## ${heading}" section`);
  const end = markdown.indexOf('\n## ', start + 1);
  const section = markdown.slice(start, end < 0 ? undefined : end);
  return [...section.matchAll(/```bash\n([\s\S]*?)```/g)].map((m) => m[1].replace(/\\\n\s*/g, ''));
}

/** A command the README shows; the test fails when the README stops showing it. */
function shown(command: string): string {
  expect({ inReadme: readme().includes(command), command }).toEqual({ inReadme: true, command });
  return command;
}

const PUBLISHED = /^(published|already published) (\S+) (\S+) seq (\d+)$/;

/** Runs a publish.js command line; its output names the stored event. */
async function publishWith(command: string, env: Record<string, string>) {
  const { stdout } = await runToEnd(command, env);
  const match = PUBLISHED.exec(stdout.trim());
  if (!match) throw new Error(`unexpected output of ${command}: ${stdout}`);
  return { verb: match[1], type: match[2], id: match[3], seq: Number(match[4]) };
}

describe('Examples (examples/*.js and the README that shows them)', () => {
  let t: TestApp;
  let appEnv: Record<string, string>;
  let userEnv: Record<string, string>;
  const runs: ExampleRun[] = [];
  const start = (command: string, env: Record<string, string>) => {
    const run = runExample(command, env);
    runs.push(run);
    return run;
  };

  beforeAll(async () => {
    // The webhook example's receiver listens on 127.0.0.1, as on a developer's machine.
    t = await startTestApp({ env: { WEBHOOK_ALLOW_PRIVATE: 'true' } });
  });
  afterEach(() => {
    for (const run of runs.splice(0)) run.kill();
  });
  afterAll(async () => {
    await t?.close();
  });

  it("makes an app key and a user key with the README's curl commands, as written", async () => {
    const curls = bashBlocks(readme(), 'First five minutes').filter((b) => b.includes('/api/v1/api-keys'));
    expect(curls).toHaveLength(2);
    const tokens: Record<string, string> = {};
    for (const block of curls) {
      expect(block).toContain('http://localhost:3000/api/v1/api-keys');
      const command = block.trim().replaceAll('http://localhost:3000', t.url);
      const { stdout } = await runToEnd(command, { HERALD_OPERATOR_KEY: t.operatorToken });
      const key = JSON.parse(stdout);
      expect(key).toMatchObject({ organisation_id: 'org_001', token: expect.stringMatching(/^hrld_/) });
      tokens[key.kind] = key.token;
    }
    expect(Object.keys(tokens).sort()).toEqual(['app', 'user']);
    appEnv = { HERALD_URL: t.url, HERALD_API_KEY: tokens.app };
    userEnv = { HERALD_URL: t.url, HERALD_API_KEY: tokens.user };
  });

  it("publishes with the Events section's curl command, as written", async () => {
    const curls = bashBlocks(readme(), 'Events').filter((b) => b.includes('curl'));
    expect(curls).toHaveLength(1);
    const command = curls[0].trim().replaceAll('http://localhost:3000', t.url);
    const { stdout } = await runToEnd(command, appEnv);
    expect(JSON.parse(stdout)).toMatchObject({
      id: 'clm_9f2a3b4c-approved',
      type: 'claim_approved',
      seq: expect.any(Number),
      data: { amount: 4850, currency: 'NOK', approver: 'usr_coord99' },
    });
  });

  it('says what is missing when HERALD_URL or HERALD_API_KEY is not set', async () => {
    const files = readdirSync(join(ROOT, 'examples')).filter((f) => f.endsWith('.js'));
    expect(files.length).toBeGreaterThanOrEqual(6);
    for (const file of files) {
      const { stderr } = await runToEnd(`node examples/${file}`, { HERALD_URL: t.url }, 2);
      expect(stderr).toMatch(/Set HERALD_URL .* and HERALD_API_KEY/);
    }
  });

  it('publish.js stores events (idempotently with --id) and socketio-listener.js receives them', async () => {
    const listener = start(shown('node examples/socketio-listener.js --count 2'), appEnv);
    await listener.line(/^connected as \S+; waiting for events$/);

    const approved = await publishWith(shown('node examples/publish.js'), appEnv);
    const rejectCommand = `node examples/publish.js --type claim_rejected --id clm_9f2a3b4c-rejected --data '{"comment":"Missing receipt"}'`;
    const rejected = await publishWith(shown(rejectCommand), appEnv);
    const again = await publishWith(rejectCommand, appEnv);
    expect([approved.verb, rejected.verb, again.verb]).toEqual(['published', 'published', 'already published']);
    expect(again).toMatchObject({ id: 'clm_9f2a3b4c-rejected', seq: rejected.seq });

    expect(await listener.exited).toBe(0);
    expect(listener.lines.filter((l) => l.startsWith('received'))).toEqual([
      `received claim_approved ${approved.id} seq ${approved.seq} {"amount":4850,"currency":"NOK"}`,
      `received claim_rejected ${rejected.id} seq ${rejected.seq} {"comment":"Missing receipt"}`,
    ]);
  });

  it('raw-websocket.js speaks the frame format: welcome, ping/pong, subscribe, events of its types only', async () => {
    const client = start(
      shown('node examples/raw-websocket.js --types claim_approved --subscribe comment_added --count 2'),
      appEnv,
    );
    await client.line(/^welcome: client wsc_\S+, event types claim_approved$/);
    await client.line(/^pong$/);
    await client.line(/^subscribed to claim_approved,comment_added$/);

    // Not among its types: a client that received it would stop on the wrong two events.
    await publishWith(`node examples/publish.js --type claim_submitted`, appEnv);
    const comment = await publishWith(
      shown(`node examples/publish.js --type comment_added --data '{"comment":"Receipt attached"}'`),
      appEnv,
    );
    const approved = await publishWith('node examples/publish.js', appEnv);

    expect(await client.exited).toBe(0);
    expect(client.lines.filter((l) => l.startsWith('received'))).toEqual([
      `received comment_added ${comment.id} seq ${comment.seq}`,
      `received claim_approved ${approved.id} seq ${approved.seq}`,
    ]);
  });

  it('channel-resume.js creates a channel, then resumes from the last seq it saw over Socket.IO and raw WebSocket', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'herald-channel-'));
    const state = join(dir, 'channel.json');
    try {
      const first = start(`${shown('node examples/channel-resume.js --count 2')} --state ${state}`, appEnv);
      const created = await first.line(/^created channel (chan_\S+)$/);
      await first.line(/^welcome: channel chan_\S+, resuming after seq \d+$/);
      const e1 = await publishWith('node examples/publish.js', appEnv);
      const e2 = await publishWith('node examples/publish.js', appEnv);
      expect(await first.exited).toBe(0);
      expect(JSON.parse(readFileSync(state, 'utf8'))).toMatchObject({ channel_id: created[1], last_seq: e2.seq });

      // Published while nothing is attached: the next run replays them, after the seq it saw last.
      const e3 = await publishWith('node examples/publish.js', appEnv);
      const e4 = await publishWith('node examples/publish.js', appEnv);
      const raw = start(`${shown('node examples/channel-resume.js --raw --count 2')} --state ${state}`, appEnv);
      expect(await raw.exited).toBe(0);
      expect(raw.lines).toEqual([
        `welcome: channel ${created[1]}, resuming after seq ${e2.seq}`,
        `received claim_approved ${e3.id} seq ${e3.seq}`,
        `received claim_approved ${e4.id} seq ${e4.seq}`,
      ]);

      // The client's own position wins over the channel's cursor (which is past e4 now): a client
      // that lost what it had after e1 gets e2 again, over Socket.IO, through `auth.last_seq`.
      writeFileSync(state, JSON.stringify({ ...JSON.parse(readFileSync(state, 'utf8')), last_seq: e1.seq }));
      const rewound = start(`node examples/channel-resume.js --count 3 --state ${state}`, appEnv);
      expect(await rewound.exited).toBe(0);
      expect(rewound.lines).toEqual([
        `welcome: channel ${created[1]}, resuming after seq ${e1.seq}`,
        ...[e2, e3, e4].map((e) => `received claim_approved ${e.id} seq ${e.seq}`),
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('session-follow.js subscribes its Socket.IO session to one channel and prints its followers', async () => {
    const session = start(shown('node examples/session-follow.js --channel chan_demo'), userEnv);
    const subscribed = await session.line(/^session (\S+) subscribed: (.*)$/);
    expect(JSON.parse(subscribed[2])).toEqual([
      { type: 'channel.follow', version: '1', condition: { channelId: 'chan_demo' } },
    ]);

    // Another channel's follower is not for this session.
    await publishWith(
      'node examples/publish.js --type channel.follow --channel chan_other --user usr_0a1b2c3d',
      appEnv,
    );
    const follow = await publishWith(
      shown('node examples/publish.js --type channel.follow --channel chan_demo --user usr_5d2e7a10'),
      appEnv,
    );
    expect(await session.exited).toBe(0);
    expect(session.lines.at(-1)).toBe(`new follower of chan_demo: usr_5d2e7a10 (event ${follow.id})`);
  });

  it('webhook-receiver.js subscribes, verifies a signed delivery, refuses a forged one, and unsubscribes', async () => {
    const receiver = start(`${shown('node examples/webhook-receiver.js --claim clm_9f2a3b4c')} --port 0`, appEnv);
    const subscribed = await receiver.line(/^subscribed (\S+) to claim clm_9f2a3b4c as (sub_\S+)$/);
    const [, url, subscriptionId] = subscribed;
    await receiver.line(/^listening on /);

    const forged = await fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'webhook-id': 'msg_forged',
        'webhook-timestamp': String(Math.floor(Date.now() / 1000)),
        'webhook-signature': 'v1,Zm9yZ2VkIHNpZ25hdHVyZSwgbm90IEhlcmFsZCdz',
      },
      body: JSON.stringify({ type: 'claim_approved', id: 'evt_forged' }),
    });
    expect(forged.status).toBe(400);
    await receiver.line(/^rejected a request: /);

    const event = await publishWith('node examples/publish.js', appEnv);
    expect(await receiver.exited).toBe(0);
    expect(receiver.lines.at(-1)).toMatch(new RegExp(`^verified \\S+: claim_approved ${event.id} seq ${event.seq}$`));

    const after = await request(t.url)
      .get(`/api/v1/approval-notifications/subscriptions/${subscriptionId}`)
      .set('X-Api-Key', appEnv.HERALD_API_KEY);
    expect(after.status).toBe(404);
  });
});

describe('README', () => {
  const text = readme();

  it('shows every JavaScript example in full, exactly as the file is', () => {
    const blocks = new Set([...text.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1]));
    const files = readdirSync(join(ROOT, 'examples')).filter((f) => f.endsWith('.js'));
    const missing = files.filter((f) => !blocks.has(readFileSync(join(ROOT, 'examples', f), 'utf8')));
    expect(missing).toEqual([]);
  });

  it('names every Python example', () => {
    const files = readdirSync(join(ROOT, 'examples/python')).filter((f) => f.endsWith('.py'));
    expect(files.filter((f) => !text.includes(`examples/python/${f}`))).toEqual([]);
  });

  it('lists every variable the configuration reads', () => {
    const source = readFileSync(join(ROOT, 'src/core/config/config.ts'), 'utf8');
    const read = new Set([...source.matchAll(/\(env, '([A-Z][A-Z0-9_]*)'/g)].map((m) => m[1]));
    const start = text.indexOf('\n## Configuration\n');
    const table = text.slice(start, text.indexOf('\n## ', start + 1));
    const listed = new Set(
      [...table.matchAll(/^\| (.*?) \|/gm)].flatMap((m) => m[1].match(/[A-Z][A-Z0-9_]{2,}/g) ?? []),
    );
    expect([...read].filter((name) => !listed.has(name)).sort()).toEqual([]);
    expect(read.size).toBeGreaterThan(40);
  });

  it('starts with exactly two commands, and names APIs by what they do', () => {
    const quickStart = bashBlocks(text, 'Quick start').map((b) => b.trim());
    expect(quickStart).toEqual(['npm install && npm start', 'npm test']);
    const teamNotes = text.indexOf('\n## Contract documents\n');
    expect(teamNotes).toBeGreaterThan(0);
    expect(text.slice(0, teamNotes).match(/seed \d{3}|seed-\d{3}/gi) ?? []).toEqual([]);
  });
});
