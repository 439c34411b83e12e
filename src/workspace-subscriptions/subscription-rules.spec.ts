import type { StoredEvent } from '../core/event-log/event.types';
import {
  CompiledSubscriptionCache,
  compileSubscription,
  eventSubjects,
  firstMatchingRule,
  parseResource,
  parseTrigger,
  resourcesMatch,
} from './subscription-rules';

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
    expect(
      resourcesMatch(
        [
          { kind: 'claims', id: 'clm_2' },
          { kind: 'channels', id: '*' },
        ],
        subjects,
      ),
    ).toBe(false);
    expect(resourcesMatch([{ kind: 'users', id: 'usr_1' }], subjects)).toBe(true);
  });

  it('finds the first rule whose trigger and conditions match, once the resources do', () => {
    const compiled = compileSubscription({
      resources: ['claims/*'],
      rules: [
        { trigger: 'claim_approved@2', conditions: {} },
        { trigger: 'claim_approved', conditions: { 'data.amount': { $gte: 2000 } } },
        { trigger: 'claim_approved@1', conditions: { 'data.currency': 'NOK' } },
      ],
    });
    expect(firstMatchingRule(compiled, event)).toBe(2);
    expect(
      firstMatchingRule(
        compileSubscription({ resources: ['claims/clm_2'], rules: [{ trigger: 'claim_approved', conditions: {} }] }),
        event,
      ),
    ).toBe(-1);
  });

  it('a stored rule that no longer compiles matches nothing and says why; the others still match', () => {
    const compiled = compileSubscription({
      resources: ['claims/*'],
      rules: [
        { trigger: 'claim_approved', conditions: { 'data.note': { $regex: '(?=a)' } } },
        { trigger: 'claim_approved', conditions: {} },
      ],
    });
    expect(compiled.rules[0].error).toContain('not a valid RE2 pattern');
    expect(firstMatchingRule(compiled, event)).toBe(1);
  });

  it('compiles a subscription once while its rules and resources stay the same', () => {
    const cache = new CompiledSubscriptionCache(2);
    const rules = [{ trigger: 'claim_approved', conditions: { 'data.amount': { $gte: 1000 } } }];
    const first = cache.get({ id: 'wsub_1', rules, resources: ['claims/*'] });
    // The dispatcher reads a fresh copy of the record every batch.
    expect(cache.get({ id: 'wsub_1', rules: structuredClone(rules), resources: ['claims/*'] })).toBe(first);
    const replaced = cache.get({
      id: 'wsub_1',
      rules: [{ trigger: 'claim_approved', conditions: { 'data.amount': { $gte: 2000 } } }],
      resources: ['claims/*'],
    });
    expect(replaced).not.toBe(first);
    expect(firstMatchingRule(replaced, event)).toBe(-1);
    cache.get({ id: 'wsub_2', rules, resources: ['claims/*'] });
    cache.get({ id: 'wsub_3', rules, resources: ['claims/*'] });
    // Capacity 2: wsub_1 was the least recently used, so it is compiled anew.
    expect(
      cache.get({
        id: 'wsub_1',
        rules: [{ trigger: 'claim_approved', conditions: { 'data.amount': { $gte: 2000 } } }],
        resources: ['claims/*'],
      }),
    ).not.toBe(replaced);
  });
});
