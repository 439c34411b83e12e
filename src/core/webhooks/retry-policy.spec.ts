import { claimShares, parseRetryAfter, retryDelay, verdictOf, type RetryPolicy } from './retry-policy';

const policy: RetryPolicy = { scheduleMs: [5_000, 300_000, 1_800_000], jitter: 0.2, maxRetryAfterMs: 3_600_000 };

describe('retryDelay', () => {
  it('follows the schedule, one entry per retry, and gives up once it is spent', () => {
    const none = () => 0.5;
    expect(retryDelay(policy, 1, undefined, none)).toBe(5_000);
    expect(retryDelay(policy, 2, undefined, none)).toBe(300_000);
    expect(retryDelay(policy, 3, undefined, none)).toBe(1_800_000);
    expect(retryDelay(policy, 4, undefined, none)).toBeUndefined();
  });

  it('jitters each delay within ±20 %, reaching both bounds', () => {
    expect(retryDelay(policy, 2, undefined, () => 0)).toBe(240_000);
    expect(retryDelay(policy, 2, undefined, () => 0.999999)).toBe(360_000);
    for (let i = 0; i < 1000; i++) {
      const delay = retryDelay(policy, 1)!;
      expect(delay).toBeGreaterThanOrEqual(4_000);
      expect(delay).toBeLessThanOrEqual(6_000);
    }
  });

  it('honours Retry-After when it asks for longer than the schedule', () => {
    expect(retryDelay(policy, 1, 60_000, () => 0.5)).toBe(60_000);
  });

  it('never retries earlier than the schedule, whatever Retry-After says', () => {
    expect(retryDelay(policy, 2, 1_000, () => 0.5)).toBe(300_000);
  });

  it('caps Retry-After at the configured maximum', () => {
    expect(retryDelay(policy, 1, 86_400_000, () => 0.5)).toBe(3_600_000);
    expect(retryDelay({ ...policy, maxRetryAfterMs: 0 }, 1, 86_400_000, () => 0.5)).toBe(5_000);
  });

  it('does not retry past the schedule even when Retry-After asks for it', () => {
    expect(retryDelay(policy, 4, 10_000)).toBeUndefined();
  });
});

describe('parseRetryAfter', () => {
  const now = Date.parse('2026-03-26T08:00:00.000Z');

  it.each([
    ['120', 120_000],
    [' 1 ', 1_000],
    ['0', 0],
    ['Thu, 26 Mar 2026 08:00:30 GMT', 30_000],
    ['Thu, 26 Mar 2026 07:00:00 GMT', 0],
  ])('%j → %d ms', (value, ms) => {
    expect(parseRetryAfter(value, now)).toBe(ms);
  });

  it.each([undefined, '', '-5', '1.5', 'soon', '2026-03-26T08:00:30Z'])('%j is ignored', (value) => {
    expect(parseRetryAfter(value, now)).toBeUndefined();
  });
});

describe('verdictOf', () => {
  it.each([
    [200, 'delivered'],
    [204, 'delivered'],
    [301, 'fail'],
    [302, 'fail'],
    [400, 'fail'],
    [401, 'fail'],
    [404, 'fail'],
    [410, 'gone'],
    [429, 'retry'],
    [500, 'retry'],
    [502, 'retry'],
    [503, 'retry'],
    [504, 'retry'],
  ])('HTTP %d → %s', (status, verdict) => {
    expect(verdictOf({ status })).toBe(verdict);
  });

  it('retries when no answer came (timeout, network error)', () => {
    expect(verdictOf({})).toBe('retry');
  });

  it('does not retry what cannot succeed (a target the SSRF guard refused, an invalid request)', () => {
    expect(verdictOf({ permanent: true })).toBe('fail');
  });
});

describe('claimShares', () => {
  it.each([
    // capacity, first due, retries due → first, retries
    [10, 100, 100, 5, 5],
    [10, 100, 0, 10, 0],
    [10, 0, 100, 0, 10],
    [10, 2, 100, 2, 8],
    [10, 100, 3, 7, 3],
    [9, 100, 100, 5, 4],
    [1, 5, 5, 1, 0],
    [10, 3, 4, 3, 4],
  ])(
    'capacity %d with %d fresh and %d retries due → %d fresh, %d retries',
    (capacity, firstDue, retriesDue, first, retries) => {
      expect(claimShares(capacity, firstDue, retriesDue)).toEqual({ first, retries });
    },
  );

  it('a retry backlog never takes more than half of a claim while fresh deliveries wait', () => {
    for (let capacity = 1; capacity <= 50; capacity++) {
      expect(claimShares(capacity, 1000, 1000).first).toBeGreaterThanOrEqual(capacity / 2);
    }
  });
});
