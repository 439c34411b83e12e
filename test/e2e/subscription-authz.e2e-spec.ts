import { io, Socket } from 'socket.io-client';
import request from 'supertest';
import { DataSource } from 'typeorm';
import { Webhook } from 'standardwebhooks';
import { WorkspaceSubscriptionOwners1763900800000 } from '../../src/core/database/migrations/1763900800000-workspace-subscription-owners';
import { mintKey } from '../support/credentials';
import { dispatchedThrough, publish, type PublishSpec } from '../support/events';
import { record, waitFor } from '../support/sockets';
import { createTestDatabase } from '../support/test-database';
import { startTestApp, TestApp } from '../support/test-app';
import { WebhookReceiver } from '../support/webhook-receiver';

const V1 = '/api/v1/subscriptions';
const V2 = '/api/v2/subscriptions';
const ORG = 'org_authz';
const MASK = '********';
const ENV = { WEBHOOK_ALLOW_PRIVATE: 'true', DISPATCH_POLL_INTERVAL: '50ms', WEBHOOK_POLL_INTERVAL: '50ms' };
/** The receivers' own secret is never a subscription's: they record what arrives, tests verify with the real one. */
const RECEIVER_SECRET = 'whsec_' + Buffer.from('authz-receiver-secret-authz!').toString('base64');

/**
 * Authorization inside one organisation: a workspace subscription reads events as its owner
 * would (webhook and socket alike), the test endpoint is neither a signing oracle nor a way to
 * send forged deliveries or read someone else's events, and webhook header values are write-only.
 */
