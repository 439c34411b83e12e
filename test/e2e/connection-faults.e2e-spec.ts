import request from 'supertest';
import { childServerEnv, startChildServer, type ChildServer } from '../support/child-server';
import { CONNECTION_FAULTS, type FaultTarget } from '../support/connection-faults';
import { connectSocket } from '../support/sockets';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { connectWs } from '../support/ws-client';

/** Each fault runs this many times: some land in an await (authentication, a channel lookup) only on some tries. */
const REPEATS = 3;

/**
 * A client that resets its connection at any byte must end only its own connection. Runs the
 * built server in a child process, so a crash shows as an exited process, not a failed test run.
 */
describe('connection faults: a reset at any stage ends only that connection', () => {
  let database: TestDatabase;
  let server: ChildServer;
  let target: FaultTarget;

  beforeAll(async () => {
    database = createTestDatabase();
    const { env, operator } = await childServerEnv(database);
    server = await startChildServer(env);
    const key = await request(server.url)
      .post('/api/v1/api-keys')
      .set('X-Api-Key', operator)
      .send({
        kind: 'user',
        organisation_id: 'org_faults',
        user_id: 'usr_faults',
        scopes: ['events:publish', 'events:read', 'claims:read:org'],
      });
    expect(key.status).toBe(201);
    const channel = await request(server.url)
      .post('/api/v1/realtime-subscriptions/organisation')
      .set('X-Api-Key', key.body.token)
      .send({ organisation_id: 'org_faults', user_id: 'usr_faults' });
    expect(channel.status).toBe(201);
    target = {
      host: '127.0.0.1',
      port: Number(new URL(server.url).port),
      token: key.body.token,
      channelId: channel.body.channel_id,
    };
  });

  afterAll(async () => {
    await server?.stop();
    await database?.drop();
  });

  it.each(CONNECTION_FAULTS.map((fault) => [fault.stage, fault] as const))('%s', async (_stage, fault) => {
    for (let i = 0; i < REPEATS; i++) await fault.run(target);
    // Give an error event raised by the reset time to reach (and, before the fix, kill) the process.
    await new Promise((r) => setTimeout(r, 50));
    expect(server.process.exitCode).toBeNull();
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
  });

  it('still serves publishers and every kind of client after all the faults', async () => {
    const ws = await connectWs(`${server.url}/api/v1/ws/subscribe?access_token=${target.token}`);
    const socket = await connectSocket(server.url, target.token);
    try {
      await ws.next((f) => f.type === 'welcome');
      const got = new Promise((resolve) => socket.once('claim_approved', resolve));
      const published = await request(server.url)
        .post('/api/v1/events')
        .set('X-Api-Key', target.token)
        .send({ type: 'claim_approved', user_id: 'usr_faults', data: {} });
      expect(published.status).toBe(201);
      const frame = await ws.next((f) => f.type === 'event');
      expect(frame.event.id).toBe(published.body.id);
      expect(((await got) as { id: string }).id).toBe(published.body.id);
    } finally {
      ws.ws.close();
      socket.close();
    }
    expect(server.process.exitCode).toBeNull();
  });
});
