import { toEnvelope } from '../core/event-log/envelope';
import type { StoredEvent } from '../core/event-log/event.types';
import {
  compileConditions,
  MAX_CONDITIONS_BYTES,
  MAX_CONDITIONS_DEPTH,
  MAX_CONDITIONS_NODES,
  MAX_REGEX_LENGTH,
  MAX_REGEX_PROGRAM_SIZE,
  MAX_SUBSCRIPTION_REGEX_PROGRAM_SIZE,
  validateConditions,
} from './subscription-conditions';

const event: StoredEvent = {
  seq: 3,
  id: 'evt_1',
  type: 'claim_approved',
  version: '1',
  organisation_id: 'org_1',
  user_id: 'usr_1',
  claim_id: 'clm_1',
  channel_id: null,
  data: {
    amount: 1500,
    currency: 'NOK',
    note: 'Missing receipt\nfor TAXI',
    tags: ['urgent', 'Travel'],
    lines: [{ text: 'hotel' }, { text: 'taxi' }],
  },
  occurred_at: '2026-01-01T00:00:00.000Z',
  received_at: '2026-01-01T00:00:00.000Z',
};
const envelope = toEnvelope(event);
const matches = (conditions: Record<string, unknown>, input: Record<string, unknown> = envelope as never) =>
  compileConditions(conditions).matches(input);

/** `{ $and: [ ... ] }` wrapped around a field condition until the whole is `depth` levels deep (even depths). */
function nestedAnd(depth: number): Record<string, unknown> {
  let conditions: Record<string, unknown> = { 'data.amount': { $gte: 1 } };
  for (let level = 2; level < depth; level += 2) conditions = { $and: [conditions] };
  return conditions;
}

