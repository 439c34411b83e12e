import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import request from 'supertest';
import { mintKey } from '../support/credentials';
import { publish } from '../support/events';
import { readme, ROOT, runExample, runToEnd, type ExampleRun } from '../support/examples';
import { startTestApp, type TestApp } from '../support/test-app';

/**
 * The Python examples (examples/python/), run as a client team would run them: Debian's
 * python3-socketio, python3-websocket and python3-requests against a real server, with the
 * README's command lines. Skipped where those packages are missing, unless REQUIRE_PYTHON=1
 * (CI installs them).
 */
const PYTHON = '/usr/bin/python3';
const available = spawnSync(PYTHON, ['-c', 'import socketio, websocket, requests'], { stdio: 'ignore' }).status === 0;
if (!available && process.env.REQUIRE_PYTHON === '1')
  throw new Error('REQUIRE_PYTHON=1 but python3-socketio, python3-websocket or python3-requests is missing');
const describePython = available ? describe : describe.skip;

/** A command the README shows, run with Debian's python3 (which has the packages) whatever PATH says. */
function shown(command: string): string {
  expect({ inReadme: readme().includes(command), command }).toEqual({ inReadme: true, command });
  return command.replace(/^python3 /, `${PYTHON} `);
}

describePython('Python examples (examples/python)', () => {
  let t: TestApp;
  let env: Record<string, string>;
  const runs: ExampleRun[] = [];
  const start = (command: string, runEnv: Record<string, string>) => {
    const run = runExample(command, runEnv);
    runs.push(run);
    return run;
  };

  beforeAll(async () => {
    t = await startTestApp();
    const key = await mintKey(t, { org: 'org_001', scopes: ['events:publish', 'events:read'] });
    env = { HERALD_URL: t.url, HERALD_API_KEY: key };
  });
  afterEach(() => {
    for (const run of runs.splice(0)) run.kill();
  });
  afterAll(async () => {
    await t?.close();
  });

  it('says what is missing when HERALD_URL or HERALD_API_KEY is not set', async () => {
    const files = readdirSync(join(ROOT, 'examples/python')).filter((f) => f.endsWith('.py'));
    expect(files.length).toBeGreaterThanOrEqual(4);
    for (const file of files) {
      const { stderr } = await runToEnd(`${PYTHON} examples/python/${file}`, { HERALD_URL: t.url }, 2);
      expect(stderr).toMatch(/Set HERALD_URL .*HERALD_API_KEY/);
    }
  });

  it('publish.py stores an event and socketio_listener.py receives it', async () => {
    const listener = start(shown('python3 examples/python/socketio_listener.py --count 1'), env);
    await listener.line(/^connected as \S+; waiting for events$/);
    const { stdout } = await runToEnd(shown('python3 examples/python/publish.py'), env);
    const [, id, seq] = /^published claim_approved (\S+) seq (\d+)$/.exec(stdout.trim()) ?? [];
    expect(id).toMatch(/^evt_/);
    expect(await listener.exited).toBe(0);
    expect(listener.lines.at(-1)).toBe(`received claim_approved ${id} seq ${seq}`);
  });

  it('raw_websocket.py sends ping and subscribe frames and gets only the events of its types', async () => {
    const client = start(
      shown('python3 examples/python/raw_websocket.py --types claim_approved --subscribe comment_added --count 2'),
      env,
    );
    await client.line(/^welcome: client wsc_\S+, event types claim_approved$/);
    await client.line(/^pong$/);
    await client.line(/^subscribed to claim_approved,comment_added$/);
    await publish(t.url, env.HERALD_API_KEY, { type: 'claim_submitted', user_id: 'usr_84cd12ef' });
    const comment = await publish(t.url, env.HERALD_API_KEY, { type: 'comment_added', user_id: 'usr_84cd12ef' });
    const approved = await publish(t.url, env.HERALD_API_KEY, { type: 'claim_approved', user_id: 'usr_84cd12ef' });
    expect(await client.exited).toBe(0);
    expect(client.lines.filter((l) => l.startsWith('received'))).toEqual([
      `received comment_added ${comment.body.id} seq ${comment.body.seq}`,
      `received claim_approved ${approved.body.id} seq ${approved.body.seq}`,
    ]);
  });

  it('channel_and_session.py attaches to a channel from its websocket_url, subscribes its session by get_sid("/"), and reads a raw WebSocket', async () => {
    const key = await mintKey(t, { org: 'org_py', user: 'usr_py', scopes: ['events:read', 'users.read'] });
    const producer = await mintKey(t, { org: 'org_py', scopes: ['events:publish'] });
    const channel = await request(t.url)
      .post('/api/v1/realtime-subscriptions/user')
      .set('X-Api-Key', key)
      .send({ user_id: 'usr_py', event_types: ['status_changed'] });
    expect(channel.status).toBe(201);
    expect(readme()).toContain('python3 examples/python/channel_and_session.py');

    const child = start(`${PYTHON} examples/python/channel_and_session.py`, {
      HERALD_URL: t.url,
      HERALD_API_KEY: key,
      CHANNEL_ID: channel.body.channel_id,
      FOLLOW_CHANNEL: 'chan_py_follow',
      MAX_MESSAGES: '3',
      TIMEOUT_S: '30',
    });
    const parsed = () => child.lines.filter((l) => l.trim()).map((l) => JSON.parse(l));
    await child.line(/"source": "ready"/, 30_000);
    expect(child.stderr()).toBe('');

    const status = await publish(t.url, producer, { type: 'status_changed', user_id: 'usr_py' });
    const follow = await publish(t.url, producer, {
      type: 'channel.follow',
      channel_id: 'chan_py_follow',
      user_id: 'usr_other',
    });
    const comment = await publish(t.url, producer, { type: 'comment_added', user_id: 'usr_py' });
    expect(await child.exited).toBe(0);

    const lines = parsed();
    expect(lines.find((l) => l.event === 'welcome')?.payload).toMatchObject({ channel_id: channel.body.channel_id });
    const got = lines.filter((l) => l.source !== 'ready' && l.event !== 'welcome');
    expect(got.map((l) => [l.source, l.event, l.payload.id]).sort()).toEqual(
      [
        ['channel', 'status_changed', status.body.id],
        ['session', 'channel.follow', follow.body.id],
        ['raw', 'comment_added', comment.body.id],
      ].sort(),
    );
  });
});
