import { blockIssue, formatSpan, goneIssue, type EndpointHealth } from './endpoint-health';

const HOUR = 3_600_000;
const since = '2026-03-25T08:00:00.000Z';
const health = (over: Partial<EndpointHealth> = {}): EndpointHealth => ({
  failing_since: since,
  failed_attempts: 9,
  failed_deliveries: 2,
  last_error: 'HTTP 503 Service Unavailable',
  ...over,
});

describe('blockIssue', () => {
  const rules = { blockAfterMs: 24 * HOUR, blockAfterFailures: 0 };

  it('keeps an endpoint that has not failed, or not for long enough', () => {
    expect(blockIssue(health({ failing_since: null }), rules, Date.parse(since) + 48 * HOUR)).toBeUndefined();
    expect(blockIssue(health(), rules, Date.parse(since) + 23 * HOUR)).toBeUndefined();
  });

  it('blocks once every attempt has failed for the configured time, naming span, counts and last error', () => {
    const issue = blockIssue(health(), rules, Date.parse(since) + 24 * HOUR + 3 * 60_000);
    expect(issue).toBe(
      'Blocked automatically on 2026-03-26T08:03:00.000Z: every attempt since 2026-03-25T08:00:00.000Z has failed ' +
        '(1 d 3 min, 9 failed attempts, 2 failed deliveries); last error: HTTP 503 Service Unavailable. ' +
        'Fix the receiver, then turn the subscription on again.',
    );
  });

  it('blocks after that many failed deliveries in a row when the count rule is on', () => {
    const countRules = { blockAfterMs: 24 * HOUR, blockAfterFailures: 3 };
    expect(blockIssue(health({ failed_deliveries: 2 }), countRules, Date.parse(since) + HOUR)).toBeUndefined();
    expect(
      blockIssue(health({ failed_deliveries: 3, failed_attempts: 1 }), countRules, Date.parse(since) + HOUR),
    ).toMatch(/\(1 h, 1 failed attempt, 3 failed deliveries\)/);
  });
});

describe('formatSpan', () => {
  it.each([
    [4_000, '4 s'],
    [90_000, '1 min'],
    [2 * HOUR, '2 h'],
    [26 * HOUR + 5 * 60_000, '1 d 2 h 5 min'],
  ])('%d ms → %s', (ms, text) => {
    expect(formatSpan(ms)).toBe(text);
  });
});

describe('goneIssue', () => {
  it('says what happened and when', () => {
    expect(goneIssue(Date.parse('2026-03-26T08:00:00.000Z'))).toMatch(
      /^Receiver answered 410 Gone on 2026-03-26T08:00:00.000Z; deliveries stopped/,
    );
  });
});
