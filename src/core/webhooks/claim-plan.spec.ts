import { pickClaim, planFetch, type FetchPlan, type OwingEndpoint, type DueRow } from './claim-plan';

const at = (second: number) => new Date(Date.UTC(2026, 2, 26, 8, 0, second)).toISOString();
const NOW = at(3600);

/** `count` due rows of one endpoint, due one second apart from `from`. */
function backlog(
  org: string,
  endpoint: string,
  count: number,
  opts: { from?: number; attempts?: number; tag?: string } = {},
): DueRow[] {
  return Array.from({ length: count }, (_, i) => ({
    id: `${endpoint}_${String(i).padStart(4, '0')}${opts.tag ?? ''}`,
    endpoint_id: endpoint,
    organisation_id: org,
    attempts: opts.attempts ?? 0,
    next_attempt_at: at((opts.from ?? 0) + i),
  }));
}

/** A plan as `planFetch` makes it: these free shares, and these requests already in flight. */
function plan(
  free: Record<string, number>,
  inFlight: { org?: Record<string, number>; endpoint?: Record<string, number> } = {},
): Pick<FetchPlan, 'free' | 'inFlight'> {
  return {
    free: new Map(Object.entries(free)),
    inFlight: new Map([
      ...Object.entries(inFlight.org ?? {}).map(([k, v]) => [`org:${k}`, v] as const),
      ...Object.entries(inFlight.endpoint ?? {}).map(([k, v]) => [`ep:${k}`, v] as const),
    ]),
  };
}

const endpointOf = (id: string) => id.replace(/_\d{4}.*$/, '');
const count = (items: string[], item: string) => items.filter((i) => i === item).length;

describe('pickClaim', () => {
  it('a long backlog at one endpoint does not crowd out a newer delivery of another organisation', () => {
    // The old claim took the oldest rows overall: all 4 slots to the 500-row backlog.
    const rows = [...backlog('org_a', 'ep_slow', 500), ...backlog('org_b', 'ep_b', 1, { from: 900 })];
    const pick = pickClaim(rows, 4, plan({ ep_slow: 10, ep_b: 10 }));
    expect(pick.ids).toEqual(['ep_slow_0000', 'ep_b_0000', 'ep_slow_0001', 'ep_slow_0002']);
  });

  it('the organisation with fewer requests in flight goes first, however old the other’s backlog', () => {
    const rows = [...backlog('org_a', 'ep_slow', 50), ...backlog('org_b', 'ep_b', 3, { from: 900 })];
    const inFlight = { org: { org_a: 2 }, endpoint: { ep_slow: 2 } };
    expect(pickClaim(rows, 1, plan({ ep_slow: 8, ep_b: 10 }, inFlight)).ids).toEqual(['ep_b_0000']);
    expect(pickClaim(rows, 4, plan({ ep_slow: 8, ep_b: 10 }, inFlight)).ids).toEqual([
      'ep_b_0000',
      'ep_b_0001',
      'ep_slow_0000',
      'ep_b_0002',
    ]);
  });

  it('never gives an endpoint more than its free share of the cap, even with slots to spare', () => {
    const rows = [...backlog('org_a', 'ep_slow', 50), ...backlog('org_b', 'ep_b', 1, { from: 100 })];
    const pick = pickClaim(rows, 20, plan({ ep_slow: 3, ep_b: 5 }));
    expect(pick.ids.map(endpointOf).sort()).toEqual(['ep_b', 'ep_slow', 'ep_slow', 'ep_slow']);
    expect(pick.ids).toEqual(expect.arrayContaining(['ep_slow_0000', 'ep_slow_0001', 'ep_slow_0002']));
    expect(pick.filledEndpoint).toBe(true);
  });

  it('an endpoint with no free share, or not in the plan, gets nothing', () => {
    const rows = [...backlog('org_a', 'ep_full', 5), ...backlog('org_b', 'ep_b', 2, { from: 50 })];
    expect(pickClaim(rows, 10, plan({ ep_full: 0, ep_b: 10 })).ids).toEqual(['ep_b_0000', 'ep_b_0001']);
    expect(pickClaim(rows, 10, plan({ ep_b: 10 }))).toEqual({ ids: ['ep_b_0000', 'ep_b_0001'], filledEndpoint: false });
  });

  it('shares slots across organisations first, so one with many endpoints gets no more than one with a single endpoint', () => {
    const many = ['ep_a1', 'ep_a2', 'ep_a3', 'ep_a4', 'ep_a5', 'ep_a6'].flatMap((ep, i) =>
      backlog('org_a', ep, 5, { from: i }),
    );
    const rows = [
      ...many,
      ...backlog('org_b', 'ep_b', 5, { from: 100 }),
      ...backlog('org_c', 'ep_c', 5, { from: 200 }),
    ];
    const free = Object.fromEntries(
      ['ep_a1', 'ep_a2', 'ep_a3', 'ep_a4', 'ep_a5', 'ep_a6', 'ep_b', 'ep_c'].map((e) => [e, 10]),
    );
    const pick = pickClaim(rows, 9, plan(free));
    const orgs = pick.ids.map((id) => rows.find((r) => r.id === id)!.organisation_id);
    expect([count(orgs, 'org_a'), count(orgs, 'org_b'), count(orgs, 'org_c')]).toEqual([3, 3, 3]);
    // org_a's three go to three different endpoints, the longest waiting first.
    expect(pick.ids.filter((id) => id.startsWith('ep_a'))).toEqual(['ep_a1_0000', 'ep_a2_0000', 'ep_a3_0000']);
  });

  it('keeps first attempts and retries side by side (claimShares), each kind fairly across organisations', () => {
    const rows = [
      ...backlog('org_a', 'ep_a', 10, { attempts: 2 }),
      ...backlog('org_b', 'ep_b', 10, { attempts: 1, from: 20 }),
      ...backlog('org_c', 'ep_c', 10, { from: 40 }),
      ...backlog('org_d', 'ep_d', 10, { from: 60 }),
    ];
    const free = { ep_a: 10, ep_b: 10, ep_c: 10, ep_d: 10 };
    expect(pickClaim(rows, 8, plan(free)).ids.map(endpointOf).sort()).toEqual([
      'ep_a',
      'ep_a',
      'ep_b',
      'ep_b',
      'ep_c',
      'ep_c',
      'ep_d',
      'ep_d',
    ]);
    // A share one kind cannot use goes to the other.
    expect(pickClaim(rows.slice(0, 20), 8, plan(free)).ids).toHaveLength(8);
    expect(
      pickClaim([...rows.slice(0, 20), ...backlog('org_c', 'ep_c', 1, { from: 40 })], 8, plan(free))
        .ids.map(endpointOf)
        .sort(),
    ).toEqual(['ep_a', 'ep_a', 'ep_a', 'ep_a', 'ep_b', 'ep_b', 'ep_b', 'ep_c']);
  });

  it('takes each endpoint’s oldest rows, whatever their kind, within its share', () => {
    const rows = [
      ...backlog('org_a', 'ep_a', 2, { attempts: 1, from: 0 }),
      ...backlog('org_a', 'ep_a', 3, { from: 10, tag: '_new' }),
    ];
    expect(pickClaim(rows, 10, plan({ ep_a: 3 })).ids.sort()).toEqual(['ep_a_0000', 'ep_a_0000_new', 'ep_a_0001']);
  });

  it('takes nothing without capacity', () => {
    expect(pickClaim(backlog('org_a', 'ep_a', 3), 0, plan({ ep_a: 5 })).ids).toEqual([]);
  });
});

