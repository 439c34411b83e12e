import request from 'supertest';
import type { Socket } from 'socket.io-client';
import { mintKey } from '../support/credentials';
import { publish } from '../support/events';
import { connectSocket, record, waitFor } from '../support/sockets';
import { startTestApp, TestApp } from '../support/test-app';

describe('event pipeline: publish, fan-out, replay', () => {
  let t: TestApp;
  let publisherA: string;
  let publisherB: string;
  let userA: string;
  let userB: string;
  const sockets: Socket[] = [];

  beforeAll(async () => {
    t = await startTestApp();
    publisherA = await mintKey(t, { org: 'org_a', scopes: ['events:publish', 'events:read'] });
    publisherB = await mintKey(t, { org: 'org_b', scopes: ['events:publish'] });
    userA = await mintKey(t, { org: 'org_a', user: 'usr_alice', scopes: ['events:read'] });
    userB = await mintKey(t, { org: 'org_b', user: 'usr_alice', scopes: ['events:read'] });
  });
  afterAll(async () => {
    for (const s of sockets) s.close();
    await t?.close();
  });

  async function socketFor(token: string): Promise<Socket> {
    const socket = await connectSocket(t.url, token);
    sockets.push(socket);
    return socket;
  }

  it('publishes over REST and a user socket of that org receives the envelope; another org receives nothing', async () => {
    const alice = await socketFor(userA);
    const sameNameOtherOrg = await socketFor(userB);
    const aliceSeen = record(alice, 'claim_approved', 'claim_rejected');
    const otherSeen = record(sameNameOtherOrg, 'claim_approved', 'claim_rejected');

    const res = await publish(t.url, publisherA, {
      user_id: 'usr_alice',
      claim_id: 'clm_1',
      data: { amount: 4850, currency: 'NOK' },
    });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      type: 'claim_approved',
      version: '1',
      organisation_id: 'org_a',
      user_id: 'usr_alice',
      claim_id: 'clm_1',
    });
    expect(res.body.id).toMatch(/^evt_[0-9a-z]{26}$/);
    expect(res.body.seq).toBeGreaterThan(0);

    await waitFor('alice to get the event', () => aliceSeen.length === 1);
    expect(aliceSeen[0]).toEqual({
      event: 'claim_approved',
      payload: {
        specversion: '1.0',
        id: res.body.id,
        type: 'claim_approved',
        source: '/organisations/org_a',
        subject: 'claims/clm_1',
        time: res.body.occurred_at,
        datacontenttype: 'application/json',
        data: { amount: 4850, currency: 'NOK' },
        sequence: String(res.body.seq),
        typeversion: '1',
        organisationid: 'org_a',
        userid: 'usr_alice',
        claimid: 'clm_1',
      },
    });

    // A marker in org_b proves the org_b socket was listening and got nothing before it.
    const marker = await publish(t.url, publisherB, { type: 'claim_rejected', user_id: 'usr_alice' });
    await waitFor('org_b marker', () => otherSeen.length === 1);
    expect(otherSeen.map((m) => m.payload.id)).toEqual([marker.body.id]);
    expect(aliceSeen).toHaveLength(1);
  });

  it('a user socket does not get events about other users of its organisation; an app socket gets all of them', async () => {
    const alice = await socketFor(userA);
    const app = await socketFor(publisherA);
    const aliceSeen = record(alice, 'comment_added');
    const appSeen = record(app, 'comment_added');
    const bob = await publish(t.url, publisherA, { type: 'comment_added', user_id: 'usr_bob' });
    const mine = await publish(t.url, publisherA, { type: 'comment_added', user_id: 'usr_alice' });
    await waitFor('app socket to get both', () => appSeen.length === 2);
    await waitFor('alice to get hers', () => aliceSeen.length === 1);
    expect(appSeen.map((m) => m.payload.id)).toEqual([bob.body.id, mine.body.id]);
    expect(aliceSeen.map((m) => m.payload.id)).toEqual([mine.body.id]);
  });

  it('refuses a socket with a bad or missing token, with a clear connect_error', async () => {
    await expect(connectSocket(t.url, 'hrld_wrong')).rejects.toMatchObject({
      message: 'Invalid credential: unknown or revoked API key',
      data: { code: 401 },
    });
    await expect(connectSocket(t.url, undefined)).rejects.toMatchObject({ data: { code: 401 } });
  });

  it('accepts the token as access_token in the query, for browsers', async () => {
    const socket = await connectSocket(t.url, undefined, { query: { access_token: userA } });
    sockets.push(socket);
    expect(socket.connected).toBe(true);
  });

  it('re-publishing a producer id returns the original with 200 and nobody receives it twice', async () => {
    const app = await socketFor(publisherA);
    const seen = record(app, 'claim_submitted', 'claim_rejected');
    const first = await publish(t.url, publisherA, { type: 'claim_submitted', id: 'prod-42', data: { n: 1 } });
    const again = await publish(t.url, publisherA, { type: 'claim_submitted', id: 'prod-42', data: { n: 2 } });
    expect(first.status).toBe(201);
    expect(again.status).toBe(200);
    expect(again.body).toEqual(first.body);
    const marker = await publish(t.url, publisherA, { type: 'claim_rejected' });
    await waitFor('marker', () => seen.some((m) => m.payload.id === marker.body.id));
    expect(seen.map((m) => m.payload.id)).toEqual(['prod-42', marker.body.id]);

    // The same producer id in another organisation is a different event.
    const elsewhere = await publish(t.url, publisherB, { type: 'claim_submitted', id: 'prod-42' });
    expect(elsewhere.status).toBe(201);
    expect(elsewhere.body.seq).not.toBe(first.body.seq);
  });

  it('re-publishing an id taken by an event the user may not read is a 409 that tells nothing of it', async () => {
    const alice = await mintKey(t, { org: 'org_a', user: 'usr_alice', scopes: ['events:publish', 'events:read'] });
    const coordinator = await mintKey(t, {
      org: 'org_a',
      user: 'usr_coord',
      scopes: ['events:publish', 'claims:read:org'],
    });
    const bobs = await publish(t.url, publisherA, {
      type: 'claim_approved',
      id: 'dup-bob-1',
      user_id: 'usr_bob',
      claim_id: 'clm_bob',
      data: { salary: 'secret-4850' },
    });
    const unowned = await publish(t.url, publisherA, {
      type: 'claim_approved',
      id: 'dup-org-1',
      data: { note: 'secret-org' },
    });
    expect([bobs.status, unowned.status]).toEqual([201, 201]);

    for (const id of ['dup-bob-1', 'dup-org-1']) {
      const res = await publish(t.url, alice, { type: 'claim_approved', id, data: {} });
      expect(res.status).toBe(409);
      expect(res.body).toEqual({
        statusCode: 409,
        error: 'Conflict',
        message: `Event id ${id} is already in use; publish under another id`,
      });
      expect(JSON.stringify(res.body)).not.toMatch(/secret|usr_bob|clm_bob|seq/);
    }

    // In a batch the conflict rolls everything back: the fresh event alongside it is not stored.
    const batch = await request(t.url)
      .post('/api/v1/events/batch')
      .set('X-Api-Key', alice)
      .send({
        events: [
          { type: 'comment_added', id: 'alice-fresh-1', data: {} },
          { type: 'claim_approved', id: 'dup-bob-1', data: {} },
        ],
      });
    expect(batch.status).toBe(409);
    expect(batch.body).toEqual({
      statusCode: 409,
      error: 'Conflict',
      message: 'Event id dup-bob-1 is already in use; publish under another id',
    });
    const fresh = await publish(t.url, alice, { type: 'comment_added', id: 'alice-fresh-1', data: {} });
    expect(fresh.status).toBe(201);
    expect(fresh.body.user_id).toBe('usr_alice');

    // Her own event still comes back as the original, and an org-wide reader still gets Bob's.
    const own = await publish(t.url, alice, { type: 'comment_added', id: 'alice-fresh-1', data: { again: true } });
    expect(own.status).toBe(200);
    expect(own.body).toEqual(fresh.body);
    const orgWide = await publish(t.url, coordinator, { type: 'claim_approved', id: 'dup-bob-1', data: {} });
    expect(orgWide.status).toBe(200);
    expect(orgWide.body).toEqual(bobs.body);
  });

  it('publishes a batch in order, counting duplicates', async () => {
    const res = await request(t.url)
      .post('/api/v1/events/batch')
      .set('X-Api-Key', publisherA)
      .send({
        events: [
          { type: 'claim_submitted', id: 'b-1', data: {} },
          { type: 'status_changed', data: { status: 'in_review' } },
          { type: 'claim_submitted', id: 'b-1', data: {} },
          { type: 'claim_submitted', id: 'prod-42', data: {} },
        ],
      });
    expect(res.status).toBe(201);
    expect(res.body.created).toBe(2);
    expect(res.body.duplicates).toBe(2);
    const [a, b, c, d] = res.body.events;
    expect(b.seq).toBe(a.seq + 1);
    expect(c).toEqual(a);
    expect(d.id).toBe('prod-42');

    const again = await request(t.url)
      .post('/api/v1/events/batch')
      .set('X-Api-Key', publisherA)
      .send({ events: [{ type: 'claim_submitted', id: 'b-1', data: {} }] });
    expect(again.status).toBe(200);
    expect(again.body.created).toBe(0);
  });

  it('rejects a batch over 500 and an empty one', async () => {
    const big = Array.from({ length: 501 }, () => ({ type: 'claim_submitted', data: {} }));
    expect(
      (await request(t.url).post('/api/v1/events/batch').set('X-Api-Key', publisherA).send({ events: big })).status,
    ).toBe(400);
    expect(
      (await request(t.url).post('/api/v1/events/batch').set('X-Api-Key', publisherA).send({ events: [] })).status,
    ).toBe(400);
  });

  it('replays after a cursor, in seq order, paged, filtered by type', async () => {
    const start = (await publish(t.url, publisherA, { type: 'claim_rejected' })).body.seq as number;
    const published: number[] = [];
    for (let i = 0; i < 5; i++)
      published.push(
        (await publish(t.url, publisherA, { type: i % 2 ? 'claim_rejected' : 'comment_added', data: { i } })).body.seq,
      );

    const page1 = await request(t.url).get(`/api/v1/events?after=${start}&limit=3`).set('X-Api-Key', publisherA);
    expect(page1.status).toBe(200);
    expect(page1.body.data.map((e: { seq: number }) => e.seq)).toEqual(published.slice(0, 3));
    expect(page1.body.has_more).toBe(true);
    const page2 = await request(t.url)
      .get(`/api/v1/events?after=${page1.body.next_after}&limit=3`)
      .set('X-Api-Key', publisherA);
    expect(page2.body.data.map((e: { seq: number }) => e.seq)).toEqual(published.slice(3));
    expect(page2.body.has_more).toBe(false);

    const rejected = await request(t.url)
      .get(`/api/v1/events?after=${start}&type=claim_rejected`)
      .set('X-Api-Key', publisherA);
    expect(rejected.body.data.map((e: { data: { i: number } }) => e.data.i)).toEqual([1, 3]);
  });

  it('a user credential reads only events about its user; no credential reads another organisation', async () => {
    const res = await request(t.url).get('/api/v1/events?after=0&limit=1000').set('X-Api-Key', userA);
    expect(res.status).toBe(200);
    expect(res.body.data.length).toBeGreaterThan(0);
    for (const e of res.body.data) expect(e).toMatchObject({ organisation_id: 'org_a', user_id: 'usr_alice' });
    const app = await request(t.url).get('/api/v1/events?after=0&limit=1000').set('X-Api-Key', publisherA);
    for (const e of app.body.data) expect(e.organisation_id).toBe('org_a');
  });

  it('an unknown type is a 400 naming the catalog; a wrong version too', async () => {
    const res = await publish(t.url, publisherA, { type: 'claim_exploded' });
    expect(res.status).toBe(400);
    expect(res.body.message).toContain('Unknown event type claim_exploded');
    expect(res.body.message).toContain('claim_approved');
    expect(res.body.message).toContain('channel.follow');
    expect(res.body.details[0].field).toBe('body.type');

    const badVersion = await request(t.url)
      .post('/api/v1/events')
      .set('X-Api-Key', publisherA)
      .send({ type: 'claim_approved', version: '9', data: {} });
    expect(badVersion.status).toBe(400);
    expect(badVersion.body.message).toBe('Unsupported version 9 of event type claim_approved');
  });

  it('400 for an ISO 8601 date that is not a date-time (week or ordinal dates)', async () => {
    for (const occurred_at of ['2026-W13', '2026-085']) {
      const res = await publish(t.url, publisherA, { data: {}, ...({ occurred_at } as object) });
      expect(res.status).toBe(400);
      expect(res.body.details[0].field).toBe('body.occurred_at');
    }
  });

  it('checks scopes and organisation when publishing', async () => {
    expect((await publish(t.url, userA, {})).status).toBe(403);
    expect((await publish(t.url, publisherA, { organisation_id: 'org_b' })).status).toBe(403);
    expect(
      (await request(t.url).post('/api/v1/events').set('X-Api-Key', publisherA).send({ type: 'claim_approved' }))
        .status,
    ).toBe(400);
    expect((await request(t.url).get('/api/v1/events').set('X-Api-Key', publisherB)).status).toBe(403);
  });

  it('serves the event-type catalog', async () => {
    const res = await request(t.url).get('/api/v1/event-types').set('X-Api-Key', userA);
    expect(res.status).toBe(200);
    const types = res.body.data.map((d: { type: string }) => d.type);
    expect(types).toEqual([
      'claim_submitted',
      'claim_approved',
      'claim_rejected',
      'status_changed',
      'comment_added',
      'channel.follow',
    ]);
    expect(res.body.data.find((d: { type: string }) => d.type === 'channel.follow')).toEqual({
      type: 'channel.follow',
      versions: ['1'],
      category: 'channels',
      description: 'A user followed a channel',
      conditions: ['channelId'],
      token_kinds: ['user'],
      scope: 'users.read',
      // Its data schema and example: test/e2e/event-catalog-schemas.e2e-spec.ts.
      schemas: {
        '1': {
          schema: expect.objectContaining({ type: 'object' }),
          example: expect.objectContaining({ type: 'channel.follow' }),
        },
      },
    });
  });
});
