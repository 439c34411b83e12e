import type { EventEnvelope } from '../core/event-log/envelope';
import { HEADER_VALUE_MASK, maskActions, restoreMaskedHeaders } from './action-headers';
import type { Action } from './subscription.store';
import { testPayload } from './subscription-test.service';

const stored: Action[] = [
  { type: 'socket', room: 'desk' },
  { type: 'webhook', url: 'https://a.example/hook', headers: { Authorization: 'Bearer secret', 'x-team': 'finance' } },
];

describe('action headers', () => {
  it('masks every header value and keeps the names', () => {
    expect(maskActions(stored)).toEqual([
      { type: 'socket', room: 'desk' },
      {
        type: 'webhook',
        url: 'https://a.example/hook',
        headers: { Authorization: HEADER_VALUE_MASK, 'x-team': HEADER_VALUE_MASK },
      },
    ]);
    expect(stored[1].headers!.Authorization).toBe('Bearer secret');
  });

  it('puts the stored value back where a replace sends the mask (names case-insensitively, actions reordered)', () => {
    const given: Action[] = [
      {
        type: 'webhook',
        url: 'https://a.example/hook',
        headers: { authorization: HEADER_VALUE_MASK, 'x-team': 'ops' },
      },
    ];
    expect(restoreMaskedHeaders(given, stored)).toEqual({
      actions: [
        {
          type: 'webhook',
          url: 'https://a.example/hook',
          headers: { authorization: 'Bearer secret', 'x-team': 'ops' },
        },
      ],
      errors: [],
    });
  });

  it('refuses the mask for another url, an unknown header, or with nothing stored', () => {
    const moved = restoreMaskedHeaders(
      [{ type: 'webhook', url: 'https://evil.example/hook', headers: { authorization: HEADER_VALUE_MASK } }],
      stored,
    );
    expect(moved.errors.map((e) => e.field)).toEqual(['actions[0].headers.authorization']);
    expect(moved.actions[0].headers).toEqual({});
    expect(
      restoreMaskedHeaders(
        [{ type: 'webhook', url: 'https://a.example/hook', headers: { 'x-new': HEADER_VALUE_MASK } }],
        stored,
      ).errors,
    ).toHaveLength(1);
    expect(
      restoreMaskedHeaders(
        [{ type: 'webhook', url: 'https://a.example/hook', headers: { authorization: HEADER_VALUE_MASK } }],
        undefined,
      ).errors,
    ).toHaveLength(1);
  });

  it('leaves actions without the mask as given', () => {
    const given: Action[] = [
      { type: 'webhook', url: 'https://b.example/hook', headers: { authorization: 'Bearer new' } },
    ];
    expect(restoreMaskedHeaders(given, stored)).toEqual({ actions: given, errors: [] });
  });
});

describe('test payload', () => {
  it('drops the log sequence and marks the envelope as a test', () => {
    const envelope: EventEnvelope = {
      specversion: '1.0',
      id: 'evt_1',
      type: 'claim_approved',
      source: '/organisations/org_1',
      time: '2026-01-01T00:00:00.000Z',
      datacontenttype: 'application/json',
      data: { amount: 1 },
      sequence: '42',
      typeversion: '1',
      organisationid: 'org_1',
    };
    const payload = testPayload(envelope);
    expect(payload).not.toHaveProperty('sequence');
    expect(payload).toMatchObject({ id: 'evt_1', test: true, data: { amount: 1 } });
  });
});
