import { BUILT_IN_EVENT_TYPES, parseCatalogFile } from '../core/event-log/event-catalog';
import { buildAsyncApiDocument, CHANNELS, eventMessageKey } from './asyncapi-document';

type Json = Record<string, any>;

describe('buildAsyncApiDocument', () => {
  it('points its servers at PUBLIC_WS_URL, path and scheme included', () => {
    const doc = buildAsyncApiDocument({
      publicWsUrl: 'wss://herald.example.com/realtime/',
      catalog: BUILT_IN_EVENT_TYPES,
    }) as Json;
    for (const name of ['socketio', 'websocket'])
      expect(doc.servers[name]).toMatchObject({ host: 'herald.example.com', pathname: '/realtime', protocol: 'wss' });
    const local = buildAsyncApiDocument({ publicWsUrl: 'ws://localhost:3000', catalog: BUILT_IN_EVENT_TYPES }) as Json;
    expect(local.servers.websocket).toEqual(expect.objectContaining({ host: 'localhost:3000', protocol: 'ws' }));
    expect(local.servers.websocket).not.toHaveProperty('pathname');
  });

  it('keeps a declared type apart from the fixed messages of the same name', () => {
    const catalog = [...BUILT_IN_EVENT_TYPES, ...parseCatalogFile([{ type: 'notification' }], 'f.json')];
    const doc = buildAsyncApiDocument({ publicWsUrl: 'ws://localhost:3000', catalog }) as Json;
    const messages = doc.channels[CHANNELS.socketIoDefault].messages;
    expect(messages).toHaveProperty([eventMessageKey('notification')]);
    expect(messages).toHaveProperty(['socketio.notification']);
    expect(doc.components.messages[eventMessageKey('notification')].payload.allOf[1].properties.type).toEqual({
      const: 'notification',
    });
  });

  it("describes a type's versions, each with its own data schema", () => {
    const [declared] = parseCatalogFile(
      [
        {
          type: 'invoice.paid',
          versions: ['1', '2'],
          schema: { type: 'object', properties: { amount: { type: 'number' } } },
          schemas: { '1': { schema: null } },
        },
      ],
      'f.json',
    );
    const doc = buildAsyncApiDocument({ publicWsUrl: 'ws://localhost:3000', catalog: [declared] }) as Json;
    const typed = doc.components.messages['event.invoice.paid'].payload.allOf[1];
    expect(typed.properties.typeversion).toEqual({ enum: ['1', '2'] });
    expect(typed.oneOf).toEqual([
      { type: 'object', properties: { typeversion: { const: '1' }, data: { type: 'object' } } },
      {
        type: 'object',
        properties: { typeversion: { const: '2' }, data: { $ref: '#/components/schemas/invoice.paid.v2.data' } },
      },
    ]);
    expect(doc.components.schemas['invoice.paid.v2.data']).toEqual(declared.schemas['2'].schema);
    expect(doc.components.messages['event.invoice.paid'].examples.map((e: Json) => e.name)).toEqual(['v1', 'v2']);
  });
});
