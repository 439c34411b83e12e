import { formatLogTime, historyCursor, nextLogTimes, parseLogTime } from './history-page';

describe('delivery log times', () => {
  it('are RFC 3339 UTC with exactly six fractional digits, and round-trip', () => {
    const t = parseLogTime('2026-03-26T08:14:22.123456Z')!;
    expect(formatLogTime(t)).toBe('2026-03-26T08:14:22.123456Z');
    expect(formatLogTime(t + 1n)).toBe('2026-03-26T08:14:22.123457Z');
    expect(formatLogTime(parseLogTime('1969-12-31T23:59:59.999999Z')!)).toBe('1969-12-31T23:59:59.999999Z');
    expect(formatLogTime(0n)).toBe('1970-01-01T00:00:00.000000Z');
  });

  it('read plain RFC 3339: seconds, milliseconds, lower case, offsets', () => {
    const at = (s: string) => formatLogTime(parseLogTime(s)!);
    expect(at('2026-03-26T08:14:22Z')).toBe('2026-03-26T08:14:22.000000Z');
    expect(at('2026-03-26T08:14:22.123Z')).toBe('2026-03-26T08:14:22.123000Z');
    expect(at('2026-03-26t08:14:22.1z')).toBe('2026-03-26T08:14:22.100000Z');
    expect(at('2026-03-26T10:14:22.5+02:00')).toBe('2026-03-26T08:14:22.500000Z');
    expect(at('2026-03-25T23:44:22-08:30')).toBe('2026-03-26T08:14:22.000000Z');
  });

  it('refuse what is not an RFC 3339 date-time', () => {
    for (const bad of [
      'yesterday',
      '2026-03-26',
      '2026-03-26T08:14Z',
      '2026-03-26T08:14:22',
      '2026-02-30T00:00:00Z',
      '2026-03-26T24:00:00Z',
      '2026-03-26T08:14:22+25:00',
      ' 2026-03-26T08:14:22Z',
      '1774512862123',
    ]) {
      expect(parseLogTime(bad)).toBeNull();
      expect(historyCursor(bad, 'before')).toBeNull();
    }
  });

  it('sort as text exactly as they sort in time', () => {
    const times = [
      '2026-03-26T08:14:22.123456Z',
      '2026-03-26T08:14:22.123Z',
      '2026-03-26T08:14:21.999999Z',
      '2026-03-26T08:14:22.123457Z',
      '2025-12-31T23:59:59Z',
      '2026-03-26T08:14:22.000001Z',
    ];
    const asLog = times.map((s) => formatLogTime(parseLogTime(s)!));
    const byTime = [...asLog].sort((a, b) => Number(parseLogTime(a)! - parseLogTime(b)!));
    expect([...asLog].sort()).toEqual(byTime);
    expect(new Set(asLog.map((s) => s.length))).toEqual(new Set([27]));
  });

  it('new entries get consecutive microseconds from the clock, or from just past the newest entry', () => {
    expect(nextLogTimes('2026-03-26T08:14:22.123Z', null, 3)).toEqual([
      '2026-03-26T08:14:22.123000Z',
      '2026-03-26T08:14:22.123001Z',
      '2026-03-26T08:14:22.123002Z',
    ]);
    // Many entries in the same millisecond: the next write continues after the last.
    expect(nextLogTimes('2026-03-26T08:14:22.123Z', '2026-03-26T08:14:22.123002Z', 2)).toEqual([
      '2026-03-26T08:14:22.123003Z',
      '2026-03-26T08:14:22.123004Z',
    ]);
    // A node whose clock is behind still writes after the newest entry.
    expect(nextLogTimes('2026-03-26T08:14:21.000Z', '2026-03-26T08:14:22.999999Z', 1)).toEqual([
      '2026-03-26T08:14:23.000000Z',
    ]);
    // The clock is ahead of the log: the clock wins. An old millisecond time in the log still counts.
    expect(nextLogTimes('2026-03-26T08:14:23.000Z', '2026-03-26T08:14:22.999Z', 1)).toEqual([
      '2026-03-26T08:14:23.000000Z',
    ]);
    expect(nextLogTimes('2026-03-26T08:14:22.999Z', '2026-03-26T08:14:22.999Z', 1)).toEqual([
      '2026-03-26T08:14:22.999001Z',
    ]);
  });

  it('a cursor finer than a microsecond is rounded so exactly the entries before (after) it are returned', () => {
    expect(historyCursor('2026-03-26T08:14:22.1234561Z', 'before')).toBe('2026-03-26T08:14:22.123457Z');
    expect(historyCursor('2026-03-26T08:14:22.1234561Z', 'after')).toBe('2026-03-26T08:14:22.123456Z');
    expect(historyCursor('2026-03-26T08:14:22.1234560000Z', 'before')).toBe('2026-03-26T08:14:22.123456Z');
    expect(historyCursor('2026-03-26T08:14:22.123456Z', 'after')).toBe('2026-03-26T08:14:22.123456Z');
  });

  it('paging with the last created_at as cursor sees every entry exactly once, in pages of exactly limit', () => {
    // Entries from two writers whose clocks disagree, many in the same millisecond.
    const log: string[] = [];
    const write = (now: string, count: number) =>
      log.push(...nextLogTimes(now, log.length ? log[log.length - 1] : null, count));
    write('2026-03-26T08:14:22.123Z', 60);
    write('2026-03-26T08:14:22.100Z', 7);
    write('2026-03-26T08:14:22.124Z', 1);
    write('2026-03-26T08:14:22.124Z', 1500);
    write('2026-03-26T08:14:23.000Z', 33);
    expect(new Set(log).size).toBe(log.length);
    expect([...log].sort()).toEqual(log);

    const page = (direction: 'before' | 'after', limit: number, datetime?: string) => {
      const cursor = datetime === undefined ? undefined : historyCursor(datetime, direction)!;
      const rows =
        direction === 'before'
          ? [...log].reverse().filter((t) => cursor === undefined || t < cursor)
          : log.filter((t) => cursor === undefined || t > cursor);
      return rows.slice(0, limit);
    };
    for (const direction of ['before', 'after'] as const) {
      for (const limit of [1, 7, 50, 100, 250, 500]) {
        const pages: string[][] = [];
        let datetime: string | undefined;
        for (let p = page(direction, limit); p.length; p = page(direction, limit, datetime)) {
          pages.push(p);
          datetime = p[p.length - 1];
        }
        expect(pages.flat()).toEqual(direction === 'before' ? [...log].reverse() : log);
        expect(pages.slice(0, -1).every((p) => p.length === limit)).toBe(true);
      }
    }
  });
});