describe('subscription conditions', () => {
  it('evaluates conditions over the envelope with mingo', () => {
    expect(matches({ 'data.amount': { $gte: 1000 } })).toBe(true);
    expect(matches({ $or: [{ 'data.amount': { $lt: 100 } }, { 'data.currency': { $in: ['NOK', 'SEK'] } }] })).toBe(
      true,
    );
    expect(matches({ 'data.amount': { $gte: 2000 } })).toBe(false);
    expect(matches({})).toBe(true);
  });

  describe('$regex on RE2', () => {
    it('matches and does not match like a regular expression', () => {
      expect(matches({ 'data.note': { $regex: 'receipt' } })).toBe(true);
      expect(matches({ 'data.note': { $regex: '^receipt' } })).toBe(false);
      expect(matches({ 'data.note': { $regex: 'TAXI$' } })).toBe(true);
      expect(matches({ 'data.currency': { $regex: '^[A-Z]{3}$' } })).toBe(true);
      expect(matches({ 'data.amount': { $regex: '1500' } })).toBe(false); // only strings match a pattern
      expect(matches({ 'data.missing': { $regex: '.*' } })).toBe(false);
    });

    it('supports the options i, m and s', () => {
      expect(matches({ 'data.note': { $regex: 'missing RECEIPT' } })).toBe(false);
      expect(matches({ 'data.note': { $regex: 'missing RECEIPT', $options: 'i' } })).toBe(true);
      expect(matches({ 'data.note': { $regex: '^for' } })).toBe(false);
      expect(matches({ 'data.note': { $regex: '^for', $options: 'm' } })).toBe(true);
      expect(matches({ 'data.note': { $regex: 'receipt.for' } })).toBe(false);
      expect(matches({ 'data.note': { $regex: 'receipt.for', $options: 's' } })).toBe(true);
      expect(matches({ 'data.note': { $regex: '^FOR.TAXI$', $options: 'mis' } })).toBe(true);
    });

    it('follows mingo wherever a pattern may sit: arrays, $not, $elemMatch, $all, $and/$or/$nor at any depth', () => {
      expect(matches({ 'data.tags': { $regex: '^travel$', $options: 'i' } })).toBe(true);
      expect(matches({ 'data.lines.text': { $regex: '^tax' } })).toBe(true);
      expect(matches({ 'data.note': { $not: { $regex: 'receipt' } } })).toBe(false);
      expect(matches({ 'data.note': { $not: { $regex: 'invoice', $options: 'i' } } })).toBe(true);
      expect(matches({ 'data.tags': { $elemMatch: { $regex: '^urg' } } })).toBe(true);
      expect(matches({ 'data.lines': { $elemMatch: { text: { $regex: '^hot' } } } })).toBe(true);
      expect(
        matches({ 'data.lines': { $elemMatch: { $or: [{ text: { $regex: '^x' } }, { text: { $regex: 'xi$' } }] } } }),
      ).toBe(true);
      expect(
        matches({
          'data.lines': {
            $all: [{ $elemMatch: { text: { $regex: 'tel$' } } }, { $elemMatch: { text: { $regex: '^ta' } } }],
          },
        }),
      ).toBe(true);
      expect(
        matches({
          $and: [{ $or: [{ 'data.note': { $regex: 'nope' } }, { $nor: [{ 'data.currency': { $regex: '^S' } }] }] }],
        }),
      ).toBe(true);
      expect(
        matches({
          $and: [{ $or: [{ 'data.note': { $regex: 'nope' } }, { $nor: [{ 'data.currency': { $regex: '^N' } }] }] }],
        }),
      ).toBe(false);
    });

    it('a catastrophic pattern over a 5,000-character input finishes, with the right answer', () => {
      const compiled = compileConditions({ 'data.note': { $regex: '^(a+)+$' } });
      expect(compiled.matches({ data: { note: 'a'.repeat(5000) + '!' } })).toBe(false);
      expect(compiled.matches({ data: { note: 'a'.repeat(5000) } })).toBe(true);
      expect(
        compileConditions({ 'data.note': { $not: { $regex: '(x+x+)+y' } } }).matches({
          data: { note: 'x'.repeat(5000) },
        }),
      ).toBe(true);
    });

    it('refuses what RE2 cannot run in linear time, unknown options, long or complex patterns: 400 with the path and the reason', () => {
      const field = 'rules[0].conditions';
      expect(validateConditions({ 'data.note': { $regex: '(a)\\1' } }, field)).toEqual({
        field: `${field}.data.note.$regex`,
        message: expect.stringContaining('not a valid RE2 pattern'),
      });
      expect(validateConditions({ 'data.note': { $regex: 'a(?=b)' } }, field)?.message).toContain(
        'no backreferences or lookaround',
      );
      expect(validateConditions({ 'data.note': { $regex: '(?<=a)b' } }, field)?.field).toBe(
        `${field}.data.note.$regex`,
      );
      expect(
        validateConditions({ $or: [{ a: 1 }, { 'data.note': { $not: { $regex: '(?!x)' } } }] }, field)?.field,
      ).toBe(`${field}.$or[1].data.note.$not.$regex`);
      expect(validateConditions({ 'data.note': { $regex: 'a', $options: 'ix' } }, field)).toEqual({
        field: `${field}.data.note.$options`,
        message: expect.stringContaining('option "x" is not supported'),
      });
      expect(validateConditions({ 'data.note': { $regex: 'a', $options: 'g' } }, field)?.field).toBe(
        `${field}.data.note.$options`,
      );
      expect(validateConditions({ 'data.note': { $options: 'i' } }, field)?.field).toBe(`${field}.data.note.$options`);
      expect(validateConditions({ 'data.note': { $regex: 5 } }, field)?.message).toContain('must be a string');
      expect(validateConditions({ 'data.note': { $regex: 'a'.repeat(MAX_REGEX_LENGTH) } }, field)).toBeUndefined();
      expect(
        validateConditions({ 'data.note': { $regex: 'a'.repeat(MAX_REGEX_LENGTH + 1) } }, field)?.message,
      ).toContain(`the limit for a pattern is ${MAX_REGEX_LENGTH}`);
      // Short, linear, but a huge program: ~73,000 instructions per input character.
      expect(validateConditions({ 'data.note': { $regex: '.{1000}'.repeat(73) } }, field)?.message).toContain(
        `the limit is ${MAX_REGEX_PROGRAM_SIZE}`,
      );
      const three = { $or: [1, 2, 3].map(() => ({ 'data.note': { $regex: '.{900}' } })) };
      expect(validateConditions(three, field)?.message).toContain(
        `the limit for a subscription is ${MAX_SUBSCRIPTION_REGEX_PROGRAM_SIZE}`,
      );
    });

    it('a $regex outside a field condition, or the internal operator by name, is refused rather than run', () => {
      expect(validateConditions({ 'data.note': { $eq: { $regex: '^(a+)+$' } } }, 'c')?.field).toBe(
        'c.data.note.$eq.$regex',
      );
      expect(validateConditions({ 'data.note': { $heraldRe2Regex: 'a' } }, 'c')?.field).toBe(
        'c.data.note.$heraldRe2Regex',
      );
    });
  });

  describe('size limits', () => {
    it(`nesting: ${MAX_CONDITIONS_DEPTH} levels are accepted, one more is not`, () => {
      expect(validateConditions(nestedAnd(MAX_CONDITIONS_DEPTH), 'c')).toBeUndefined();
      expect(matches(nestedAnd(MAX_CONDITIONS_DEPTH))).toBe(true);
      expect(validateConditions({ x: nestedAnd(MAX_CONDITIONS_DEPTH) }, 'c')).toEqual({
        field: 'c',
        message: `c is nested deeper than ${MAX_CONDITIONS_DEPTH} levels; that is the limit for one rule's conditions`,
      });
      expect(validateConditions(nestedAnd(1000), 'c')?.message).toContain(`deeper than ${MAX_CONDITIONS_DEPTH} levels`);
    });

    it(`values: ${MAX_CONDITIONS_NODES} are accepted, one more is not`, () => {
      // The object itself, the field's object, and the $in array hold 3 values; the rest are list entries.
      const inList = (n: number) => ({ 'data.currency': { $in: Array.from({ length: n - 3 }, (_, i) => `C${i}`) } });
      expect(validateConditions(inList(MAX_CONDITIONS_NODES), 'c')).toBeUndefined();
      expect(validateConditions(inList(MAX_CONDITIONS_NODES + 1), 'c')?.message).toContain(
        `more than ${MAX_CONDITIONS_NODES} values`,
      );
    });

    it(`bytes: more than ${MAX_CONDITIONS_BYTES} as JSON is refused`, () => {
      const long = { 'data.note': { $in: ['x'.repeat(MAX_CONDITIONS_BYTES)] } };
      expect(validateConditions(long, 'rules[2].conditions')).toEqual({
        field: 'rules[2].conditions',
        message: expect.stringContaining(`the limit for one rule's conditions is ${MAX_CONDITIONS_BYTES}`),
      });
    });
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
    const compiled = compileConditions({
      'data.amount': { $gte: 2000 },
      'data.currency': 'NOK',
      'data.note': { $regex: '^receipt', $options: 'i' },
    });
    expect(compiled.explain(envelope as never)).toEqual([
      { path: 'data.amount', expected: { $gte: 2000 }, actual: 1500 },
      { path: 'data.note', expected: { $regex: '^receipt', $options: 'i' }, actual: 'Missing receipt\nfor TAXI' },
    ]);
    expect(compiled.explain({ data: { amount: 2500, currency: 'NOK', note: 'Receipt' } })).toEqual([]);
  });

  it('refuses operators that run code, expressions or schemas; a condition that throws on an input is no match', () => {
    expect(validateConditions({ $expr: { $toInt: '$data.s' } }, 'c')).toEqual({
      field: 'c.$expr',
      message: 'c.$expr: $expr is not allowed in conditions',
    });
    expect(validateConditions({ a: { $where: 'x' } }, 'c')?.field).toBe('c.a.$where');
    expect(validateConditions({ $where: 'this.a' }, 'c')?.field).toBe('c.$where');
    expect(validateConditions({ $jsonSchema: { properties: { a: { pattern: '^(a+)+$' } } } }, 'c')?.field).toBe(
      'c.$jsonSchema',
    );
    expect(
      validateConditions({ a: { $elemMatch: { $expr: { $regexMatch: { input: '$a', regex: '^(a+)+$' } } } } }, 'c')
        ?.field,
    ).toBe('c.a.$elemMatch.$expr');
    expect(
      validateConditions({ $and: [{ $expr: { $function: { body: 'return 1', args: [], lang: 'js' } } }] }, 'c')
        ?.message,
    ).toContain('not allowed');
    const throwing = compileConditions({ 'data.__proto__.x': 1 });
    expect(throwing.matches({ data: { s: 'x' } })).toBe(false);
  });
});
