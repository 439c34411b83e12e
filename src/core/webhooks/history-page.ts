/**
 * Times of the delivery log, the key its history pages on (docs/api-contracts.md "Ids, times, paging").
 *
 * Every entry's `created_at` is an RFC 3339 UTC time with exactly six fractional digits
 * (`2026-03-26T08:14:22.123456Z`), unique across the log: entries written in the same
 * millisecond (one dispatcher batch, or several nodes) get consecutive microseconds. The form is
 * fixed-width, so text order is time order on both engines, and a page is simply the first
 * `limit` entries strictly before (or after) the cursor: a client that passes the last entry's
 * `created_at` as the next `datetime` sees every entry exactly once, in pages of exactly `limit`.
 */

export const LOG_TIME_EXAMPLE = '2026-03-26T08:14:22.123456Z';

/** Cursor direction: `before` pages newest first, `after` oldest first. */
export type PageDirection = 'before' | 'after';

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,32}))?(?:[Zz]|([+-])(\d{2}):(\d{2}))$/;

/**
 * Microseconds since the epoch of an RFC 3339 date-time (any number of fractional digits, `Z`
 * or an offset), rounded down (`floor`) or up (`ceil`) when it is finer than a microsecond.
 * Null when it is not one, or names a day or time that does not exist.
 */
export function parseLogTime(value: string, round: 'floor' | 'ceil' = 'floor'): bigint | null {
  const m = RFC3339.exec(value);
  if (!m) return null;
  const [, year, month, day, hour, minute, second, fraction = '', sign, offsetHours, offsetMinutes] = m.map(
    (part) => part ?? '',
  );
  const at = new Date(0);
  at.setUTCFullYear(Number(year), Number(month) - 1, Number(day));
  at.setUTCHours(Number(hour), Number(minute), Number(second), 0);
  const exists =
    at.getUTCFullYear() === Number(year) &&
    at.getUTCMonth() === Number(month) - 1 &&
    at.getUTCDate() === Number(day) &&
    at.getUTCHours() === Number(hour) &&
    at.getUTCMinutes() === Number(minute) &&
    at.getUTCSeconds() === Number(second);
  if (!exists || Number(offsetHours || 0) > 23 || Number(offsetMinutes || 0) > 59) return null;
  let micros = BigInt(at.getTime()) * 1000n + BigInt(fraction.slice(0, 6).padEnd(6, '0'));
  if (round === 'ceil' && /[1-9]/.test(fraction.slice(6))) micros += 1n;
  if (sign) {
    const offset = BigInt(Number(offsetHours) * 60 + Number(offsetMinutes)) * 60_000_000n;
    micros += sign === '+' ? -offset : offset;
  }
  return micros;
}

/** The log's own form of a time given in microseconds since the epoch. */
export function formatLogTime(micros: bigint): string {
  let ms = micros / 1000n;
  let us = micros % 1000n;
  if (us < 0n) {
    us += 1000n;
    ms -= 1n;
  }
  return `${new Date(Number(ms)).toISOString().slice(0, 23)}${String(us).padStart(3, '0')}Z`;
}

/**
 * Log times for `count` new entries written at wall-clock time `now` (any RFC 3339 form) when the
 * newest entry already in the log is `newest`: consecutive microseconds from `now`, or from just
 * past `newest` when that is later (many entries in one millisecond, or a node whose clock is
 * behind), so they are unique and keep the order entries were written in.
 */
export function nextLogTimes(now: string, newest: string | null, count: number): string[] {
  let start = parseLogTime(now);
  if (start === null) throw new Error(`not an RFC 3339 date-time: ${now}`);
  const last = newest === null ? null : parseLogTime(newest);
  if (last !== null && last >= start) start = last + 1n;
  return Array.from({ length: count }, (_, i) => formatLogTime(start + BigInt(i)));
}

/**
 * A `datetime` cursor (the microsecond form the log returns, or any RFC 3339 date-time) as the
 * log time to compare with: entries strictly before it (`before`) or strictly after it (`after`).
 * A cursor finer than a microsecond is rounded so that exactly the entries before (after) the
 * instant it names are returned. Null when it is not an RFC 3339 date-time.
 */
export function historyCursor(datetime: string, direction: PageDirection): string | null {
  const micros = parseLogTime(datetime, direction === 'before' ? 'ceil' : 'floor');
  return micros === null ? null : formatLogTime(micros);
}
