import request from 'supertest';
import type { Socket } from 'socket.io-client';
import { mintKey } from '../support/credentials';
import { publish } from '../support/events';
import { connectSocket, record, waitFor } from '../support/sockets';
import { startTestApp, TestApp } from '../support/test-app';

const BASE = '/api/v1/approval-notifications';

describe('seed 002: approval notifications', () => {
  let t: TestApp;
  let approvals: string;
  let recipient: string;
  let otherUser: string;
  let foreignApp: string;
  const sockets: Socket[] = [];

  beforeAll(async () => {
    t = await startTestApp();
    approvals = await mintKey(t, { org: 'org_001', scopes: ['notifications:write', 'events:read'] });
    recipient = await mintKey(t, { org: 'org_001', user: 'usr_84cd12ef', scopes: ['events:read'] });
    otherUser = await mintKey(t, { org: 'org_001', user: 'usr_other', scopes: ['events:read'] });
    foreignApp = await mintKey(t, { org: 'org_002', scopes: ['notifications:write'] });
  });
  afterAll(async () => {
    for (const s of sockets) s.close();
    await t?.close();
  });

  const notify = (body: Record<string, unknown>, token = approvals) =>
    request(t.url).post(BASE).set('X-Api-Key', token).send(body);

  describe('buildNotificationPayload', () => {
    it('reproduces the seed’s rejected example byte for byte', async () => {
      const res = await request(t.url)
        .post(`${BASE}/payload`)
        .set('X-Api-Key', recipient)
        .send({ status: 'rejected', comment: 'Missing receipt for hotel stay.' });
      expect(res.status).toBe(200);
      expect(res.text).toBe(
        JSON.stringify({
          title: 'Expense claim rejected',
          body: 'Your expense claim has been rejected. Reason: Missing receipt for hotel stay.',
          action_url: '/claims',
          action_label: 'View claims',
          severity: 'warning',
        }),
      );
    });

    it('reproduces the seed’s approved example', async () => {
      const res = await request(t.url).post(`${BASE}/payload`).set('X-Api-Key', recipient).send({
        status: 'approved',
        comment: 'All receipts verified.',
        amount: 4850,
        currency: 'NOK',
        claim_id: 'clm_9f2a3b4c',
      });
      expect(res.text).toBe(
        JSON.stringify({
          title: 'Expense claim approved',
          body: 'Your expense claim for 4850.00 NOK has been approved.',
          action_url: '/claims/clm_9f2a3b4c',
          action_label: 'View claim',
          severity: 'success',
        }),
      );
    });

    it('400 for a non-ISO currency, an amount without currency, an unknown status', async () => {
      const bad = async (body: Record<string, unknown>, field: string) => {
        const res = await request(t.url).post(`${BASE}/payload`).set('X-Api-Key', recipient).send(body);
        expect(res.status).toBe(400);
        expect(res.body.details.map((d: { field: string }) => d.field)).toContain(field);
      };
      await bad({ status: 'approved', amount: 10, currency: 'XYZ' }, 'currency');
      await bad({ status: 'approved', amount: 10 }, 'currency');
      await bad({ status: 'approved', currency: 'NOK' }, 'amount');
      await bad({ status: 'exploded' }, 'status');
    });
  });

  describe('notifyStatusChange', () => {
    it('answers with the seed fields, stores the payload, and the recipient’s socket gets it at once; another user’s does not', async () => {
      const mine = await connectSocket(t.url, recipient);
      const theirs = await connectSocket(t.url, otherUser);
      sockets.push(mine, theirs);
      const mineSeen = record(mine, 'notification', 'status_changed', 'claim_approved');
      const theirsSeen = record(theirs, 'notification', 'status_changed', 'claim_approved');

      const res = await notify({
        claim_id: 'clm_9f2a3b4c',
        new_status: 'approved',
        recipient_user_id: 'usr_84cd12ef',
        comment: 'All receipts verified.',
        amount: 4850,
        currency: 'NOK',
      });
      expect(res.status).toBe(201);
      expect(Object.keys(res.body).sort()).toEqual([
        'claim_id',
        'new_status',
        'notification_id',
        'recipient_user_id',
        'sent_at',
      ]);
      expect(res.body).toMatchObject({
        claim_id: 'clm_9f2a3b4c',
        new_status: 'approved',
        recipient_user_id: 'usr_84cd12ef',
      });
      expect(res.body.notification_id).toMatch(/^notif_[0-9a-z]{26}$/);

      await waitFor('notification and both events', () => mineSeen.length === 3);
      const note = mineSeen.find((m) => m.event === 'notification')!;
      expect(note.payload).toMatchObject({
        notification_id: res.body.notification_id,
        new_status: 'approved',
        read: false,
        payload: {
          title: 'Expense claim approved',
          body: 'Your expense claim for 4850.00 NOK has been approved.',
          action_url: '/claims/clm_9f2a3b4c',
        },
      });
      const events = mineSeen.filter((m) => m.event !== 'notification');
      expect(events.map((m) => m.event)).toEqual(['status_changed', 'claim_approved']);
      expect(events[0].payload).toMatchObject({
        claimid: 'clm_9f2a3b4c',
        userid: 'usr_84cd12ef',
        data: { new_status: 'approved', notification_id: res.body.notification_id },
      });
      expect(Number(events[1].payload.sequence)).toBe(Number(events[0].payload.sequence) + 1);

      // A notification to the other user, as a marker: it reaches them and only them.
      const marker = await notify({ claim_id: 'clm_x', new_status: 'paid', recipient_user_id: 'usr_other' });
      await waitFor('marker', () => theirsSeen.some((m) => m.event === 'notification'));
      expect(theirsSeen.filter((m) => m.event === 'notification').map((m) => m.payload.notification_id)).toEqual([
        marker.body.notification_id,
      ]);
      expect(mineSeen).toHaveLength(3);

      const detail = await request(t.url).get(`${BASE}/${res.body.notification_id}`).set('X-Api-Key', recipient);
      expect(detail.body).toEqual({
        notification_id: res.body.notification_id,
        claim_id: 'clm_9f2a3b4c',
        recipient_user_id: 'usr_84cd12ef',
        new_status: 'approved',
        comment: 'All receipts verified.',
        payload: {
          title: 'Expense claim approved',
          body: 'Your expense claim for 4850.00 NOK has been approved.',
          action_url: '/claims/clm_9f2a3b4c',
          action_label: 'View claim',
          severity: 'success',
        },
        read: false,
        sent_at: res.body.sent_at,
      });
      // The socket message is the notification exactly as GET shows it: same fields, same values, same order.
      expect(JSON.stringify(note.payload)).toBe(JSON.stringify(detail.body));
    });

    it('a status_changed published through the events API sends no notification message, whatever its data or id', async () => {
      const producer = await mintKey(t, { org: 'org_001', scopes: ['events:publish'] });
      const mine = await connectSocket(t.url, recipient);
      sockets.push(mine);
      const seen = record(mine, 'notification', 'status_changed');

      const real = await notify({ claim_id: 'clm_forge', new_status: 'in_review', recipient_user_id: 'usr_84cd12ef' });
      await waitFor('the real notification', () => seen.some((m) => m.event === 'notification'));
      const realId: string = real.body.notification_id;
      const suffix = realId.slice('notif_'.length);
      const forged = (data: Record<string, unknown>, id?: string) =>
        publish(t.url, producer, {
          type: 'status_changed',
          user_id: 'usr_84cd12ef',
          claim_id: 'clm_forge',
          ...(id ? { id } : {}),
          data: { claim_id: 'clm_forge', new_status: 'approved', recipient_user_id: 'usr_84cd12ef', ...data },
        });
      // The data of a real notification, under a fresh id.
      expect((await forged({ notification_id: realId })).status).toBe(201);
      // A made-up notification whose id pairs with the event id the way a notification's does.
      const madeUp = 'notif_' + '0'.repeat(26);
      expect((await forged({ notification_id: madeUp }, 'evt_' + '0'.repeat(26))).status).toBe(201);
      // The real notification's own event id: taken, so nothing new is stored or sent.
      const replay = await forged({ notification_id: realId }, `evt_${suffix}`);
      expect(replay.status).toBe(200);

      // Sentinel: a real notification after the forgeries. Its message arrives after anything they caused.
      const sentinel = await notify({ claim_id: 'clm_forge', new_status: 'paid', recipient_user_id: 'usr_84cd12ef' });
      await waitFor('the sentinel notification', () =>
        seen.some((m) => m.event === 'notification' && m.payload.notification_id === sentinel.body.notification_id),
      );
      expect(seen.filter((m) => m.event === 'notification').map((m) => m.payload.notification_id)).toEqual([
        realId,
        sentinel.body.notification_id,
      ]);
      // The forged events themselves were delivered as events (two new ones; the replay stored nothing).
      expect(seen.filter((m) => m.event === 'status_changed')).toHaveLength(4);
    });

    it('appends only status_changed where no claim event maps, and the log has both events for approvals', async () => {
      const res = await notify({ claim_id: 'clm_log', new_status: 'in_review', recipient_user_id: 'usr_84cd12ef' });
      const events = await request(t.url).get('/api/v1/events?after=0&limit=1000').set('X-Api-Key', approvals);
      const forClaim = events.body.data.filter((e: { claim_id: string }) => e.claim_id === 'clm_log');
      expect(forClaim.map((e: { type: string }) => e.type)).toEqual(['status_changed']);
      expect(forClaim[0].data.notification_id).toBe(res.body.notification_id);
    });

    it('400 with details for bad bodies; 403 without notifications:write', async () => {
      const res = await notify({ claim_id: 'clm_1', new_status: 'approvedish', recipient_user_id: 'u', extra: 1 });
      expect(res.status).toBe(400);
      expect(res.body.details.map((d: { field: string }) => d.field).sort()).toEqual(['extra', 'new_status']);
      expect(
        (await notify({ claim_id: 'clm_1', new_status: 'approved', recipient_user_id: 'u' }, recipient)).status,
      ).toBe(403);
    });
  });

  describe('read, list, delete and tenancy', () => {
    it('lists newest first with filters and pages; users see their own', async () => {
      const ids: string[] = [];
      for (const status of ['submitted', 'in_review', 'approved']) {
        ids.push(
          (await notify({ claim_id: 'clm_list', new_status: status, recipient_user_id: 'usr_84cd12ef' })).body
            .notification_id,
        );
      }
      await notify({ claim_id: 'clm_list', new_status: 'approved', recipient_user_id: 'usr_other' });

      const byClaim = await request(t.url)
        .get(`${BASE}?claim_id=clm_list&recipient_user_id=usr_84cd12ef`)
        .set('X-Api-Key', approvals);
      expect(byClaim.status).toBe(200);
      expect(byClaim.body.data.map((n: { notification_id: string }) => n.notification_id)).toEqual([...ids].reverse());
      expect(byClaim.body.pagination).toEqual({ page: 1, limit: 20, total: 3 });
      expect(Object.keys(byClaim.body.data[0]).sort()).toEqual([
        'claim_id',
        'comment',
        'new_status',
        'notification_id',
        'read',
        'recipient_user_id',
        'sent_at',
      ]);

      const paged = await request(t.url).get(`${BASE}?claim_id=clm_list&limit=2&page=2`).set('X-Api-Key', approvals);
      expect(paged.body.data).toHaveLength(2);
      expect(paged.body.pagination).toEqual({ page: 2, limit: 2, total: 4 });

      const asRecipient = await request(t.url).get(`${BASE}?claim_id=clm_list`).set('X-Api-Key', recipient);
      expect(
        asRecipient.body.data.every((n: { recipient_user_id: string }) => n.recipient_user_id === 'usr_84cd12ef'),
      ).toBe(true);
      expect(asRecipient.body.pagination.total).toBe(3);
      const snooping = await request(t.url).get(`${BASE}?recipient_user_id=usr_other`).set('X-Api-Key', recipient);
      expect(snooping.body.data).toEqual([]);
    });

    it('marks read and unread, filters by read, deletes', async () => {
      const id = (await notify({ claim_id: 'clm_read', new_status: 'paid', recipient_user_id: 'usr_84cd12ef' })).body
        .notification_id;
      const read = await request(t.url).put(`${BASE}/${id}`).set('X-Api-Key', recipient).send({ read: true });
      expect(read.status).toBe(200);
      expect(read.body).toEqual({ notification_id: id, read: true, updated_at: expect.any(String) });
      const readOnes = await request(t.url).get(`${BASE}?claim_id=clm_read&read=true`).set('X-Api-Key', recipient);
      expect(readOnes.body.data.map((n: { notification_id: string }) => n.notification_id)).toEqual([id]);
      const unread = await request(t.url).put(`${BASE}/${id}`).set('X-Api-Key', recipient).send({ read: false });
      expect(unread.body.read).toBe(false);
      expect(
        (await request(t.url).get(`${BASE}?claim_id=clm_read&read=true`).set('X-Api-Key', recipient)).body.data,
      ).toEqual([]);
      expect((await request(t.url).put(`${BASE}/${id}`).set('X-Api-Key', recipient).send({ read: 'yes' })).status).toBe(
        400,
      );

      const del = await request(t.url).delete(`${BASE}/${id}`).set('X-Api-Key', recipient);
      expect(del.status).toBe(200);
      expect(del.body).toEqual({ deleted: true, notification_id: id });
      expect((await request(t.url).get(`${BASE}/${id}`).set('X-Api-Key', recipient)).status).toBe(404);
    });

    it('another organisation, or another user, gets 404 on get, update and delete', async () => {
      const id = (await notify({ claim_id: 'clm_t', new_status: 'approved', recipient_user_id: 'usr_84cd12ef' })).body
        .notification_id;
      for (const token of [foreignApp, otherUser]) {
        expect((await request(t.url).get(`${BASE}/${id}`).set('X-Api-Key', token)).status).toBe(404);
        expect((await request(t.url).put(`${BASE}/${id}`).set('X-Api-Key', token).send({ read: true })).status).toBe(
          404,
        );
        expect((await request(t.url).delete(`${BASE}/${id}`).set('X-Api-Key', token)).status).toBe(404);
      }
      const still = await request(t.url).get(`${BASE}/${id}`).set('X-Api-Key', recipient);
      expect(still.body.read).toBe(false);
    });
  });
});
