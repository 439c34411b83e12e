import type { StoredEvent } from '../core/event-log/event.types';
import {
  CompiledSubscriptionCache,
  compileSubscription,
  eventSubjects,
  firstMatchingRule,
  parseResource,
  parseTrigger,
  resourcesMatch,
  TriggerIndex,
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

describe('the trigger index', () => {
  const sub = (rules: { trigger: string }[], resources: string[]) =>
    compileSubscription({ rules: rules.map((r) => ({ ...r, conditions: {} })), resources });

  it('finds a subscription only by its trigger types and resources, in its own organisation', () => {
    const index = new TriggerIndex<string>();
    index.set('exact', 'org_1', sub([{ trigger: 'claim_approved' }], ['claims/clm_1']), 'exact');
    index.set('wild', 'org_1', sub([{ trigger: 'claim_approved@1' }], ['users/*']), 'wild');
    index.set('other-type', 'org_1', sub([{ trigger: 'claim_rejected' }], ['claims/*']), 'other-type');
    index.set('other-claim', 'org_1', sub([{ trigger: 'claim_approved' }], ['claims/clm_2']), 'other-claim');
    index.set('other-org', 'org_2', sub([{ trigger: 'claim_approved' }], ['claims/*']), 'other-org');
    expect(
      index
        .candidates(event)
        .map((c) => c.value)
        .sort(),
    ).toEqual(['exact', 'wild']);
  });

  it('lists a subscription once however many of its keys an event hits, and forgets it on delete and replace', () => {
    const index = new TriggerIndex<string>();
    index.set(
      'many',
      'org_1',
      sub(
        [{ trigger: 'claim_approved' }, { trigger: 'claim_approved@1' }],
        ['claims/*', 'users/usr_1', 'organisations/org_1'],
      ),
      'many',
    );
    expect(index.candidates(event).map((c) => c.value)).toEqual(['many']);
    index.set('many', 'org_1', sub([{ trigger: 'claim_rejected' }], ['claims/*']), 'replaced');
    expect(index.candidates(event)).toEqual([]);
    expect(index.candidates({ ...event, type: 'claim_rejected' }).map((c) => c.value)).toEqual(['replaced']);
    index.delete('many');
    expect(index.candidates({ ...event, type: 'claim_rejected' })).toEqual([]);
    expect(index.size).toBe(0);
  });

  it('misses no match a scan of every subscription finds', () => {
    // A fixed pseudo-random mix of triggers, resources and events, compared with a full scan.
    let seed = 7;
    const pick = <T>(xs: readonly T[]): T => xs[(seed = (seed * 48271) % 2147483647) % xs.length];
    const types = ['claim_approved', 'claim_rejected', 'comment_added'] as const;
    const resources = [
      'claims/*',
      'claims/clm_1',
      'claims/clm_2',
      'users/*',
      'users/usr_1',
      'organisations/org_1',
      'organisations/org_2',
      'channels/*',
    ];
    const index = new TriggerIndex<number>();
    const all: { id: number; org: string; compiled: ReturnType<typeof compileSubscription> }[] = [];
    for (let id = 0; id < 300; id++) {
      const org = pick(['org_1', 'org_2']);
      const compiled = sub(
        [{ trigger: pick(types) }, { trigger: `${pick(types)}@${pick(['1', '2'])}` }],
        [pick(resources), pick(resources)],
      );
      all.push({ id, org, compiled });
      index.set(String(id), org, compiled, id);
    }
    let matched = 0;
    for (let n = 0; n < 200; n++) {
      const e: StoredEvent = {
        ...event,
        type: pick(types),
        version: pick(['1', '2']),
        organisation_id: pick(['org_1', 'org_2']),
        claim_id: pick(['clm_1', 'clm_2', null]),
        user_id: pick(['usr_1', 'usr_2']),
        channel_id: pick(['chn_1', null]),
      };
      const scanned = all
        .filter((s) => s.org === e.organisation_id && firstMatchingRule(s.compiled, e) >= 0)
        .map((s) => s.id);
      const indexed = index
        .candidates(e)
        .filter((c) => firstMatchingRule(c.compiled, e) >= 0)
        .map((c) => c.value);
      expect(indexed.sort((a, b) => a - b)).toEqual(scanned);
      matched += scanned.length;
    }
    expect(matched).toBeGreaterThan(100);
  });
});
