import { hasExpired, parseDateTime } from './key-expiry';

describe('parseDateTime (RFC 3339 date-time)', () => {
  it.each([
    ['2030-01-31T00:00:00Z', '2030-01-31T00:00:00.000Z'],
    ['2030-01-31t10:00:00.5+02:00', '2030-01-31T08:00:00.500Z'],
    ['2030-01-31T00:00:00.123456789-05:30', '2030-01-31T05:30:00.123Z'],
    ['2028-02-29T23:59:59z', '2028-02-29T23:59:59.000Z'],
  ])('reads %s', (value, iso) => {
    expect(new Date(parseDateTime(value)!).toISOString()).toBe(iso);
  });

  it.each([
    '2030-01-31',
    '2030-01-31T00:00:00',
    '2030-01-31 00:00:00Z',
    '2030-02-30T00:00:00Z',
    '2029-02-29T00:00:00Z',
    '2030-13-01T00:00:00Z',
    '2030-01-31T24:00:00Z',
    '2030-01-31T23:59:60Z',
    '2030-01-31T00:00:00+24:00',
    '9999-12-31T23:59:59-10:00',
    'tomorrow',
    '',
  ])('refuses %j', (value) => {
    expect(parseDateTime(value)).toBeUndefined();
  });
});

describe('hasExpired', () => {
  it('is exclusive of the expiry instant and false without one', () => {
    const at = '2030-01-31T00:00:00.000Z';
    expect(hasExpired(at, Date.parse(at) - 1)).toBe(false);
    expect(hasExpired(at, Date.parse(at))).toBe(true);
    expect(hasExpired(null)).toBe(false);
    expect(hasExpired(undefined)).toBe(false);
  });
});
