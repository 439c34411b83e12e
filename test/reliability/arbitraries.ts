import fc from 'fast-check';
import { OpenApiDocument, resolve, Schema } from './contract';

/** Strings that have broken parsers, ORMs and routers before. */
export const NASTY_STRINGS = [
  '',
  ' ',
  '\u0000',
  '\u202e',
  '💥',
  '../../etc/passwd',
  '%00',
  '%ZZ',
  "' OR 1=1 --",
  '"; DROP TABLE events; --',
  '{"$gt":""}',
  '$where',
  '__proto__',
  'constructor',
  'null',
  'undefined',
  'NaN',
  'Infinity',
  '-1',
  '0',
  '1e400',
  '99999999999999999999999999',
  '9223372036854775808',
  '-9223372036854775809',
  '0x10',
  '2026-13-45T99:99:99Z',
  '2026-W12-1',
  '2026-03-26T08:14:22Z',
  'true',
  '*',
  'org_*',
  'claims/*',
  'http://169.254.169.254/latest/meta-data/',
  'http://[::ffff:127.0.0.1]/',
  'javascript:alert(1)',
  'a'.repeat(300),
  // Over Node's 16 KiB header limit when it lands in a query string or header.
  'x'.repeat(20_000),
];

export const nastyString = fc.constantFrom(...NASTY_STRINGS);
export const someString = fc.oneof(
  { weight: 3, arbitrary: fc.string({ maxLength: 40 }) },
  { weight: 2, arbitrary: nastyString },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 20 }) },
);

const nastyNumber = fc.constantFrom(
  0,
  -1,
  1,
  0.5,
  -0.0001,
  1e21,
  2 ** 53 + 1,
  2 ** 63,
  -(2 ** 63),
  Number.MAX_VALUE,
  1e-300,
);
const anyJson = fc.jsonValue({ maxDepth: 3 });

/** Any value at all, for replacing a well-typed one. */
const wrongValue: fc.Arbitrary<unknown> = fc.oneof(
  anyJson,
  nastyString,
  nastyNumber,
  fc.constantFrom(null, [], {}, true, false),
);

/**
 * Values shaped by a JSON schema from the OpenAPI document, each part sometimes replaced by
 * something of the wrong type or a nasty value, and objects sometimes given unknown keys —
 * so most cases get past the outer validation and test what is behind it.
 */
export function fromSchema(doc: OpenApiDocument, raw: Schema | undefined, depth = 0): fc.Arbitrary<unknown> {
  const schema = raw ? resolve(doc, raw) : {};
  if (depth > 4) return anyJson;
  const shaped = shapedBy(doc, schema, depth);
  return fc.oneof({ weight: 6, arbitrary: shaped }, { weight: 1, arbitrary: wrongValue });
}

function shapedBy(doc: OpenApiDocument, schema: Schema, depth: number): fc.Arbitrary<unknown> {
  if (Array.isArray(schema.enum) && schema.enum.length) return fc.oneof(fc.constantFrom(...schema.enum), someString);
  const sub = schema.allOf?.[0] ?? schema.oneOf?.[0] ?? schema.anyOf?.[0];
  if (sub) return fromSchema(doc, sub, depth + 1);
  const example = schema.example !== undefined ? [fc.constant(schema.example)] : [];
  switch (schema.type) {
    case 'string':
      return fc.oneof(
        ...example,
        someString,
        ...(schema.format === 'date-time' ? [fc.date({ noInvalidDate: true }).map((d) => d.toISOString())] : []),
      );
    case 'integer':
      return fc.oneof(...example, fc.integer({ min: schema.minimum ?? -5, max: schema.maximum ?? 1000 }), nastyNumber);
    case 'number':
      return fc.oneof(...example, fc.double({ noNaN: true, noDefaultInfinity: true }), nastyNumber);
    case 'boolean':
      return fc.oneof(fc.boolean(), fc.constantFrom('true', 1, 'yes'));
    case 'array':
      return fc.oneof(
        ...example,
        fc.array(fromSchema(doc, schema.items, depth + 1), {
          maxLength: schema.maxItems ? Math.min(schema.maxItems + 2, 8) : 6,
        }),
      );
    case 'object':
    case undefined: {
      const props = (schema.properties ?? {}) as Record<string, Schema>;
      const keys = Object.keys(props);
      if (!keys.length)
        return fc.oneof(
          ...example,
          fc.dictionary(fc.oneof(someString, fc.constantFrom('$gt', '$where', '$expr', 'data.amount')), anyJson, {
            maxKeys: 4,
          }),
        );
      const required: string[] = schema.required ?? [];
      const record = fc.record(
        Object.fromEntries(keys.map((k) => [k, fromSchema(doc, props[k], depth + 1)])),
        // Usually send the required keys, so validation of the rest is reached.
        { requiredKeys: required.filter((k) => keys.includes(k)) },
      );
      const withoutRequired = fc.record(
        Object.fromEntries(keys.map((k) => [k, fromSchema(doc, props[k], depth + 1)])),
        { requiredKeys: [] },
      );
      const withExtra = fc
        .tuple(record, someString, anyJson)
        .map(([r, k, v]) => ({ ...(r as object), [k || 'extra']: v }));
      return fc.oneof(
        { weight: 6, arbitrary: record },
        { weight: 1, arbitrary: withoutRequired },
        { weight: 1, arbitrary: withExtra },
        ...example.map((e) => ({ weight: 1, arbitrary: e })),
      );
    }
    default:
      return anyJson;
  }
}
