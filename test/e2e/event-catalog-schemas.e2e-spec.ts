import Ajv from 'ajv';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { mintKey } from '../support/credentials';
import { publish } from '../support/events';
import { startTestApp, type TestApp } from '../support/test-app';

/**
 * The event catalog publishes a JSON Schema of `data` and an example per type and version, and
 * a type that declares a schema has its `data` checked on every publish: a 400 in the standard
 * envelope naming each invalid field, and nothing stored.
 */

type Json = Record<string, any>;
const ajv = new Ajv({ strict: false, allErrors: true });

async function catalogOf(t: TestApp, token: string): Promise<Json[]> {
  const res = await request(t.url).get('/api/v1/event-types').set('X-Api-Key', token);
  expect(res.status).toBe(200);
  return res.body.data;
}

describe('event catalog: data schemas', () => {
  let t: TestApp;
  let producer: string;

  beforeAll(async () => {
    t = await startTestApp();
    producer = await mintKey(t, {
      org: 'org_001',
      scopes: ['events:publish', 'events:read', 'notifications:write'],
    });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('lists a schema and an example event for every type and version, the example passing the schema', async () => {
    const catalog = await catalogOf(t, producer);
    expect(catalog.map((d) => d.type).sort()).toEqual(
      [
        'channel.follow',
        'claim_approved',
        'claim_rejected',
        'claim_submitted',
        'comment_added',
        'status_changed',
      ].sort(),
    );
    for (const definition of catalog) {
      expect(Object.keys(definition.schemas)).toEqual(definition.versions);
      for (const version of definition.versions) {
        const { schema, example } = definition.schemas[version];
        expect(schema).toMatchObject({ type: 'object', additionalProperties: true });
        expect(example).toMatchObject({
          specversion: '1.0',
          type: definition.type,
          typeversion: version,
          source: '/organisations/org_001',
          datacontenttype: 'application/json',
          sequence: expect.stringMatching(/^\d+$/),
        });
        expect({ type: definition.type, valid: ajv.validate(schema, example.data) }).toEqual({
          type: definition.type,
          valid: true,
        });
      }
    }
    const approved = catalog.find((d) => d.type === 'claim_approved')!.schemas['1'].schema;
    expect(approved.properties).toMatchObject({ amount: { type: 'number' }, currency: { type: 'string' } });
  });

  it('publishing with a wrongly typed field is a 400 naming it, and stores nothing', async () => {
    const res = await publish(t.url, producer, {
      id: 'evt-schema-1',
      type: 'claim_approved',
      data: { amount: '4850', currency: 'NOK' },
    });
    expect(res.status).toBe(400);
    expect(res.body).toEqual({
      statusCode: 400,
      error: 'Bad Request',
      message: 'Invalid data for claim_approved v1: data.amount must be a number',
      details: [{ field: 'data.amount', message: 'data.amount must be a number' }],
    });

    const two = await publish(t.url, producer, { type: 'status_changed', data: { new_status: 3, comment: false } });
    expect(two.status).toBe(400);
    expect(two.body.message).toBe('Invalid data for status_changed v1: 2 fields are invalid');
    expect(two.body.details).toEqual([
      { field: 'data.comment', message: 'data.comment must be a string or null' },
      { field: 'data.new_status', message: 'data.new_status must be a string' },
    ]);

    // Nothing was stored under the id: publishing it properly creates it now.
    const fixed = await publish(t.url, producer, {
      id: 'evt-schema-1',
      type: 'claim_approved',
      data: { amount: 4850, currency: 'NOK' },
    });
    expect(fixed.status).toBe(201);
  });

  it('in a batch, names the event and stores none of the batch', async () => {
    const events = [
      { id: 'evt-batch-ok', type: 'claim_submitted', data: { amount: 10, currency: 'EUR' } },
      { id: 'evt-batch-bad', type: 'comment_added', data: { comment: { text: 'not a string' } } },
    ];
    const res = await request(t.url).post('/api/v1/events/batch').set('X-Api-Key', producer).send({ events });
    expect(res.status).toBe(400);
    expect(res.body.details).toEqual([
      { field: 'events[1].data.comment', message: 'events[1].data.comment must be a string or null' },
    ]);
    const again = await request(t.url)
      .post('/api/v1/events/batch')
      .set('X-Api-Key', producer)
      .send({ events: [events[0]] });
    expect(again.status).toBe(201);
    expect(again.body.created).toBe(1);
  });

  it('allows every field the schema does not name, and null comments', async () => {
    for (const [type, data] of [
      ['claim_approved', { amount: 12.5, currency: 'EUR', approver: 'usr_1', note: 5, extra: { nested: [1] } }],
      ['status_changed', { new_status: 'approved', comment: null, i: 1 }],
      ['channel.follow', { follower: 'usr_carol', since: '2026-03-26' }],
      ['comment_added', {}],
    ] as const) {
      const res = await publish(t.url, producer, { type, data });
      expect({ type, status: res.status }).toEqual({ type, status: 201 });
    }
  });

  it("an approval notification's events pass their types' schemas", async () => {
    const sent = await request(t.url).post('/api/v1/approval-notifications').set('X-Api-Key', producer).send({
      claim_id: 'clm_schema',
      new_status: 'approved',
      recipient_user_id: 'usr_84cd12ef',
      comment: 'All receipts verified.',
      amount: 4850.5,
      currency: 'nok',
    });
    expect(sent.status).toBe(201);
    const catalog = await catalogOf(t, producer);
    const events = (
      await request(t.url)
        .get('/api/v1/events?after=0&limit=1000&type=status_changed,claim_approved')
        .set('X-Api-Key', producer)
    ).body.data.filter((e: Json) => e.claim_id === 'clm_schema');
    expect(events.map((e: Json) => e.type).sort()).toEqual(['claim_approved', 'status_changed']);
    for (const event of events) {
      const { schema } = catalog.find((d) => d.type === event.type)!.schemas[event.version];
      expect({ type: event.type, valid: ajv.validate(schema, event.data), errors: ajv.errors }).toMatchObject({
        valid: true,
      });
      expect(event.data).toMatchObject({ amount: 4850.5, currency: 'NOK', comment: 'All receipts verified.' });
    }
  });
});

describe('event catalog: schemas declared in EVENT_TYPES_FILE', () => {
  let t: TestApp;
  let producer: string;
  let dir: string;
  const invoiceSchema = {
    type: 'object',
    required: ['invoice_id', 'amount'],
    properties: {
      invoice_id: { type: 'string' },
      amount: { type: 'number', minimum: 0 },
      lines: { type: 'array', items: { type: 'object', properties: { qty: { type: 'integer' } } } },
    },
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'herald-types-'));
    const file = join(dir, 'types.json');
    writeFileSync(
      file,
      JSON.stringify([
        {
          type: 'invoice.paid',
          versions: ['1', '2'],
          category: 'invoices',
          description: 'An invoice was paid',
          schema: invoiceSchema,
          example: { invoice_id: 'inv_1', amount: 120 },
          schemas: { '2': { schema: null } },
        },
        { type: 'invoice.noted' },
      ]),
    );
    t = await startTestApp({ env: { EVENT_TYPES_FILE: file } });
    producer = await mintKey(t, { org: 'org_001', scopes: ['events:publish', 'events:read'] });
  });
  afterAll(async () => {
    await t?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('lists the declared schema and example per version', async () => {
    const catalog = await catalogOf(t, producer);
    const paid = catalog.find((d) => d.type === 'invoice.paid')!;
    expect(paid.schemas['1']).toEqual({
      schema: invoiceSchema,
      example: expect.objectContaining({
        type: 'invoice.paid',
        typeversion: '1',
        data: { invoice_id: 'inv_1', amount: 120 },
      }),
    });
    expect(paid.schemas['2']).toMatchObject({ schema: null, example: { typeversion: '2' } });
    expect(catalog.find((d) => d.type === 'invoice.noted')!.schemas).toEqual({
      '1': { schema: null, example: expect.objectContaining({ type: 'invoice.noted', data: {} }) },
    });
    // The AsyncAPI document describes the declared type with its schema.
    const doc = (await request(t.url).get('/asyncapi.json')).body;
    expect(doc.components.schemas['invoice.paid.v1.data']).toEqual(invoiceSchema);
    expect(doc.components.messages['event.invoice.paid']).toMatchObject({ name: 'invoice.paid' });
  });

  it('checks data against the version it is published as', async () => {
    const bad = await request(t.url)
      .post('/api/v1/events')
      .set('X-Api-Key', producer)
      .send({ type: 'invoice.paid', version: '1', data: { amount: -1, lines: [{ qty: 1 }, { qty: '2' }] } });
    expect(bad.status).toBe(400);
    expect(bad.body.details).toEqual([
      { field: 'data.invoice_id', message: 'data.invoice_id is required' },
      { field: 'data.amount', message: 'data.amount must be >= 0' },
      { field: 'data.lines[1].qty', message: 'data.lines[1].qty must be an integer' },
    ]);
    const v1 = await request(t.url)
      .post('/api/v1/events')
      .set('X-Api-Key', producer)
      .send({ type: 'invoice.paid', version: '1', data: { invoice_id: 'inv_9', amount: 0 } });
    expect(v1.status).toBe(201);
    // Version 2 (the default: the latest) declares no schema; a version with none accepts any object.
    const v2 = await publish(t.url, producer, { type: 'invoice.paid', data: { amount: 'free' } });
    expect(v2.status).toBe(201);
    expect(v2.body.version).toBe('2');
    expect((await publish(t.url, producer, { type: 'invoice.noted', data: { anything: [1, 'a'] } })).status).toBe(201);
  });
});
