import request from 'supertest';
import { Webhook } from 'standardwebhooks';
import { mintKey } from '../support/credentials';
import { dispatchedThrough, publish } from '../support/events';
import { connectSocket, record, waitFor } from '../support/sockets';
import { Database } from '../../src/core/database/database.service';
import { SubscriptionStore } from '../../src/workspace-subscriptions/subscription.store';
import { startTestApp, TestApp } from '../support/test-app';
import { WebhookReceiver } from '../support/webhook-receiver';

const V1 = '/api/v1/subscriptions';
const V2 = '/api/v2/subscriptions';

describe('seed 003: workspace subscriptions', () => {
  let t: TestApp;
  let receiver: WebhookReceiver;
  let producer: string;
  let finance: string;
  let otherWorkspace: string;

  beforeAll(async () => {
    t = await startTestApp({
      env: {
        WEBHOOK_ALLOW_PRIVATE: 'true',
        DISPATCH_POLL_INTERVAL: '50ms',
        WEBHOOK_POLL_INTERVAL: '50ms',
        WEBHOOK_RETRY_SCHEDULE: '200ms',
      },
    });
    receiver = await WebhookReceiver.start('whsec_' + Buffer.from('unused-secret-unused-secret').toString('base64'));
    producer = await mintKey(t, { org: 'org_001', scopes: ['events:publish'] });
    finance = await mintKey(t, {
      org: 'org_001',
      scopes: ['subscriptions:write', 'events:read'],
      workspaces: ['ws_finance', 'ws_ops'],
    });
    otherWorkspace = await mintKey(t, { org: 'org_001', scopes: ['subscriptions:write'], workspaces: ['ws_other'] });
  });
  afterAll(async () => {
    await t?.close();
    await receiver?.close();
  });

  const create = (body: Record<string, unknown>, token = finance, workspace?: string) => {
    const req = request(t.url).post(V1).set('X-Api-Key', token);
    if (workspace) req.set('X-Workspace-Id', workspace);
    return req.send(body);
  };

  describe('payload shapes and validation', () => {
    it('accepts the direct shape and returns a SubscriptionView with the secret once', async () => {
      const res = await create({
        template: null,
        rules: [{ trigger: 'claim_approved', conditions: { 'data.amount': { $gte: 1000 } } }],
        resources: ['organisations/org_001', 'claims/*'],
        actions: [{ type: 'webhook', url: receiver.url, headers: { 'x-team': 'finance' } }, { type: 'socket' }],
        meta: { title: 'Large approvals' },
        state: 'on',
      });
      expect(res.status).toBe(201);
      expect(res.body).toMatchObject({
        id: expect.stringMatching(/^wsub_[0-9a-z]{26}$/),
        workspace_id: 'ws_finance',
        template: null,
        rules: [{ trigger: 'claim_approved', conditions: { 'data.amount': { $gte: 1000 } } }],
        resources: ['organisations/org_001', 'claims/*'],
        meta: { title: 'Large approvals' },
        state: 'on',
        issue: null,
        signing_secret: expect.stringMatching(/^whsec_/),
      });
      const got = await request(t.url).get(`${V1}/${res.body.id}`).set('X-Api-Key', finance);
      expect(got.body.signing_secret).toBeUndefined();
      expect(got.body.id).toBe(res.body.id);
    });

    it('accepts the template shape, expanding topics into rules', async () => {
      const res = await create({
        template: {
          id: 'large-claims',
          inputs: { min_amount: 5000, currency: 'NOK' },
          topics: ['submitted', 'approved'],
        },
        resources: ['claims/*'],
      });
      expect(res.status).toBe(201);
      expect(res.body.rules).toEqual([
        { trigger: 'claim_submitted', conditions: { 'data.amount': { $gte: 5000 }, 'data.currency': 'NOK' } },
        { trigger: 'claim_approved', conditions: { 'data.amount': { $gte: 5000 }, 'data.currency': 'NOK' } },
      ]);
      expect(res.body.template).toEqual({
        id: 'large-claims',
        inputs: { min_amount: 5000, currency: 'NOK' },
        topics: ['submitted', 'approved'],
      });
      const templates = await request(t.url).get('/api/v1/subscription-templates').set('X-Api-Key', finance);
      expect(templates.body.map((x: { id: string }) => x.id)).toEqual([
        'large-claims',
        'rejections',
        'channel-follows',
      ]);
    });

    it.each([
      [{ resources: ['claims/*'] }, 'rules'],
      [{ rules: [{ trigger: 'claim_approved', conditions: {} }] }, 'resources'],
      [{ rules: [{ conditions: {} }], resources: ['claims/*'] }, 'rules[0].trigger'],
      [{ rules: [{ trigger: 'claim_approved' }], resources: ['claims/*'] }, 'rules[0].conditions'],
      [{ template: { id: 'large-claims', topics: ['approved'] }, resources: ['claims/*'] }, 'template.inputs'],
      [{ rules: [{ trigger: 'claim_approved', conditions: {} }], resources: [] }, 'resources'],
    ])('a missing required field → 400 naming it (%j)', async (body, field) => {
      const res = await create(body);
      expect(res.status).toBe(400);
      expect(res.body.details.map((d: { field: string }) => d.field)).toContain(field);
    });

    it('400 for a trigger not in the catalog, a bad operator (with its path), a bad resource, broken template inputs', async () => {
      const trigger = await create({ rules: [{ trigger: 'claim_exploded', conditions: {} }], resources: ['claims/*'] });
      expect(trigger.status).toBe(400);
      expect(trigger.body.details[0]).toMatchObject({
        field: 'rules[0].trigger',
        message: expect.stringContaining('unknown trigger claim_exploded'),
      });
      const operator = await create({
        rules: [{ trigger: 'claim_approved', conditions: { 'data.amount': { $gtx: 5 } } }],
        resources: ['claims/*'],
      });
      expect(operator.status).toBe(400);
      expect(operator.body.details[0].field).toBe('rules[0].conditions.data.amount.$gtx');
      const resource = await create({
        rules: [{ trigger: 'claim_approved', conditions: {} }],
        resources: ['invoices/1', 'organisations/org_999'],
      });
      expect(resource.body.details.map((d: { field: string }) => d.field)).toEqual(['resources[0]', 'resources[1]']);
      const inputs = await create({
        template: { id: 'large-claims', inputs: { min_amount: 'lots' }, topics: ['approved'] },
        resources: ['claims/*'],
      });
      expect(inputs.status).toBe(400);
      expect(inputs.body.details[0]).toEqual({
        field: 'template.inputs.min_amount',
        message: 'template.inputs.min_amount must be number',
      });
    });
  });

  describe('matching and delivery', () => {
    it('conditions over data fields, wildcard and exact resources: only matching events are delivered, signed', async () => {
      const sub = await create({
        rules: [{ trigger: 'claim_approved', conditions: { 'data.amount': { $gte: 1000 } } }],
        resources: ['claims/clm_big', 'users/*'],
        actions: [{ type: 'webhook', url: receiver.url }],
      });
      const verifier = new Webhook(sub.body.signing_secret);
      const before = receiver.requests.length;
      const hit = await publish(t.url, producer, {
        type: 'claim_approved',
        claim_id: 'clm_big',
        data: { amount: 1500 },
      });
      await publish(t.url, producer, { type: 'claim_approved', claim_id: 'clm_big', data: { amount: 10 } });
      await publish(t.url, producer, { type: 'claim_rejected', claim_id: 'clm_big', data: { amount: 5000 } });
      await publish(t.url, producer, { type: 'claim_approved', claim_id: 'clm_small', data: { amount: 5000 } });
      const viaUser = await publish(t.url, producer, {
        type: 'claim_approved',
        claim_id: 'clm_small',
        user_id: 'usr_1',
        data: { amount: 5000 },
      });
      const mine = () =>
        receiver.requests.slice(before).filter((r) => {
          try {
            verifier.verify(r.body, r.headers as Record<string, string>);
            return true;
          } catch {
            return false;
          }
        });
      await waitFor('two deliveries', () => mine().length >= 2);
      expect(mine().map((r) => JSON.parse(r.body).id)).toEqual([hit.body.id, viaUser.body.id]);
      // No other event is owed either: the dispatcher writes a log entry per match in seq order, so
      // once the last published event (a match) is delivered, the log below lists every match.

      const logged = () => request(t.url).get(`${V2}/${sub.body.id}/alerts/history`).set('X-Api-Key', finance);
      await waitFor(
        'both deliveries logged as delivered',
        async () =>
          ((await logged()).body as { status: string }[]).filter((e) => e.status === 'delivered').length === 2,
      );
      const history = await logged();
      expect(history.status).toBe(200);
      expect(history.body).toHaveLength(2);
      expect(history.body[0]).toMatchObject({
        subscription_id: sub.body.id,
        event_id: viaUser.body.id,
        rule_index: 0,
        action: 'webhook',
        status: 'delivered',
        attempts: 1,
        response_status: 200,
      });
      expect(history.body[0].match).toEqual({ hash: expect.stringMatching(/^[0-9a-f]{16}$/), index: 0 });
    });

    it('socket actions emit into the workspace room', async () => {
      // A user of the workspace: it gets no organisation-wide events, only its workspace room.
      const opsUser = await mintKey(t, {
        org: 'org_001',
        user: 'usr_ops',
        scopes: ['events:read'],
        workspaces: ['ws_ops'],
      });
      const socket = await connectSocket(t.url, opsUser);
      const seen = record(socket, 'comment_added');
      await create(
        {
          rules: [{ trigger: 'comment_added', conditions: { 'data.urgent': true } }],
          resources: ['claims/*'],
          actions: [{ type: 'socket' }],
        },
        finance,
        'ws_ops',
      );
      // The save answers once this node emits by it: no wait before publishing.
      await publish(t.url, producer, { type: 'comment_added', claim_id: 'clm_s', data: { urgent: false } });
      const urgent = await publish(t.url, producer, {
        type: 'comment_added',
        claim_id: 'clm_s',
        data: { urgent: true },
      });
      // Sentinel through the user's own room, published last: whatever else was owed arrives before it.
      const sentinel = await publish(t.url, producer, { type: 'comment_added', user_id: 'usr_ops' });
      await waitFor('the sentinel', () => seen.some((m) => m.payload.id === sentinel.body.id));
      expect(seen.map((m) => m.payload.id)).toEqual([urgent.body.id, sentinel.body.id]);
      socket.close();
    });

    it('a socket action sends nothing while its subscription is off or blocked, and the event once it is on', async () => {
      const deskUser = await mintKey(t, {
        org: 'org_001',
        user: 'usr_desk',
        scopes: ['events:read'],
        workspaces: ['ws_ops'],
      });
      const socket = await connectSocket(t.url, deskUser);
      const seen = record(socket, 'comment_added');
      const sub = await create(
        {
          rules: [{ trigger: 'comment_added', conditions: {} }],
          resources: ['claims/clm_socket_state'],
          actions: [{ type: 'socket' }],
          state: 'off',
        },
        finance,
        'ws_ops',
      );
      expect(sub.body.state).toBe('off');
      const setState = (state: string) =>
        request(t.url)
          .post(`${V1}/${sub.body.id}/state`)
          .set('X-Api-Key', finance)
          .set('X-Workspace-Id', 'ws_ops')
          .send({ state });
      /** Publishes a matching event, then a sentinel to the user's own room; resolves once the sentinel is in. */
      const matchThenSentinel = async () => {
        const match = await publish(t.url, producer, { type: 'comment_added', claim_id: 'clm_socket_state' });
        const sentinel = await publish(t.url, producer, { type: 'comment_added', user_id: 'usr_desk' });
        await waitFor('the sentinel', () => seen.some((m) => m.payload.id === sentinel.body.id));
        return { match: match.body.id as string, sentinel: sentinel.body.id as string };
      };

      const whileOff = await matchThenSentinel();
      expect((await setState('blocked')).body.state).toBe('blocked');
      const whileBlocked = await matchThenSentinel();
      expect((await setState('on')).body.state).toBe('on');
      const whileOn = await matchThenSentinel();
      expect(seen.map((m) => m.payload.id)).toEqual([
        whileOff.sentinel,
        whileBlocked.sentinel,
        whileOn.match,
        whileOn.sentinel,
      ]);
      socket.close();
    });

    it('state off is not evaluated; blocked is logged blocked; on resumes', async () => {
      const sub = await create({
        rules: [{ trigger: 'status_changed', conditions: {} }],
        resources: ['claims/clm_state'],
        actions: [{ type: 'webhook', url: receiver.url }],
      });
      const id = sub.body.id;
      const off = await request(t.url).post(`${V1}/${id}/state`).set('X-Api-Key', finance).send({ state: 'off' });
      expect(off.body.state).toBe('off');
      const whileOff = await publish(t.url, producer, { type: 'status_changed', claim_id: 'clm_state' });
      // State is read when the durable path handles the event, so let it pass while still off.
      await dispatchedThrough(t.url, whileOff.body.seq);
      const blocked = await request(t.url)
        .post(`${V1}/${id}/state`)
        .set('X-Api-Key', finance)
        .send({ state: 'blocked', issue: 'paused by finance' });
      expect(blocked.body).toMatchObject({ state: 'blocked', issue: 'paused by finance' });
      const whileBlocked = await publish(t.url, producer, { type: 'status_changed', claim_id: 'clm_state' });
      await waitFor(
        'a blocked log entry',
        async () =>
          (await request(t.url).get(`${V2}/${id}/alerts/history?status=blocked`).set('X-Api-Key', finance)).body
            .length === 1,
      );
      const on = await request(t.url).post(`${V1}/${id}/state`).set('X-Api-Key', finance).send({ state: 'on' });
      expect(on.body).toMatchObject({ state: 'on', issue: null });
      const afterOn = await publish(t.url, producer, { type: 'status_changed', claim_id: 'clm_state' });
      await waitFor(
        'a delivered entry',
        async () =>
          (await request(t.url).get(`${V2}/${id}/alerts/history?status=delivered`).set('X-Api-Key', finance)).body
            .length === 1,
      );
      const all = await request(t.url).get(`${V2}/${id}/alerts/history`).set('X-Api-Key', finance);
      expect(all.body.map((e: { event_id: string; status: string }) => [e.event_id, e.status])).toEqual([
        [afterOn.body.id, 'delivered'],
        [whileBlocked.body.id, 'blocked'],
      ]);
    });
  });

  describe('replace', () => {
    const body = (claim: string, url: string, state: 'on' | 'off') => ({
      rules: [{ trigger: 'claim_rejected', conditions: {} }],
      resources: [`claims/${claim}`],
      actions: [{ type: 'webhook', url }],
      state,
    });

    it('a replace that turns the subscription on turns its webhook on: the next match is delivered', async () => {
      const hooks = await WebhookReceiver.start(
        'whsec_' + Buffer.from('replace-on-secret-replace-on').toString('base64'),
      );
      try {
        const sub = await create(body('clm_replace_on', hooks.url, 'off'));
        expect(sub.status).toBe(201);
        const replaced = await request(t.url)
          .post(`${V1}/${sub.body.id}`)
          .set('X-Api-Key', finance)
          .send(body('clm_replace_on', hooks.url, 'on'));
        expect(replaced.status).toBe(200);
        expect(replaced.body).toMatchObject({ id: sub.body.id, state: 'on', issue: null });
        expect(replaced.body.signing_secret).toBeUndefined();

        const hit = await publish(t.url, producer, { type: 'claim_rejected', claim_id: 'clm_replace_on' });
        await waitFor('the delivery after the replace', () => hooks.requests.length >= 1);
        const verifier = new Webhook(sub.body.signing_secret);
        const payload = verifier.verify(
          hooks.requests[0].body,
          hooks.requests[0].headers as Record<string, string>,
        ) as { id: string };
        expect(payload.id).toBe(hit.body.id);
        // Received is not yet recorded: wait for the log to say delivered.
        const entries = async () =>
          (
            (await request(t.url).get(`${V2}/${sub.body.id}/alerts/history`).set('X-Api-Key', finance)).body as {
              event_id: string;
              status: string;
            }[]
          ).map((e) => [e.event_id, e.status]);
        await waitFor('the delivery to be logged', async () =>
          (await entries()).some(([, status]) => status === 'delivered'),
        );
        expect(await entries()).toEqual([[hit.body.id, 'delivered']]);
      } finally {
        await hooks.close();
      }
    });

    it('a replace that turns the subscription off turns its webhook off: an owed retry is cancelled, not sent', async () => {
      const hooks = await WebhookReceiver.start(
        'whsec_' + Buffer.from('replace-off-secret-replace-off').toString('base64'),
      );
      try {
        // The first attempt fails and asks for its retry two seconds later.
        hooks.reply({ status: 503, headers: { 'retry-after': '2' } });
        const sub = await create(body('clm_replace_off', hooks.url, 'on'));
        const owed = await publish(t.url, producer, { type: 'claim_rejected', claim_id: 'clm_replace_off' });
        const entries = async () =>
          (await request(t.url).get(`${V2}/${sub.body.id}/alerts/history`).set('X-Api-Key', finance)).body as {
            event_id: string;
            status: string;
            attempts: number;
          }[];
        await waitFor('the failed first attempt', async () =>
          (await entries()).some((e) => e.attempts === 1 && e.status === 'pending'),
        );

        const replaced = await request(t.url)
          .post(`${V1}/${sub.body.id}`)
          .set('X-Api-Key', finance)
          .send(body('clm_replace_off', hooks.url, 'off'));
        expect(replaced.status).toBe(200);
        expect(replaced.body.state).toBe('off');
        await waitFor(
          'the owed retry cancelled',
          async () => (await entries()).some((e) => e.status === 'cancelled'),
          5000,
        );
        expect((await entries()).map((e) => [e.event_id, e.status, e.attempts])).toEqual([
          [owed.body.id, 'cancelled', 1],
        ]);
        expect(hooks.requests).toHaveLength(1);
      } finally {
        await hooks.close();
      }
    });
  });

  describe('test endpoint', () => {
    it('preview sends nothing and explains each rule; send sends exactly one signed request', async () => {
      const sub = await create({
        rules: [
          { trigger: 'claim_approved', conditions: { 'data.amount': { $gte: 1000 }, 'data.currency': 'NOK' } },
          { trigger: 'claim_rejected', conditions: {} },
        ],
        resources: ['claims/*'],
        actions: [{ type: 'webhook', url: receiver.url }],
      });
      const before = receiver.requests.length;
      const preview = await request(t.url)
        .post(`${V2}/test`)
        .set('X-Api-Key', finance)
        .send({
          subscription: sub.body.id,
          mode: 'preview',
          input: { type: 'claim_approved', claim_id: 'clm_t', data: { amount: 500, currency: 'NOK' } },
        });
      expect(preview.status).toBe(200);
      expect(preview.body.matched).toBe(false);
      expect(preview.body.rules[0]).toEqual({
        index: 0,
        trigger: 'claim_approved',
        matched: false,
        trigger_matched: true,
        resources_matched: true,
        readable: true,
        failed_conditions: [{ path: 'data.amount', expected: { $gte: 1000 }, actual: 500 }],
      });
      expect(preview.body.rules[1]).toMatchObject({ index: 1, matched: false, trigger_matched: false });

      const matching = await request(t.url)
        .post(`${V2}/test`)
        .set('X-Api-Key', finance)
        .send({
          subscription: sub.body.id,
          ruleIndex: 0,
          input: { type: 'claim_approved', claim_id: 'clm_t', data: { amount: 2500, currency: 'NOK' } },
        });
      expect(matching.body.matched).toBe(true);
      expect(matching.body.rules).toHaveLength(1);
      expect(matching.body.actions[0]).toMatchObject({
        type: 'webhook',
        sent: false,
        signed_with: 'throwaway_secret',
        request: { url: receiver.url, method: 'POST' },
      });
      // A preview is never signed with the subscription's secret: it would be a signing oracle.
      expect(() =>
        new Webhook(sub.body.signing_secret).verify(
          matching.body.actions[0].request.body,
          matching.body.actions[0].request.headers,
        ),
      ).toThrow();

      const sent = await request(t.url)
        .post(`${V2}/test`)
        .set('X-Api-Key', finance)
        .send({
          subscription: sub.body.id,
          mode: 'send',
          test: {
            source: [
              { type: 'claim_rejected', claim_id: 'a' },
              { type: 'claim_rejected', claim_id: 'b' },
            ],
            itemIndex: 1,
          },
        });
      expect(sent.body.actions[0]).toMatchObject({
        sent: true,
        signed_with: 'subscription_secret',
        response: { status: 200 },
      });
      // The send is the sentinel: the preview before it reached the receiver neither.
      expect(receiver.requests.length).toBe(before + 1);
      const received = receiver.requests[before];
      expect(
        JSON.parse(
          new Webhook(sub.body.signing_secret).verify(received.body, received.headers as Record<string, string>)
            ? received.body
            : '{}',
        ).claimid,
      ).toBe('b');
      expect((await request(t.url).get(`${V2}/${sub.body.id}/alerts/history`).set('X-Api-Key', finance)).body).toEqual(
        [],
      );
    });

    it('tests a draft, and replays a past match by its hash', async () => {
      const draft = await request(t.url)
        .post(`${V2}/test`)
        .set('X-Api-Key', finance)
        .send({
          draft: {
            rules: [{ trigger: 'comment_added', conditions: { 'data.text': { $regex: 'receipt' } } }],
            resources: ['claims/*'],
            actions: [{ type: 'socket', room: 'desk' }],
          },
          input: { type: 'comment_added', claim_id: 'c', data: { text: 'missing receipt' } },
        });
      expect(draft.status).toBe(200);
      expect(draft.body).toMatchObject({
        subscription_id: null,
        matched: true,
        actions: [
          { type: 'socket', emit: { room: 'ws:org_001:ws_finance:room:desk', event: 'comment_added' }, sent: false },
        ],
      });

      const sub = await create({
        rules: [{ trigger: 'claim_submitted', conditions: {} }],
        resources: ['claims/clm_replay'],
        actions: [{ type: 'webhook', url: receiver.url }],
      });
      const event = await publish(t.url, producer, {
        type: 'claim_submitted',
        claim_id: 'clm_replay',
        data: { amount: 7 },
      });
      let entry: { match: { hash: string; index: number } } | undefined;
      await waitFor('a log entry', async () => {
        entry = (await request(t.url).get(`${V2}/${sub.body.id}/alerts/history`).set('X-Api-Key', finance)).body[0];
        return Boolean(entry);
      });
      const replay = await request(t.url)
        .post(`${V2}/test`)
        .set('X-Api-Key', finance)
        .send({ subscription: sub.body.id, test: { match: entry!.match } });
      expect(replay.status).toBe(200);
      expect(replay.body.input).toMatchObject({ id: event.body.id, data: { amount: 7 } });
      expect(replay.body.matched).toBe(true);
    });
  });

  describe('tenancy', () => {
    it('another workspace’s subscriptions and history are invisible', async () => {
      const mine = await create({ rules: [{ trigger: 'claim_approved', conditions: {} }], resources: ['claims/*'] });
      expect((await request(t.url).get(`${V1}/${mine.body.id}`).set('X-Api-Key', otherWorkspace)).status).toBe(404);
      expect(
        (await request(t.url).get(`${V1}/${mine.body.id}`).set('X-Api-Key', finance).set('X-Workspace-Id', 'ws_ops'))
          .status,
      ).toBe(404);
      expect((await request(t.url).delete(`${V1}/${mine.body.id}`).set('X-Api-Key', otherWorkspace)).status).toBe(404);
      expect(
        (await request(t.url).get(`${V2}/${mine.body.id}/alerts/history`).set('X-Api-Key', otherWorkspace)).status,
      ).toBe(404);
      expect((await request(t.url).get(`${V2}/alerts/history`).set('X-Api-Key', otherWorkspace)).body).toEqual([]);
      expect((await request(t.url).get(V1).set('X-Api-Key', otherWorkspace)).body).toEqual([]);
      expect((await request(t.url).get(V1).set('X-Api-Key', finance).set('X-Workspace-Id', 'ws_other')).status).toBe(
        403,
      );
    });

    it('delete answers an OperationResult', async () => {
      const sub = await create({ rules: [{ trigger: 'claim_approved', conditions: {} }], resources: ['claims/*'] });
      const del = await request(t.url).delete(`${V1}/${sub.body.id}`).set('X-Api-Key', finance);
      expect(del.body).toEqual({ success: true, id: sub.body.id });
      expect((await request(t.url).get(`${V1}/${sub.body.id}`).set('X-Api-Key', finance)).status).toBe(404);
    });

    it('pages 1,200 entries written in bursts in both directions: every entry exactly once', async () => {
      const sub = await create({
        rules: [{ trigger: 'status_changed', conditions: {} }],
        resources: ['claims/clm_history'],
        actions: [{ type: 'webhook', url: receiver.url }],
      });
      // Blocked: every match is logged, nothing is sent, so the log fills fast.
      await request(t.url)
        .post(`${V1}/${sub.body.id}/state`)
        .set('X-Api-Key', finance)
        .send({ state: 'blocked', issue: 'history test' });
      let last = 0;
      for (let b = 0; b < 3; b++) {
        const res = await request(t.url)
          .post('/api/v1/events/batch')
          .set('X-Api-Key', producer)
          .send({
            events: Array.from({ length: 400 }, (_, i) => ({
              type: 'status_changed',
              claim_id: 'clm_history',
              data: { b, i },
            })),
          });
        last = res.body.events[399].seq;
      }
      await dispatchedThrough(t.url, last, 30_000);
      const path = `${V2}/${sub.body.id}/alerts/history`;
      const walk = async (direction: 'before' | 'after') => {
        const ids: string[] = [];
        let datetime: string | undefined = direction === 'after' ? '1970-01-01T00:00:00.000Z' : undefined;
        for (let page = 0; page < 100; page++) {
          const res = await request(t.url)
            .get(path)
            .query({ limit: 50, direction, ...(datetime ? { datetime } : {}) })
            .set('X-Api-Key', finance);
          expect(res.status).toBe(200);
          if (!res.body.length) break;
          ids.push(...res.body.map((e: { id: string }) => e.id));
          datetime = res.body[res.body.length - 1].created_at;
        }
        return ids;
      };
      const newestFirst = await walk('before');
      const oldestFirst = await walk('after');
      expect(newestFirst).toHaveLength(1200);
      expect(new Set(newestFirst).size).toBe(1200);
      expect(new Set(oldestFirst)).toEqual(new Set(newestFirst));
      expect(oldestFirst).toHaveLength(1200);
      const all = (await request(t.url).get(path).query({ limit: 500 }).set('X-Api-Key', finance)).body as {
        created_at: string;
      }[];
      // Entry times are unique within the workspace, however many were written in one millisecond.
      expect(new Set(all.map((e) => e.created_at)).size).toBe(all.length);
    }, 60_000);

    it('alert history limit must be 50, 100, 250 or 500', async () => {
      expect((await request(t.url).get(`${V2}/alerts/history?limit=20`).set('X-Api-Key', finance)).status).toBe(400);
      expect((await request(t.url).get(`${V2}/alerts/history?limit=250`).set('X-Api-Key', finance)).status).toBe(200);
    });
  });

  describe('the socket-action cache of each node', () => {
    let node: TestApp;

    beforeAll(async () => {
      node = await startTestApp({ env: { SUBSCRIPTION_SOCKET_CACHE_REFRESH: '200ms' } });
    });
    afterAll(async () => {
      await node?.close();
    });

    it('picks up a change that no bus message announced at the next periodic reload', async () => {
      const admin = await mintKey(node, {
        org: 'org_001',
        scopes: ['subscriptions:write', 'events:read', 'events:publish'],
        workspaces: ['ws_reload'],
      });
      const member = await mintKey(node, {
        org: 'org_001',
        user: 'usr_reload',
        scopes: ['events:read'],
        workspaces: ['ws_reload'],
      });
      const socket = await connectSocket(node.url, member);
      const seen = record(socket, 'comment_added');
      const sub = await request(node.url)
        .post(V1)
        .set('X-Api-Key', admin)
        .set('X-Workspace-Id', 'ws_reload')
        .send({
          rules: [{ trigger: 'comment_added', conditions: {} }],
          resources: ['claims/clm_reload'],
          actions: [{ type: 'socket' }],
          state: 'off',
        });
      expect(sub.status).toBe(201);

      // Turned on in the database behind the node's back: the store, not the service, so no bus message.
      await node.app
        .get(Database)
        .transaction((m) =>
          node.app
            .get(SubscriptionStore)
            .setState(m, 'org_001', 'ws_reload', sub.body.id, 'on', null, new Date().toISOString()),
        );

      // Each round: a matching event, then a sentinel to the user's own room. A round whose match
      // arrives before its sentinel is one after the node reloaded.
      const deadline = Date.now() + 10_000;
      for (;;) {
        const match = await publish(node.url, admin, { type: 'comment_added', claim_id: 'clm_reload' });
        const sentinel = await publish(node.url, admin, { type: 'comment_added', user_id: 'usr_reload' });
        await waitFor('the sentinel', () => seen.some((m) => m.payload.id === sentinel.body.id));
        if (seen.some((m) => m.payload.id === match.body.id)) break;
        if (Date.now() > deadline) throw new Error('the node never reloaded its socket-action cache');
      }
      socket.close();
    });
  });
});
