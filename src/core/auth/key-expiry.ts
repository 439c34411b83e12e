import { ValidateBy, type ValidationOptions } from 'class-validator';

/**
 * RFC 3339 `date-time` (section 5.6): `2026-03-26T08:00:00Z`, `2026-03-26T10:00:00.5+02:00`.
 * `T` and `Z` may be lower case; a calendar-impossible date (Feb 30) or a leap second is refused
 * rather than rolled over, as `Date.parse` would.
 */
const DATE_TIME =
  /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/;
/** Times are stored as ISO strings that sort as text; past this they would gain a sign and six digits. */
const LATEST = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

/** Milliseconds since the epoch of an RFC 3339 date-time, or undefined if it is not one. */
export function parseDateTime(value: string): number | undefined {
  const m = DATE_TIME.exec(value);
  if (!m) return undefined;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number);
  const offsetHours = m[9] ? Number(m[10]) : 0;
  const offsetMinutes = m[9] ? Number(m[11]) : 0;
  if (month < 1 || month > 12 || hour > 23 || minute > 59 || second > 59 || offsetHours > 23 || offsetMinutes > 59)
    return undefined;
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  if (date.getUTCMonth() !== month - 1 || date.getUTCDate() !== day) return undefined;
  date.setUTCHours(hour, minute, second, Number((m[7] ?? '').padEnd(3, '0').slice(0, 3)));
  const ms = date.getTime() - (m[9] === '-' ? -1 : 1) * (offsetHours * 60 + offsetMinutes) * 60_000;
  return ms <= LATEST ? ms : undefined;
}

/** Whether a key with this `expires_at` is past it (an expiry is exclusive: at that instant it is over). */
export function hasExpired(expiresAt: string | null | undefined, now = Date.now()): boolean {
  return typeof expiresAt === 'string' && Date.parse(expiresAt) <= now;
}

/** An RFC 3339 date-time in the future; one field error either way, saying which rule failed. */
export function IsFutureDateTime(options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'isFutureDateTime',
      validator: {
        validate: (value: unknown) => {
          const ms = typeof value === 'string' ? parseDateTime(value) : undefined;
          return ms !== undefined && ms > Date.now();
        },
        defaultMessage: (args) =>
          typeof args?.value === 'string' && parseDateTime(args.value) !== undefined
            ? `${args.property} must be in the future`
            : `${args?.property} must be an RFC 3339 date-time with a time zone, such as 2030-01-31T00:00:00Z`,
      },
    },
    options,
  );
}