describe('planFetch', () => {
  const owing = (
    organisation_id: string,
    endpoint_id: string,
    leased: number,
    second: number | null,
  ): OwingEndpoint => ({
    endpoint_id,
    organisation_id,
    leased,
    oldest: second === null ? null : at(second),
  });

  it('skips endpoints at their cap and says so; reads the others up to their free share', () => {
    const p = planFetch(
      [owing('org_a', 'ep_slow', 5, 0), owing('org_a', 'ep_half', 3, 1), owing('org_b', 'ep_b', 0, 2)],
      NOW,
      50,
      5,
    );
    expect(p.endpoints).toEqual([
      { endpoint_id: 'ep_b', limit: 5 },
      { endpoint_id: 'ep_half', limit: 2 },
    ]);
    expect(p.free).toEqual(
      new Map([
        ['ep_half', 2],
        ['ep_b', 5],
      ]),
    );
    expect(p.inFlight).toEqual(
      new Map([
        ['org:org_a', 8],
        ['ep:ep_slow', 5],
        ['ep:ep_half', 3],
      ]),
    );
    expect(p.atCap).toBe(true);
  });

  it('reads at most `capacity` endpoints, spread across organisations, each for at most `capacity` rows', () => {
    const endpoints = [
      ...Array.from({ length: 10 }, (_, i) => owing('org_a', `ep_a${i}`, 0, i)),
      owing('org_b', 'ep_b', 0, 50),
      owing('org_c', 'ep_c', 0, 60),
    ];
    const p = planFetch(endpoints, NOW, 4, 10);
    expect(p.endpoints).toEqual([
      { endpoint_id: 'ep_a0', limit: 4 },
      { endpoint_id: 'ep_b', limit: 4 },
      { endpoint_id: 'ep_c', limit: 4 },
      { endpoint_id: 'ep_a1', limit: 4 },
    ]);
    expect(p.atCap).toBe(false);
  });

  it('counts requests in flight at endpoints with nothing due; plans no endpoint whose rows are not due yet', () => {
    const p = planFetch(
      [
        owing('org_a', 'ep_busy', 3, null),
        owing('org_a', 'ep_a', 0, 0),
        owing('org_b', 'ep_b', 0, 10),
        owing('org_c', 'ep_later', 0, 7200),
      ],
      NOW,
      1,
      10,
    );
    expect(p.endpoints).toEqual([{ endpoint_id: 'ep_b', limit: 1 }]);
  });

  it('leases held by other nodes count against the cap', () => {
    const p = planFetch([owing('org_a', 'ep_a', 9, 0)], NOW, 50, 10);
    expect(p.endpoints).toEqual([{ endpoint_id: 'ep_a', limit: 1 }]);
    expect(pickClaim(backlog('org_a', 'ep_a', 30), 50, p)).toEqual({ ids: ['ep_a_0000'], filledEndpoint: true });
  });
});
