import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AppConfig } from '../config';
import { BUILT_IN_EVENT_TYPES, EventCatalog, EventCatalogError, parseCatalogFile } from './event-catalog';
import { compileDataSchema } from './event-data-schemas';

const catalog = new EventCatalog({ events: {} } as AppConfig);

describe('built-in data schemas', () => {
  it.each(BUILT_IN_EVENT_TYPES.map((d) => [d.type, d] as const))('%s: its example passes its schema', (_, d) => {
    for (const version of d.versions) {
      const { schema, example } = d.schemas[version];
      expect(schema).not.toBeNull();
      expect(example).toMatchObject({ type: d.type, typeversion: version, specversion: '1.0' });
      expect(catalog.dataErrors(d.type, version, example.data, 'data')).toEqual([]);
      expect(compileDataSchema(schema!)(example.data)).toBe(true);
    }
  });

  it('fixes the types of known fields and allows any other field', () => {
    expect(catalog.dataErrors('claim_approved', '1', { amount: 12.5, currency: 'EUR', anything: [1] }, 'data')).toEqual(
      [],
    );
    expect(catalog.dataErrors('claim_approved', '1', { amount: '4850', currency: 7 }, 'data')).toEqual([
      { field: 'data.amount', message: 'data.amount must be a number' },
      { field: 'data.currency', message: 'data.currency must be a string' },
    ]);
    expect(catalog.dataErrors('status_changed', '1', { comment: null }, 'data')).toEqual([]);
    expect(catalog.dataErrors('status_changed', '1', { comment: 3 }, 'events[2].data')).toEqual([
      { field: 'events[2].data.comment', message: 'events[2].data.comment must be a string or null' },
    ]);
  });

  it('checks nothing for a version without a schema', () => {
    const [declared] = parseCatalogFile([{ type: 'invoice.paid' }], 'f.json');
    expect(declared.schemas['1'].schema).toBeNull();
  });
});

describe('declared data schemas (EVENT_TYPES_FILE)', () => {
  const invoiceSchema = {
    type: 'object',
    required: ['invoice_id'],
    properties: {
      invoice_id: { type: 'string' },
      lines: { type: 'array', items: { type: 'object', properties: { qty: { type: 'integer', minimum: 1 } } } },
    },
  };

  it('applies `schema` and `example` to every version, `schemas` per version over them', () => {
    const [d] = parseCatalogFile(
      [
        {
          type: 'invoice.paid',
          versions: ['1', '2'],
          schema: invoiceSchema,
          example: { invoice_id: 'inv_1' },
          schemas: { '2': { schema: null, example: { anything: true } } },
        },
      ],
      'f.json',
    );
    expect(d.schemas['1']).toEqual({
      schema: invoiceSchema,
      example: expect.objectContaining({ type: 'invoice.paid', typeversion: '1', data: { invoice_id: 'inv_1' } }),
    });
    expect(d.schemas['2']).toEqual({
      schema: null,
      example: expect.objectContaining({ typeversion: '2', data: { anything: true } }),
    });
  });

  it('compiles declared schemas once and names nested fields by path', () => {
    const dir = mkdtempSync(join(tmpdir(), 'herald-catalog-'));
    const file = join(dir, 'types.json');
    writeFileSync(
      file,
      JSON.stringify([{ type: 'invoice.paid', schema: invoiceSchema, example: { invoice_id: 'x' } }]),
    );
    try {
      const withFile = new EventCatalog({ events: { typesFile: file } } as AppConfig);
      expect(withFile.dataErrors('invoice.paid', '1', { invoice_id: 'x', lines: [{ qty: 1 }] }, 'data')).toEqual([]);
      expect(withFile.dataErrors('invoice.paid', '1', { lines: [{ qty: 1 }, { qty: 0 }] }, 'data')).toEqual([
        { field: 'data.invoice_id', message: 'data.invoice_id is required' },
        { field: 'data.lines[1].qty', message: 'data.lines[1].qty must be >= 1' },
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it.each([
    [{ schema: [] }, /version 1: schema must be a JSON Schema object/],
    [{ schema: { type: 'objekt' } }, /version 1: schema is not a valid JSON Schema/],
    [
      { schema: { type: 'object', requried: ['a'] } },
      /version 1: schema is not a valid JSON Schema: strict mode: unknown keyword: "requried"/,
    ],
    [
      { schema: { properties: { a: { $ref: '#/definitions/a' } } } },
      /without \$ref or \$id \(found \$ref at #\/properties\/a\)/,
    ],
    [{ schema: invoiceSchema }, /version 1: example does not match the schema \(data.invoice_id is required\)/],
    [{ schema: invoiceSchema, example: { invoice_id: 1 } }, /data.invoice_id must be a string/],
    [{ example: 'x' }, /example must be an object/],
    [{ schemas: { '3': { schema: null } } }, /schemas names version 3, which versions does not list/],
    [{ schemas: [] }, /schemas must map versions/],
  ])('rejects %j', (entry, message) => {
    const parse = () => parseCatalogFile([{ type: 'invoice.paid', ...entry }], 'f.json');
    expect(parse).toThrow(EventCatalogError);
    expect(parse).toThrow(message);
  });
});
