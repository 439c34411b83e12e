import { toEnvelope } from './envelope';
import { EventCatalogError, parseCatalogFile } from './event-catalog';
import type { StoredEvent } from './event.types';

const event: StoredEvent = {
  seq: 7,
  id: 'evt_1',
  type: 'claim_approved',
  version: '1',
  organisation_id: 'org_1',
  user_id: 'usr_1',
  claim_id: null,
  channel_id: null,
  data: { amount: 1 },
  occurred_at: '2026-03-26T08:14:22.000Z',
  received_at: '2026-03-26T08:14:22.100Z',
};

describe('toEnvelope', () => {
  it('uses CloudEvents attribute names with Herald extensions, omitting absent subjects', () => {
    expect(toEnvelope(event)).toEqual({
      specversion: '1.0',
      id: 'evt_1',
      type: 'claim_approved',
      source: '/organisations/org_1',
      subject: 'users/usr_1',
      time: '2026-03-26T08:14:22.000Z',
      datacontenttype: 'application/json',
      data: { amount: 1 },
      sequence: '7',
      typeversion: '1',
      organisationid: 'org_1',
      userid: 'usr_1',
    });
  });

  it('prefers the claim as subject', () => {
    expect(toEnvelope({ ...event, claim_id: 'clm_1', channel_id: 'c' }).subject).toBe('claims/clm_1');
  });
});

describe('parseCatalogFile', () => {
  it('fills defaults for a declared type', () => {
    expect(parseCatalogFile([{ type: 'invoice.paid' }], 'f.json')).toEqual([
      {
        type: 'invoice.paid',
        versions: ['1'],
        category: 'custom',
        description: '',
        conditions: [],
        token_kinds: ['user', 'app'],
        scope: 'events:read',
        schemas: { '1': { schema: null, example: expect.objectContaining({ type: 'invoice.paid', data: {} }) } },
      },
    ]);
  });

  it.each([
    [{}, /entry 0: type must match/],
    [{ type: 'x', versions: [] }, /versions must be a non-empty list/],
    [{ type: 'x', token_kinds: ['robot'] }, /token_kinds must list user and\/or app/],
    [{ type: 'x', scope: 'root' }, /scope must be one of/],
    [{ type: 'x', conditions: ['bad field'] }, /conditions must be a list of field names/],
  ])('rejects %j', (entry, message) => {
    expect(() => parseCatalogFile([entry], 'f.json')).toThrow(EventCatalogError);
    expect(() => parseCatalogFile([entry], 'f.json')).toThrow(message);
  });
});
