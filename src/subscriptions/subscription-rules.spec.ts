import { toEnvelope } from '../core/event-log/envelope';
import type { StoredEvent } from '../core/event-log/event.types';
import { compile, eventSubjects, explainConditions, parseResource, parseTrigger, resourcesMatch, satisfies, validateConditions } from './subscription-rules';

const event: StoredEvent = {
  seq: 3,
  id: 'evt_1',
  type: 'claim_approved',
  version: '1',
  organisation_id: 'org_1',
  user_id: 'usr_1',
  claim_id: 'clm_1',
  channel_id: null,
  data: { amount: 1500, currency: 'NOK' },
  occurred_at: '2026-01-01T00:00:00.000Z',
  received_at: '2026-01-01T00:00:00.000Z',
};

describe('subscription rules', () => {
  it('parses triggers and resources', () => {
    expect(parseTrigger('channel.follow@1')).toEqual({ type: 'channel.follow', version: '1' });
    expect(parseTrigger('claim_approved')).toEqual({ type: 'claim_approved' });
    expect(parseResource('claims/*')).toEqual({ kind: 'claims', id: '*' });
    expect(parseResource('organisations/org_1')).toEqual({ kind: 'organisations', id: 'org_1' });
    expect(parseResource('invoices/1')).toBeUndefined();
    expect(parseResource('claims/')).toBeUndefined();
  });

  it('matches resources exactly or by wildcard', () => {
    const subjects = eventSubjects(event);
    expect(resourcesMatch([{ kind: 'claims', id: '*' }], subjects)).toBe(true);
    expect(resourcesMatch([{ kind: 'claims', id: 'clm_1' }], subjects)).toBe(true);
    expect(resourcesMatch([{ kind: 'claims', id: 'clm_2' }, { kind: 'channels', id: '*' }], subjects)).toBe(false);
    expect(resourcesMatch([{ kind: 'users', id: 'usr_1' }], subjects)).toBe(true);
  });

  it('evaluates conditions over the envelope with mingo', () => {
    const envelope = toEnvelope(event);
    expect(satisfies(compile({ 'data.amount': { $gte: 1000 } }), envelope)).toBe(true);
    expect(satisfies(compile({ $or: [{ 'data.amount': { $lt: 100 } }, { 'data.currency': { $in: ['NOK', 'SEK'] } }] }), envelope)).toBe(true);
    expect(satisfies(compile({ 'data.amount': { $gte: 2000 } }), envelope)).toBe(false);
    expect(satisfies(compile({}), envelope)).toBe(true);
  });

  it('reports the path of a bad operator', () => {
    expect(validateConditions({ 'data.amount': { $gtx: 1 } }, 'rules[0].conditions')).toEqual({
      field: 'rules[0].conditions.data.amount.$gtx',
      message: expect.stringContaining('$gtx'),
    });
    expect(validateConditions({ $and: [{ a: 1 }, { b: { $nope: 2 } }] }, 'c')?.field).toBe('c.$and[1].b.$nope');
    expect(validateConditions([], 'c')?.field).toBe('c');
    expect(validateConditions({ a: { $in: [1, 2] } }, 'c')).toBeUndefined();
  });

  it('explains failed conditions with the actual value', () => {
    expect(explainConditions({ 'data.amount': { $gte: 2000 }, 'data.currency': 'NOK' }, toEnvelope(event))).toEqual([
      { path: 'data.amount', expected: { $gte: 2000 }, actual: 1500 },
    ]);
  });

  it('refuses code-running operators and treats a condition that throws as no match', () => {
    expect(validateConditions({ $expr: { $toInt: '$data.s' } }, 'c')).toEqual({ field: 'c.$expr', message: 'c.$expr: $expr is not allowed in conditions' });
    expect(validateConditions({ a: { $where: 'x' } }, 'c')?.field).toBe('c.a.$where');
    const throwing = compile({ $expr: { $toInt: '$data.s' } });
    expect(satisfies(throwing, { data: { s: 'not a number' } })).toBe(false);
  });
});