describe('workspace subscriptions: authorization inside an organisation', () => {
  let t: TestApp;
  let producer: string;
  const sockets: Socket[] = [];
  const receivers: WebhookReceiver[] = [];
  let workspaces = 0;

  beforeAll(async () => {
    t = await startTestApp({ env: ENV });
    producer = await mintKey(t, { org: ORG, scopes: ['events:publish'] });
  });
  afterAll(async () => {
    for (const s of sockets) s.close();
    for (const r of receivers) await r.close();
    await t?.close();
  });

  async function keyWithId(body: Record<string, unknown>): Promise<{ key_id: string; token: string }> {
    const res = await request(t.url)
      .post('/api/v1/api-keys')
      .set('X-Api-Key', t.operatorToken)
      .send({ organisation_id: ORG, ...body });
    if (res.status !== 201) throw new Error(`key: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body;
  }

  /**
   * A fresh workspace with its own users, so no test's events reach another's subscriptions:
   * alice and bob are plain users (subscriptions:write, events:read), app sees the whole
   * organisation, bare is a member with no scopes.
   */
  async function team() {
    const ws = `ws_authz_${++workspaces}`;
    const ids = { alice: `${ws}_alice`, bob: `${ws}_bob`, watcher: `${ws}_watcher` };
    const writer = ['subscriptions:write', 'events:read'];
    const alice = await keyWithId({ kind: 'user', user_id: ids.alice, scopes: writer, workspace_ids: [ws] });
    return {
      ws,
      ids,
      alice: alice.token,
      aliceKey: alice.key_id,
      bob: await mintKey(t, { org: ORG, user: ids.bob, scopes: writer, workspaces: [ws] }),
      app: await mintKey(t, { org: ORG, kind: 'app', scopes: writer, workspaces: [ws] }),
      bare: await mintKey(t, { org: ORG, user: `${ws}_bare`, scopes: [], workspaces: [ws] }),
      /** A plain user with events:read only: over sockets it gets its own events and its workspace rooms. */
      watcher: await mintKey(t, { org: ORG, user: ids.watcher, scopes: ['events:read'], workspaces: [ws] }),
    };
  }

  async function receiver(): Promise<WebhookReceiver> {
    const r = await WebhookReceiver.start(RECEIVER_SECRET);
    receivers.push(r);
    return r;
  }

  /** A real socket.io-client in its workspace room and the named `rooms`. */
  function watch(token: string, ...rooms: string[]): Promise<Socket> {
    return new Promise((resolve, reject) => {
      const socket = io(t.url, {
        transports: ['websocket'],
        reconnection: false,
        forceNew: true,
        auth: { token, rooms },
      });
      sockets.push(socket);
      socket.once('connect', () => resolve(socket));
      socket.once('connect_error', reject);
    });
  }

  const save = (token: string, body: Record<string, unknown>, id?: string) =>
    request(t.url)
      .post(id ? `${V1}/${id}` : V1)
      .set('X-Api-Key', token)
      .send(body);
  const test = (token: string, body: Record<string, unknown>) =>
    request(t.url).post(`${V2}/test`).set('X-Api-Key', token).send(body);
  const emit = (spec: PublishSpec) =>
    publish(t.url, producer, spec).then((res) => res.body as { id: string; seq: number });
  const historyOf = async (token: string, id: string) =>
    (
      (await request(t.url).get(`${V2}/${id}/alerts/history`).query({ limit: 500 }).set('X-Api-Key', token)).body as {
        event_id: string;
      }[]
    ).map((e) => e.event_id);
  const ids = (seen: { payload: { id: string } }[]) => seen.map((m) => m.payload.id);
  const bodyIds = (r: WebhookReceiver) => r.requests.map((q) => JSON.parse(q.body).id as string);

  /**
   * Publishes `spec` until one arrives in `seen`: the live cache of this node has caught up with
   * the subscription that emits it. Returns the ids published meanwhile.
   */
  async function untilLive(seen: { payload: { id: string } }[], spec: PublishSpec): Promise<string[]> {
    const published: string[] = [];
    for (let i = 0; i < 50; i++) {
      published.push((await emit(spec)).id);
      try {
        await waitFor('a live match', () => ids(seen).some((id) => published.includes(id)), 200);
        return published;
      } catch {
        // not cached yet; try again
      }
    }
    throw new Error('the subscription never went live');
  }

  describe('1. a subscription delivers only what its owner may read', () => {
    it('a plain user’s subscription on users/* and claims/* gets its own events only, by webhook and by socket; an app’s gets everyone’s', async () => {
      const tm = await team();
      const [hooks, appHooks] = [await receiver(), await receiver()];
      const watcher = await watch(tm.watcher, 'desk');
      const seen = record(watcher, 'claim_approved');
      const body = (url: string) => ({
        rules: [{ trigger: 'claim_approved', conditions: {} }],
        resources: ['users/*', 'claims/*'],
        actions: [
          { type: 'webhook', url },
          { type: 'socket', room: 'desk' },
        ],
      });
      const mine = await save(tm.alice, body(hooks.url));
      expect(mine.status).toBe(201);
      expect(mine.body).toMatchObject({ state: 'on', issue: null });
      const orgWide = await save(tm.app, { ...body(appHooks.url), actions: [{ type: 'webhook', url: appHooks.url }] });
      expect(orgWide.status).toBe(201);

      const warmup = await untilLive(seen, { type: 'claim_approved', user_id: tm.ids.alice, claim_id: 'clm_a' });
      const bobs = await emit({
        type: 'claim_approved',
        user_id: tm.ids.bob,
        claim_id: 'clm_b',
        data: { private: 'bob' },
      });
      const nobodys = await emit({ type: 'claim_approved', claim_id: 'clm_n' });
      const sentinel = await emit({ type: 'claim_approved', user_id: tm.ids.alice, claim_id: 'clm_a' });

      await waitFor('the sentinel over the socket', () => ids(seen).includes(sentinel.id));
      expect(ids(seen)).not.toContain(bobs.id);
      expect(ids(seen)).not.toContain(nobodys.id);
      expect(ids(seen).every((id) => [...warmup, sentinel.id].includes(id))).toBe(true);

      await dispatchedThrough(t.url, sentinel.seq);
      await waitFor('the sentinel by webhook', () => bodyIds(hooks).includes(sentinel.id));
      expect(await historyOf(tm.alice, mine.body.id)).not.toContain(bobs.id);
      expect((await historyOf(tm.alice, mine.body.id)).sort()).toEqual([...warmup, sentinel.id].sort());
      expect(bodyIds(hooks)).not.toContain(bobs.id);
      expect(bodyIds(hooks)).not.toContain(nobodys.id);
      // The same events do reach an organisation-wide owner: the narrowing is the owner's, not the events'.
      await waitFor('bob’s and the user-less event for the app', () =>
        [bobs.id, nobodys.id].every((id) => bodyIds(appHooks).includes(id)),
      );
    });

    it('an owner without events:read gets nothing, by webhook or socket, and the view says why', async () => {
      const tm = await team();
      const hooks = await receiver();
      const writeOnly = await mintKey(t, {
        org: ORG,
        user: `${tm.ws}_writer`,
        scopes: ['subscriptions:write'],
        workspaces: [tm.ws],
      });
      const watcher = await watch(tm.watcher, 'desk-n');
      const seen = record(watcher, 'claim_approved', 'comment_added');
      const silent = await save(writeOnly, {
        rules: [{ trigger: 'claim_approved', conditions: {} }],
        resources: ['users/*', 'claims/*'],
        actions: [
          { type: 'webhook', url: hooks.url },
          { type: 'socket', room: 'desk-n' },
        ],
      });
      expect(silent.status).toBe(201);
      // The sentinel: an app's subscription into the same room, on another trigger.
      const sentinelSub = await save(tm.app, {
        rules: [{ trigger: 'comment_added', conditions: {} }],
        resources: ['claims/*'],
        actions: [{ type: 'socket', room: 'desk-n' }],
      });
      expect(sentinelSub.status).toBe(201);
      await untilLive(seen, { type: 'comment_added', claim_id: 'clm_warm' });

      const own = await emit({ type: 'claim_approved', user_id: `${tm.ws}_writer`, claim_id: 'clm_w' });
      const anyone = await emit({ type: 'claim_approved', claim_id: 'clm_x' });
      const sentinel = await emit({ type: 'comment_added', claim_id: 'clm_s' });
      await waitFor('the sentinel over the socket', () => ids(seen).includes(sentinel.id));
      expect(seen.filter((m) => m.event === 'claim_approved')).toEqual([]);
      expect(ids(seen)).not.toContain(own.id);
      await dispatchedThrough(t.url, sentinel.seq);
      expect(await historyOf(tm.app, silent.body.id)).toEqual([]);
      expect(hooks.requests).toEqual([]);
      expect(bodyIds(hooks)).not.toContain(anyone.id);
      expect(silent.body).toMatchObject({ state: 'blocked', issue: expect.stringContaining('events:read') });
      expect((await request(t.url).get(`${V1}/${silent.body.id}`).set('X-Api-Key', tm.bare)).body).toMatchObject({
        state: 'blocked',
        issue: expect.stringContaining('events:read'),
      });
    });

    it('revoking the owner’s API key stops its subscription, by webhook and by socket', async () => {
      const tm = await team();
      const hooks = await receiver();
      const watcher = await watch(tm.watcher, 'desk-r');
      const seen = record(watcher, 'claim_approved', 'comment_added');
      const sub = await save(tm.alice, {
        rules: [{ trigger: 'claim_approved', conditions: {} }],
        resources: [`users/${tm.ids.alice}`],
        actions: [
          { type: 'webhook', url: hooks.url },
          { type: 'socket', room: 'desk-r' },
        ],
      });
      expect(sub.status).toBe(201);
      await save(tm.app, {
        rules: [{ trigger: 'comment_added', conditions: {} }],
        resources: ['claims/*'],
        actions: [{ type: 'socket', room: 'desk-r' }],
      });
      const before = await untilLive(seen, { type: 'claim_approved', user_id: tm.ids.alice, claim_id: 'clm_r' });
      await untilLive(seen, { type: 'comment_added', claim_id: 'clm_warm' });
      await waitFor('a delivery before the revocation', () => bodyIds(hooks).some((id) => before.includes(id)));

      const revoked = await request(t.url).delete(`/api/v1/api-keys/${tm.aliceKey}`).set('X-Api-Key', t.operatorToken);
      expect(revoked.status).toBe(200);
      const after = await emit({ type: 'claim_approved', user_id: tm.ids.alice, claim_id: 'clm_r' });
      const sentinel = await emit({ type: 'comment_added', claim_id: 'clm_s' });
      await waitFor('the sentinel over the socket', () => ids(seen).includes(sentinel.id));
      expect(ids(seen)).not.toContain(after.id);
      await dispatchedThrough(t.url, sentinel.seq);
      expect(await historyOf(tm.app, sub.body.id)).not.toContain(after.id);
      expect(bodyIds(hooks)).not.toContain(after.id);
      const view = await request(t.url).get(`${V1}/${sub.body.id}`).set('X-Api-Key', tm.app);
      expect(view.body).toMatchObject({ state: 'blocked', issue: expect.stringContaining('revoked') });
    });

    it('the owner’s API key expiring stops its subscription, by webhook and by socket, with no message to hear', async () => {
      const tm = await team();
      const hooks = await receiver();
      const expiring = await keyWithId({
        kind: 'user',
        user_id: tm.ids.alice,
        scopes: ['subscriptions:write', 'events:read'],
        workspace_ids: [tm.ws],
        expires_at: new Date(Date.now() + 3000).toISOString(),
      });
      const watcher = await watch(tm.watcher, 'desk-x');
      const seen = record(watcher, 'claim_approved', 'comment_added');
      const sub = await save(expiring.token, {
        rules: [{ trigger: 'claim_approved', conditions: {} }],
        resources: [`users/${tm.ids.alice}`],
        actions: [
          { type: 'webhook', url: hooks.url },
          { type: 'socket', room: 'desk-x' },
        ],
      });
      expect(sub.status).toBe(201);
      await save(tm.app, {
        rules: [{ trigger: 'comment_added', conditions: {} }],
        resources: ['claims/*'],
        actions: [{ type: 'socket', room: 'desk-x' }],
      });
      const before = await untilLive(seen, { type: 'claim_approved', user_id: tm.ids.alice, claim_id: 'clm_x' });
      await waitFor('a delivery before the expiry', () => bodyIds(hooks).some((id) => before.includes(id)));

      await waitFor(
        'the key to expire',
        async () => (await request(t.url).get('/api/v1/events').set('X-Api-Key', expiring.token)).status === 401,
        10_000,
      );
      const after = await emit({ type: 'claim_approved', user_id: tm.ids.alice, claim_id: 'clm_x' });
      const sentinel = await emit({ type: 'comment_added', claim_id: 'clm_xs' });
      await waitFor('the sentinel over the socket', () => ids(seen).includes(sentinel.id));
      expect(ids(seen)).not.toContain(after.id);
      await dispatchedThrough(t.url, sentinel.seq);
      expect(bodyIds(hooks)).not.toContain(after.id);
      const view = await request(t.url).get(`${V1}/${sub.body.id}`).set('X-Api-Key', tm.app);
      expect(view.body).toMatchObject({ state: 'blocked', issue: expect.stringContaining('expired') });
    });

    it('a replace records the replacing credential as owner: an app’s subscription replaced by a plain user narrows to that user', async () => {
      const tm = await team();
      const hooks = await receiver();
      const before = await watch(tm.watcher, 'desk-p');
      const after = await watch(tm.watcher, 'desk-p2');
      const seenBefore = record(before, 'claim_approved');
      const seenAfter = record(after, 'claim_approved');
      const body = (room: string) => ({
        rules: [{ trigger: 'claim_approved', conditions: {} }],
        resources: ['users/*'],
        actions: [
          { type: 'webhook', url: hooks.url },
          { type: 'socket', room },
        ],
      });
      const sub = await save(tm.app, body('desk-p'));
      await untilLive(seenBefore, { type: 'claim_approved', user_id: tm.ids.bob, claim_id: 'clm_p' });

      const replaced = await save(tm.alice, body('desk-p2'), sub.body.id);
      expect(replaced.status).toBe(200);
      // Alice's own events reach the new room once this node has reloaded the subscription.
      await untilLive(seenAfter, { type: 'claim_approved', user_id: tm.ids.alice, claim_id: 'clm_p' });
      const bobs = await emit({ type: 'claim_approved', user_id: tm.ids.bob, claim_id: 'clm_p' });
      const sentinel = await emit({ type: 'claim_approved', user_id: tm.ids.alice, claim_id: 'clm_p' });
      await waitFor('the sentinel', () => ids(seenAfter).includes(sentinel.id));
      expect([...ids(seenBefore), ...ids(seenAfter)]).not.toContain(bobs.id);
      await dispatchedThrough(t.url, sentinel.seq);
      await waitFor('the sentinel by webhook', () => bodyIds(hooks).includes(sentinel.id));
      expect(bodyIds(hooks)).not.toContain(bobs.id);
      expect(await historyOf(tm.app, sub.body.id)).not.toContain(bobs.id);
    });
  });

  describe('2. the test endpoint', () => {
    const subscription = (url: string, room: string) => ({
      rules: [{ trigger: 'claim_approved', conditions: {} }],
      resources: ['users/*'],
      actions: [
        { type: 'webhook', url, headers: { authorization: 'Bearer partner-token-2', 'x-team': 'finance' } },
        { type: 'socket', room },
      ],
    });

    it('preview never signs with the subscription’s secret and never shows header values, for the owner or anyone else', async () => {
      const tm = await team();
      const hooks = await receiver();
      const sub = await save(tm.alice, subscription(hooks.url, 'desk-t'));
      const input = {
        type: 'claim_approved',
        user_id: tm.ids.alice,
        claim_id: 'clm_t',
        sequence: '424242',
        data: { amount: 1 },
      };
      for (const caller of [tm.alice, tm.bob, tm.app]) {
        const preview = await test(caller, { subscription: sub.body.id, mode: 'preview', input });
        expect(preview.status).toBe(200);
        expect(preview.body.matched).toBe(true);
        const [webhook, socket] = preview.body.actions;
        expect(() =>
          new Webhook(sub.body.signing_secret).verify(webhook.request.body, webhook.request.headers),
        ).toThrow();
        expect(webhook).toMatchObject({
          type: 'webhook',
          sent: false,
          signed_with: 'throwaway_secret',
          note: expect.stringContaining('throwaway'),
        });
        expect(webhook.request.headers).toMatchObject({ 'herald-test': 'true', authorization: MASK, 'x-team': MASK });
        expect(JSON.stringify(preview.body)).not.toContain('partner-token-2');
        expect(JSON.parse(webhook.request.body)).toMatchObject({ test: true, userid: tm.ids.alice });
        expect(JSON.parse(webhook.request.body).sequence).toBeUndefined();
        expect(socket.emit.payload).toMatchObject({ test: true });
        expect(socket.emit.payload.sequence).toBeUndefined();
      }
      expect(hooks.requests).toEqual([]);
    });

    it('send is refused to a workspace member who does not own the subscription; nothing reaches its webhook or room', async () => {
      const tm = await team();
      const hooks = await receiver();
      const watcher = await watch(tm.watcher, 'desk-t');
      const seen = record(watcher, 'claim_approved');
      const sub = await save(tm.alice, subscription(hooks.url, 'desk-t'));
      const forged = {
        type: 'claim_approved',
        user_id: tm.ids.bob,
        claim_id: 'clm_forged',
        sequence: '999',
        data: { amount: 1_000_000 },
      };
      const refused = await test(tm.bob, {
        subscription: sub.body.id,
        mode: 'send',
        input: { ...forged, user_id: tm.ids.alice },
      });
      expect(refused.status).toBe(403);
      expect(refused.body).toMatchObject({ statusCode: 403, error: 'Forbidden' });
      const bare = await test(tm.bare, { subscription: sub.body.id, mode: 'send', input: forged });
      expect(bare.status).toBe(403);
      // The send is synchronous: had it gone out, the receiver would already have it.
      expect(hooks.requests).toEqual([]);

      // Sentinel for the room: the owner's own send arrives, and it is the only message.
      const own = await test(tm.alice, {
        subscription: sub.body.id,
        mode: 'send',
        input: { type: 'claim_approved', user_id: tm.ids.alice, claim_id: 'clm_own' },
      });
      expect(own.status).toBe(200);
      await waitFor('the owner’s test message', () => seen.length >= 1);
      expect(seen.map((m) => m.payload.claimid)).toEqual(['clm_own']);
      expect(hooks.requests.map((r) => JSON.parse(r.body).claimid)).toEqual(['clm_own']);
    });

    it('the owner’s send is signed with the real secret and marked as a test, without a log sequence; an app may send too', async () => {
      const tm = await team();
      const hooks = await receiver();
      const watcher = await watch(tm.watcher, 'desk-s');
      const seen = record(watcher, 'claim_approved');
      const sub = await save(tm.alice, subscription(hooks.url, 'desk-s'));
      const input = {
        type: 'claim_approved',
        user_id: tm.ids.alice,
        claim_id: 'clm_s',
        sequence: '424242',
        data: { amount: 5 },
      };
      const sent = await test(tm.alice, { subscription: sub.body.id, mode: 'send', input });
      expect(sent.status).toBe(200);
      expect(hooks.requests).toHaveLength(1);
      const [received] = hooks.requests;
      const payload = new Webhook(sub.body.signing_secret).verify(
        received.body,
        received.headers as Record<string, string>,
      ) as Record<string, unknown>;
      expect(payload).toMatchObject({ test: true, type: 'claim_approved', claimid: 'clm_s', data: { amount: 5 } });
      expect(payload).not.toHaveProperty('sequence');
      expect(received.headers['herald-test']).toBe('true');
      expect(received.headers.authorization).toBe('Bearer partner-token-2');
      expect(sent.body.actions[0]).toMatchObject({
        type: 'webhook',
        sent: true,
        signed_with: 'subscription_secret',
        response: { status: 200 },
      });
      expect(JSON.stringify(sent.body)).not.toContain('partner-token-2');

      await waitFor('the test message over the socket', () => seen.length >= 1);
      expect(seen[0].payload).toMatchObject({ test: true, claimid: 'clm_s' });
      expect(seen[0].payload).not.toHaveProperty('sequence');

      const byApp = await test(tm.app, { subscription: sub.body.id, mode: 'send', input });
      expect(byApp.status).toBe(200);
      expect(hooks.requests).toHaveLength(2);
    });

    it('matching follows the owner’s read rule: a forged event about another user does not match a plain user’s subscription', async () => {
      const tm = await team();
      const hooks = await receiver();
      const sub = await save(tm.alice, subscription(hooks.url, 'desk-f'));
      const res = await test(tm.alice, {
        subscription: sub.body.id,
        mode: 'send',
        input: { type: 'claim_approved', user_id: tm.ids.bob, claim_id: 'clm_f' },
      });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ matched: false, actions: [] });
      expect(res.body.rules[0]).toMatchObject({
        trigger_matched: true,
        resources_matched: true,
        readable: false,
        matched: false,
      });
      expect(hooks.requests).toEqual([]);
    });

    it('a past match is replayed only for a caller that may read its event', async () => {
      const tm = await team();
      const hooks = await receiver();
      const sub = await save(tm.app, {
        rules: [{ trigger: 'claim_submitted', conditions: {} }],
        resources: ['users/*'],
        actions: [{ type: 'webhook', url: hooks.url }],
      });
      const event = await emit({
        type: 'claim_submitted',
        user_id: tm.ids.bob,
        claim_id: 'clm_m',
        data: { iban: 'NO93-bob-private' },
      });
      let match: { hash: string; index: number } | undefined;
      await waitFor('the match in the log', async () => {
        match = (await request(t.url).get(`${V2}/${sub.body.id}/alerts/history`).set('X-Api-Key', tm.alice)).body[0]
          ?.match;
        return Boolean(match);
      });
      const asAlice = await test(tm.alice, { subscription: sub.body.id, test: { match } });
      expect(asAlice.status).toBe(400);
      expect(asAlice.body.details).toEqual([
        { field: 'test.match.hash', message: `no past match ${match!.hash} for this subscription` },
      ]);
      expect(JSON.stringify(asAlice.body)).not.toContain('NO93-bob-private');
      for (const reader of [tm.bob, tm.app]) {
        const replay = await test(reader, { subscription: sub.body.id, test: { match } });
        expect(replay.status).toBe(200);
        expect(replay.body.input).toMatchObject({ id: event.id, data: { iban: 'NO93-bob-private' } });
      }
    });
  });

  describe('3. webhook header values are write-only', () => {
    it('views mask header values for every member; a replace that sends the mask back keeps the stored value', async () => {
      const tm = await team();
      const hooks = await receiver();
      const body = (headers: Record<string, string>, url = hooks.url) => ({
        rules: [{ trigger: 'claim_rejected', conditions: {} }],
        resources: ['claims/clm_h'],
        actions: [{ type: 'webhook', url, headers }],
      });
      const created = await save(tm.app, body({ authorization: 'Bearer partner-token-3', 'x-team': 'finance' }));
      expect(created.status).toBe(201);
      expect(created.body.actions[0].headers).toEqual({ authorization: MASK, 'x-team': MASK });
      for (const member of [tm.bare, tm.alice, tm.app]) {
        const one = await request(t.url).get(`${V1}/${created.body.id}`).set('X-Api-Key', member);
        const all = await request(t.url).get(V1).set('X-Api-Key', member);
        expect(one.status).toBe(200);
        expect(one.body.actions[0]).toEqual({
          type: 'webhook',
          url: hooks.url,
          headers: { authorization: MASK, 'x-team': MASK },
        });
        expect(all.body.find((s: { id: string }) => s.id === created.body.id).actions[0].headers).toEqual({
          authorization: MASK,
          'x-team': MASK,
        });
        expect(JSON.stringify([one.body, all.body])).not.toContain('partner-token-3');
      }

      const kept = await save(tm.app, body({ authorization: MASK, 'x-team': 'ops' }), created.body.id);
      expect(kept.status).toBe(200);
      expect(kept.body.actions[0].headers).toEqual({ authorization: MASK, 'x-team': MASK });
      const event = await emit({ type: 'claim_rejected', claim_id: 'clm_h' });
      await waitFor('the delivery', () => bodyIds(hooks).includes(event.id));
      const [delivered] = hooks.requests;
      expect(delivered.headers.authorization).toBe('Bearer partner-token-3');
      expect(delivered.headers['x-team']).toBe('ops');
      expect(
        new Webhook(created.body.signing_secret).verify(delivered.body, delivered.headers as Record<string, string>),
      ).toMatchObject({ id: event.id });
    });

    it('the mask cannot carry a stored value to another url, nor stand in where nothing is stored', async () => {
      const tm = await team();
      const hooks = await receiver();
      const elsewhere = await receiver();
      const body = (headers: Record<string, string>, url: string) => ({
        rules: [{ trigger: 'claim_rejected', conditions: {} }],
        resources: ['claims/clm_u'],
        actions: [{ type: 'webhook', url, headers }],
      });
      const created = await save(tm.app, body({ authorization: 'Bearer partner-token-4' }, hooks.url));
      const moved = await save(tm.alice, body({ authorization: MASK }, elsewhere.url), created.body.id);
      expect(moved.status).toBe(400);
      expect(moved.body.details.map((d: { field: string }) => d.field)).toEqual(['actions[0].headers.authorization']);
      const unknown = await save(tm.app, body({ 'x-other': MASK }, hooks.url), created.body.id);
      expect(unknown.status).toBe(400);
      const fresh = await save(tm.app, body({ authorization: MASK }, hooks.url));
      expect(fresh.status).toBe(400);
      const reserved = await save(tm.app, body({ 'Herald-Test': 'false' }, hooks.url));
      expect(reserved.status).toBe(400);
    });
  });
});

describe('workspace subscriptions saved before owners were recorded', () => {
  it('deliver nothing after the migration, show why, and deliver again once saved again', async () => {
    const database = createTestDatabase();
    let t = await startTestApp({ database, env: ENV });
    const operator = t.operatorToken;
    const hooks = await WebhookReceiver.start(RECEIVER_SECRET);
    let socket: Socket | undefined;
    try {
      const producer = await mintKey(t, { org: ORG, scopes: ['events:publish'] });
      const app = await mintKey(t, {
        org: ORG,
        kind: 'app',
        scopes: ['subscriptions:write', 'events:read'],
        workspaces: ['ws_legacy'],
      });
      const watcher = await mintKey(t, {
        org: ORG,
        user: 'usr_legacy_watcher',
        scopes: ['events:read'],
        workspaces: ['ws_legacy'],
      });
      const body = {
        rules: [{ trigger: 'claim_approved', conditions: {} }],
        resources: ['claims/*'],
        actions: [
          { type: 'webhook', url: hooks.url },
          { type: 'socket', room: 'legacy' },
        ],
      };
      const legacy = await request(t.url).post(V1).set('X-Api-Key', app).send(body);
      expect(legacy.status).toBe(201);

      // What an install upgraded to this version holds: the owner columns added to rows that existed.
      const runner = t.app.get(DataSource).createQueryRunner();
      try {
        const migration = new WorkspaceSubscriptionOwners1763900800000();
        await migration.down(runner);
        await migration.up(runner);
      } finally {
        await runner.release();
      }
      await t.close();
      t = await startTestApp({ database, env: { ...ENV, HERALD_BOOTSTRAP_KEY: operator } });

      // Made after the upgrade, so it has an owner: the sentinel for the room.
      const sentinelSub = await request(t.url)
        .post(V1)
        .set('X-Api-Key', app)
        .send({
          rules: [{ trigger: 'comment_added', conditions: {} }],
          resources: ['claims/*'],
          actions: [{ type: 'socket', room: 'legacy' }],
        });
      expect(sentinelSub.status).toBe(201);

      socket = await new Promise<Socket>((resolve, reject) => {
        const s = io(t.url, {
          transports: ['websocket'],
          reconnection: false,
          forceNew: true,
          auth: { token: watcher, rooms: ['legacy'] },
        });
        s.once('connect', () => resolve(s));
        s.once('connect_error', reject);
      });
      const seen = record(socket, 'claim_approved', 'comment_added');
      const publishOne = async (spec: PublishSpec) =>
        (await publish(t.url, producer, spec)).body as { id: string; seq: number };
      // The sentinel subscription is live on this node: a save answers once the node emits by it.
      const silenced = await publishOne({ type: 'claim_approved', claim_id: 'clm_l' });
      const sentinel = await publishOne({ type: 'comment_added', claim_id: 'clm_l' });
      await waitFor('the sentinel', () => seen.some((m) => m.payload.id === sentinel.id));
      expect(seen.filter((m) => m.event === 'claim_approved')).toEqual([]);
      // Past the sentinel, every webhook owed for `silenced` would have its log entry.
      await dispatchedThrough(t.url, sentinel.seq);
      expect((await request(t.url).get(`${V2}/${legacy.body.id}/alerts/history`).set('X-Api-Key', app)).body).toEqual(
        [],
      );
      expect(hooks.requests).toEqual([]);
      expect(seen.map((m) => m.payload.id)).not.toContain(silenced.id);
      const view = await request(t.url).get(`${V1}/${legacy.body.id}`).set('X-Api-Key', app);
      expect(view.body).toMatchObject({ state: 'blocked', issue: expect.stringContaining('saves it again') });

      // Saving it again records the credential as owner: it delivers again.
      const resaved = await request(t.url).post(`${V1}/${legacy.body.id}`).set('X-Api-Key', app).send(body);
      expect(resaved.body).toMatchObject({ state: 'on', issue: null });
      const again = await publishOne({ type: 'claim_approved', claim_id: 'clm_l' });
      await waitFor('a delivery after the re-save', () =>
        hooks.requests.some((r) => JSON.parse(r.body).id === again.id),
      );
    } finally {
      socket?.close();
      await hooks.close();
      await t.close();
      await database.drop();
    }
  });
});
