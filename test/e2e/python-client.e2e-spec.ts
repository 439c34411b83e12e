import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import request from 'supertest';
import { mintKey } from '../support/credentials';
import { publish } from '../support/events';
import { waitFor } from '../support/sockets';
import { startTestApp, type TestApp } from '../support/test-app';

/**
 * The Python example from the README, run as a client team would run it: Debian's
 * python3-socketio, python3-websocket and python3-requests against a real server. Skipped where
 * those packages are missing, unless REQUIRE_PYTHON=1 (CI installs them).
 */
const PYTHON = '/usr/bin/python3';
const available = spawnSync(PYTHON, ['-c', 'import socketio, websocket, requests'], { stdio: 'ignore' }).status === 0;
if (!available && process.env.REQUIRE_PYTHON === '1')
  throw new Error('REQUIRE_PYTHON=1 but python3-socketio, python3-websocket or python3-requests is missing');
const describePython = available ? describe : describe.skip;

describePython('Python clients (examples/python)', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(async () => {
    await t?.close();
  });

  it('attaches to a channel from its websocket_url, subscribes its session by get_sid("/"), and reads a raw WebSocket', async () => {
    const key = await mintKey(t, { org: 'org_py', user: 'usr_py', scopes: ['events:read', 'users.read'] });
    const producer = await mintKey(t, { org: 'org_py', scopes: ['events:publish'] });
    const channel = await request(t.url)
      .post('/api/v1/realtime-subscriptions/user')
      .set('X-Api-Key', key)
      .send({ user_id: 'usr_py', event_types: ['status_changed'] });
    expect(channel.status).toBe(201);

    const child = spawn(PYTHON, [join(process.cwd(), 'examples/python/channel_and_session.py')], {
      env: {
        PATH: process.env.PATH ?? '',
        HERALD_URL: t.url,
        HERALD_KEY: key,
        CHANNEL_ID: channel.body.channel_id,
        FOLLOW_CHANNEL: 'chan_py_follow',
        MAX_MESSAGES: '3',
        TIMEOUT_S: '30',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const lines: { source: string; event: string; payload: any }[] = [];
    let stderr = '';
    let buffered = '';
    child.stdout.on('data', (d: Buffer) => {
      buffered += d.toString();
      const parts = buffered.split('\n');
      buffered = parts.pop() ?? '';
      for (const line of parts) if (line.trim()) lines.push(JSON.parse(line));
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      await waitFor(
        'the Python client to be ready',
        () => lines.some((l) => l.source === 'ready') || child.exitCode !== null,
        30_000,
      );
      expect({ ready: lines.some((l) => l.source === 'ready'), stderr }).toEqual({ ready: true, stderr: '' });

      const status = await publish(t.url, producer, { type: 'status_changed', user_id: 'usr_py' });
      const follow = await publish(t.url, producer, {
        type: 'channel.follow',
        channel_id: 'chan_py_follow',
        user_id: 'usr_other',
      });
      const comment = await publish(t.url, producer, { type: 'comment_added', user_id: 'usr_py' });
      expect(await exited).toBe(0);

      expect(lines.find((l) => l.event === 'welcome')?.payload).toMatchObject({ channel_id: channel.body.channel_id });
      const got = lines.filter((l) => l.source !== 'ready' && l.event !== 'welcome');
      expect(got.map((l) => [l.source, l.event, l.payload.id]).sort()).toEqual(
        [
          ['channel', 'status_changed', status.body.id],
          ['session', 'channel.follow', follow.body.id],
          ['raw', 'comment_added', comment.body.id],
        ].sort(),
      );
    } finally {
      if (child.exitCode === null) child.kill();
    }
  });
});
