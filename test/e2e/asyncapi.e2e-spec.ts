import { DiagnosticSeverity, Parser } from '@asyncapi/parser';
import Ajv, { type ValidateFunction } from 'ajv';
import { io, type Socket } from 'socket.io-client';
import request from 'supertest';
import { publish } from '../support/events';
import { waitFor } from '../support/sockets';
import { startTestApp, type TestApp } from '../support/test-app';
import { connectWs, type WsConnection } from '../support/ws-client';

/**
 * The AsyncAPI document at /asyncapi.json is valid AsyncAPI 3 and true: every message a real
 * Socket.IO or WebSocket client receives here, and every frame and handshake it sends, validates
 * against the payload of the message of that name in the document (in the operation of the right
 * direction), and what the server refuses the document does not allow either.
 */

type Json = Record<string, any>;
type Action = 'send' | 'receive';

const CHANNELS = {
  socketIoDefault: 'socketIoDefaultNamespace',
  socketIoChannel: 'socketIoChannelNamespace',
  wsSubscribe: 'websocketSubscribe',
  wsChannel: 'websocketChannel',
};
const CLAIM_TYPES = ['claim_submitted', 'claim_approved', 'claim_rejected', 'status_changed', 'comment_added'];
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;
const USER = 'usr_84cd12ef';

/** The document's messages, looked up by channel, direction (Herald's: send / receive) and name. */
class Contract {
  private readonly ajv = new Ajv({ strict: false, allErrors: true, validateSchema: false });
  private readonly validators = new Map<string, ValidateFunction>();

  constructor(readonly doc: Json) {
    this.ajv.addFormat('date-time', (s: string) => RFC3339.test(s) && !Number.isNaN(Date.parse(s)));
    this.ajv.addSchema(doc, 'asyncapi.json');
  }

  /** Keys (in components.messages) of the messages of `channel`'s operations of `action`. */
  keys(channel: string, action: Action): string[] {
    return Object.values<Json>(this.doc.operations)
      .filter((op) => op.action === action && op.channel.$ref === `#/channels/${channel}`)
      .flatMap((op) => op.messages.map((m: Json) => String(m.$ref).split('/').pop()!));
  }

  names(channel: string, action: Action): string[] {
    return this.keys(channel, action).map((key) => this.doc.components.messages[key].name);
  }

  /** The one message named `name`, or a failure naming the ones there are. */
  key(channel: string, action: Action, name: string): string {
    const found = this.keys(channel, action).filter((key) => this.doc.components.messages[key].name === name);
    if (found.length !== 1)
      throw new Error(
        `${channel} ${action}: ${found.length} messages named ${name} (has ${this.names(channel, action).join(', ')})`,
      );
    return found[0];
  }

  validator(key: string): ValidateFunction {
    let validate = this.validators.get(key);
    if (!validate) {
      validate = this.ajv.compile({ $ref: `asyncapi.json#/components/messages/${key}/payload` });
      this.validators.set(key, validate);
    }
    return validate;
  }

  /** Whether `payload` is a valid `name` message of the channel (false for a name it does not have). */
  allows(channel: string, action: Action, name: string, payload: unknown): boolean {
    const key = this.keys(channel, action).find((k) => this.doc.components.messages[k].name === name);
    return key !== undefined && this.validator(key)(payload) === true;
  }

  /** Fails, saying why, unless `payload` is a valid `name` message of the channel. */
  check(channel: string, action: Action, name: string, payload: unknown): void {
    const validate = this.validator(this.key(channel, action, name));
    if (!validate(payload)) {
      const why = (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message}`).join('; ');
      throw new Error(`${channel} ${action} ${name} does not match the document: ${why}\n${JSON.stringify(payload)}`);
    }
  }
}

/** Everything a socket.io-client received, by event name, from before it connected. */
function openSocket(url: string, auth: Json): { socket: Socket; got: { event: string; payload: any }[] } {
  const socket = io(url, { transports: ['websocket'], reconnection: false, forceNew: true, autoConnect: false, auth });
  const got: { event: string; payload: any }[] = [];
  socket.onAny((event: string, payload: unknown) => got.push({ event, payload }));
  return { socket, got };
}

function connected(socket: Socket): Promise<void> {
  return new Promise((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('connect_error', reject);
    socket.connect();
  });
}

function refused(socket: Socket): Promise<{ message: string; data: unknown }> {
  return new Promise((resolve, reject) => {
    socket.once('connect', () => reject(new Error('connected')));
    socket.once('connect_error', (err: Error & { data?: unknown }) => {
      socket.close();
      resolve({ message: err.message, data: err.data });
    });
    socket.connect();
  });
}

describe('AsyncAPI document', () => {
  let t: TestApp;
  let doc: Json;
  let contract: Contract;
  let app: string;
  let catalog: Json[];
  const sockets: Socket[] = [];
  const conns: WsConnection[] = [];

  async function key(body: Json): Promise<{ key_id: string; token: string }> {
    const res = await request(t.url).post('/api/v1/api-keys').set('X-Api-Key', t.operatorToken).send(body);
    expect(res.status).toBe(201);
    return res.body;
  }

  const revoke = async (keyId: string) =>
    expect((await request(t.url).delete(`/api/v1/api-keys/${keyId}`).set('X-Api-Key', t.operatorToken)).status).toBe(
      200,
    );

  async function channel(): Promise<{ channel_id: string; websocket_url: string }> {
    const res = await request(t.url)
      .post('/api/v1/realtime-subscriptions/organisation')
      .set('X-Api-Key', app)
      .send({ organisation_id: 'org_001', event_types: CLAIM_TYPES });
    expect(res.status).toBe(201);
    return res.body;
  }

  /** Publishes one event of `type` with the catalog's example data, about USER. */
  async function publishExample(type: string): Promise<Json> {
    const definition = catalog.find((d) => d.type === type)!;
    const example = definition.schemas[definition.versions.at(-1)].example;
    const res = await publish(t.url, app, {
      type,
      user_id: USER,
      ...(example.claimid ? { claim_id: example.claimid } : {}),
      ...(example.channelid ? { channel_id: example.channelid } : {}),
      data: example.data,
    });
    expect(res.status).toBe(201);
    return res.body;
  }

  /** Sends a client frame, first checking the document describes it. */
  function sendFrame(conn: WsConnection, channel: string, frame: Json): void {
    contract.check(channel, 'receive', frame.action, frame);
    conn.ws.send(JSON.stringify(frame));
  }

  beforeAll(async () => {
    t = await startTestApp();
    const res = await request(t.url).get('/asyncapi.json');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    doc = res.body;
    contract = new Contract(doc);
    app = (
      await key({
        kind: 'app',
        organisation_id: 'org_001',
        scopes: ['events:publish', 'events:read', 'notifications:write', 'subscriptions:write'],
        workspace_ids: ['ws_finance'],
      })
    ).token;
    catalog = (await request(t.url).get('/api/v1/event-types').set('X-Api-Key', app)).body.data;
  });

  afterAll(async () => {
    for (const s of sockets) s.close();
    for (const c of conns) c.ws.terminate();
    await t?.close();
  });

  it('is AsyncAPI 3.0 that @asyncapi/parser reads without errors', async () => {
    expect(doc.asyncapi).toBe('3.0.0');
    const { document, diagnostics } = await new Parser().parse(JSON.stringify(doc));
    expect(
      diagnostics
        .filter((d) => d.severity === DiagnosticSeverity.Error)
        .map((d) => `${d.path.join('.')}: ${d.message}`),
    ).toEqual([]);
    expect(document).toBeDefined();
    expect(
      document!
        .channels()
        .all()
        .map((c) => c.address()),
    ).toEqual(['/', '/channels/{channel_id}', '/api/v1/ws/subscribe', '/channels/{channel_id}']);
    // Where clients connect: PUBLIC_WS_URL.
    expect(doc.servers.websocket).toMatchObject({ host: `127.0.0.1:${t.port}`, protocol: 'ws' });
    expect(doc.components.schemas.CloudEventsEnvelope.properties).toHaveProperty('sequence');
  });

  it('has one message per catalog type, with its data schema, and examples that validate', () => {
    expect(catalog.map((d) => d.type).sort()).toEqual([...CLAIM_TYPES, 'channel.follow'].sort());
    for (const definition of catalog) {
      for (const version of definition.versions) {
        const { example } = definition.schemas[version];
        contract.check(CHANNELS.socketIoDefault, 'send', definition.type, example);
        // The type's data schema is part of its message: a wrongly typed field does not pass.
        if (definition.type !== 'channel.follow') {
          const wrong = { ...example, data: { ...example.data, amount: '4850' } };
          expect(contract.allows(CHANNELS.socketIoDefault, 'send', definition.type, wrong)).toBe(false);
        }
        expect(contract.allows(CHANNELS.socketIoDefault, 'send', definition.type, { ...example, type: 'other' })).toBe(
          false,
        );
      }
    }
    expect(
      contract
        .names(CHANNELS.socketIoChannel, 'send')
        .filter((n) => CLAIM_TYPES.includes(n))
        .sort(),
    ).toEqual([...CLAIM_TYPES].sort());
    // Every example the document gives is a valid instance of its message.
    let examples = 0;
    for (const [key, message] of Object.entries<Json>(doc.components.messages)) {
      for (const { payload } of message.examples ?? []) {
        const validate = contract.validator(key);
        expect({ key, valid: validate(payload), errors: validate.errors }).toMatchObject({ key, valid: true });
        examples++;
      }
    }
    expect(examples).toBeGreaterThan(catalog.length);
  });

  it('Socket.IO default namespace: events, a test event, a notification, closing and a refused handshake', async () => {
    const user = await key({
      kind: 'user',
      organisation_id: 'org_001',
      user_id: USER,
      scopes: ['events:read'],
      workspace_ids: ['ws_finance'],
    });
    const auth = { token: user.token, rooms: ['desk'] };
    contract.check(CHANNELS.socketIoDefault, 'receive', 'handshake', auth);
    const userSocket = openSocket(t.url, auth);
    const appSocket = openSocket(t.url, { token: app });
    sockets.push(userSocket.socket, appSocket.socket);
    await connected(userSocket.socket);
    await connected(appSocket.socket);

    const published: Json[] = [];
    for (const definition of catalog) published.push(await publishExample(definition.type));
    const notification = await request(t.url).post('/api/v1/approval-notifications').set('X-Api-Key', app).send({
      claim_id: 'clm_9f2a3b4c',
      new_status: 'approved',
      recipient_user_id: USER,
      comment: 'All receipts verified.',
      amount: 4850,
      currency: 'NOK',
    });
    expect(notification.status).toBe(201);
    // A workspace subscription test's copy: no sequence, `test: true`.
    const tested = await request(t.url)
      .post('/api/v2/subscriptions/test')
      .set('X-Api-Key', app)
      .set('X-Workspace-Id', 'ws_finance')
      .send({
        draft: {
          rules: [{ trigger: 'comment_added', conditions: {} }],
          resources: ['claims/*'],
          actions: [{ type: 'socket' }],
        },
        mode: 'send',
        input: { type: 'comment_added', claim_id: 'clm_test', user_id: USER, data: { comment: 'Testing' } },
      });
    expect(tested.status).toBe(200);

    await waitFor('every type on the app socket', () =>
      published.every((e) => appSocket.got.some((m) => m.payload?.id === e.id)),
    );
    await waitFor('the notification and the test event on the user socket', () =>
      ['notification', 'comment_added'].every((name) =>
        userSocket.got.some((m) => m.event === name && (name !== 'comment_added' || m.payload.test)),
      ),
    );
    await revoke(user.key_id);
    await waitFor('closing', () => userSocket.got.some((m) => m.event === 'closing'));

    expect(userSocket.got.find((m) => m.event === 'closing')!.payload).toEqual({
      reason: 'API key revoked',
      code: 'credential_revoked',
    });
    expect(userSocket.got.find((m) => m.event === 'comment_added' && m.payload.test)!.payload).not.toHaveProperty(
      'sequence',
    );
    const names = new Set([...userSocket.got, ...appSocket.got].map((m) => m.event));
    expect([...names].sort()).toEqual([...catalog.map((d) => d.type), 'notification', 'closing'].sort());
    for (const m of [...userSocket.got, ...appSocket.got])
      contract.check(CHANNELS.socketIoDefault, 'send', m.event, m.payload);

    const refusal = await refused(openSocket(t.url, { token: 'hrld_not_a_key' }).socket);
    expect(refusal.data).toMatchObject({ code: 401 });
    contract.check(CHANNELS.socketIoDefault, 'send', 'connect_error', refusal);
  });

  it('Socket.IO channel namespace: welcome, replayed and live events, closing, and a refusal', async () => {
    const { channel_id, websocket_url } = await channel();
    const before = await publishExample('claim_submitted');
    const auth = { token: app, last_seq: before.seq - 1 };
    contract.check(CHANNELS.socketIoChannel, 'receive', 'handshake', auth);
    const { socket, got } = openSocket(websocket_url, auth);
    sockets.push(socket);
    await connected(socket);
    await waitFor('the replayed event', () => got.some((m) => m.payload?.id === before.id));
    const live = await publishExample('claim_rejected');
    await waitFor('the live event', () => got.some((m) => m.payload?.id === live.id));
    expect(
      (await request(t.url).delete(`/api/v1/realtime-subscriptions/${channel_id}`).set('X-Api-Key', app)).status,
    ).toBe(200);
    await waitFor('closing', () => got.some((m) => m.event === 'closing'));

    expect(got[0]).toEqual({
      event: 'welcome',
      payload: { channel_id, resume_after: before.seq - 1, from_seq: before.seq, complete: true },
    });
    expect(got.map((m) => m.event)).toEqual(['welcome', 'claim_submitted', 'claim_rejected', 'closing']);
    for (const m of got) contract.check(CHANNELS.socketIoChannel, 'send', m.event, m.payload);

    const missing = websocket_url.replace(/chan_\w+$/, 'chan_00000000000000000000000000');
    const refusal = await refused(openSocket(missing, { token: app }).socket);
    expect(refusal.data).toMatchObject({ code: 404 });
    contract.check(CHANNELS.socketIoChannel, 'send', 'connect_error', refusal);
    const badSeq = await channel();
    const badRefusal = await refused(openSocket(badSeq.websocket_url, { token: app, last_seq: 'yesterday' }).socket);
    expect(badRefusal.data).toMatchObject({ code: 400 });
    contract.check(CHANNELS.socketIoChannel, 'send', 'connect_error', badRefusal);
    // What the server refuses, the document does not allow.
    expect(contract.allows(CHANNELS.socketIoChannel, 'receive', 'handshake', { last_seq: 'yesterday' })).toBe(false);
  });

  it('WebSocket /api/v1/ws/subscribe: every server frame and client frame', async () => {
    const own = await key({ kind: 'app', organisation_id: 'org_001', scopes: ['events:read'] });
    const ch = CHANNELS.wsSubscribe;
    const conn = await connectWs(`${t.url}/api/v1/ws/subscribe?event_types=claim_approved`, {
      headers: { 'X-Api-Key': own.token },
    });
    conns.push(conn);
    await conn.next((f) => f.type === 'welcome', 'welcome');
    sendFrame(conn, ch, { action: 'subscribe', event_types: ['comment_added'] });
    await conn.next((f) => f.type === 'subscriptions', 'subscriptions');
    sendFrame(conn, ch, { action: 'unsubscribe', event_types: ['comment_added'] });
    await conn.next((f) => f.type === 'subscriptions' && f.event_types.length === 1, 'subscriptions again');
    sendFrame(conn, ch, { action: 'ping' });
    await conn.next((f) => f.type === 'pong', 'pong');
    const event = await publishExample('claim_approved');
    await conn.next((f) => f.type === 'event' && f.event.id === event.id, 'event');

    // Frames the server answers with an error, which the document does not allow either.
    const unknownType = { action: 'subscribe', event_types: ['claim_exploded'] };
    expect(contract.allows(ch, 'receive', 'subscribe', unknownType)).toBe(false);
    conn.ws.send(JSON.stringify(unknownType));
    await conn.next((f) => f.type === 'error' && f.code === 'unknown_event_types', 'unknown_event_types');
    expect(contract.allows(ch, 'receive', 'dance', { action: 'dance' })).toBe(false);
    conn.ws.send(JSON.stringify({ action: 'dance' }));
    await conn.next((f) => f.type === 'error' && f.code === 'unknown_action', 'unknown_action');
    conn.ws.send('{not json');
    await conn.next((f) => f.type === 'error' && f.code === 'bad_json', 'bad_json');
    conn.ws.send(Buffer.from([1, 2, 3]));
    await conn.next((f) => f.type === 'error' && f.code === 'bad_frame', 'bad_frame');

    await revoke(own.key_id);
    expect(await conn.closed).toEqual({ code: 1008, reason: 'API key revoked' });
    expect(conn.frames.map((f) => f.type)).toEqual([
      'welcome',
      'subscriptions',
      'subscriptions',
      'pong',
      'event',
      'error',
      'error',
      'error',
      'error',
      'closed',
    ]);
    for (const frame of conn.frames) contract.check(ch, 'send', frame.type, frame);
    expect(contract.names(ch, 'send').sort()).toEqual(
      ['closed', 'error', 'event', 'pong', 'subscriptions', 'welcome'].sort(),
    );
  });

  it('WebSocket /channels/<id>: welcome, replayed event, pong, error and closed', async () => {
    const ch = CHANNELS.wsChannel;
    const { channel_id, websocket_url } = await channel();
    const before = await publishExample('status_changed');
    const conn = await connectWs(`${websocket_url.replace(/^ws/, 'http')}?last_seq=${before.seq - 1}`, {
      headers: { 'X-Api-Key': app },
    });
    conns.push(conn);
    await conn.next((f) => f.type === 'event' && f.event.id === before.id, 'replayed event');
    sendFrame(conn, ch, { action: 'ping' });
    await conn.next((f) => f.type === 'pong', 'pong');
    const subscribe = { action: 'subscribe', event_types: ['claim_approved'] };
    expect(contract.allows(ch, 'receive', 'subscribe', subscribe)).toBe(false);
    conn.ws.send(JSON.stringify(subscribe));
    await conn.next((f) => f.type === 'error', 'unknown_action');
    expect(
      (await request(t.url).delete(`/api/v1/realtime-subscriptions/${channel_id}`).set('X-Api-Key', app)).status,
    ).toBe(200);
    expect((await conn.closed).code).toBe(1000);

    expect(conn.frames.map((f) => f.type)).toEqual(['welcome', 'event', 'pong', 'error', 'closed']);
    expect(conn.frames[3]).toMatchObject({ code: 'unknown_action' });
    for (const frame of conn.frames) contract.check(ch, 'send', frame.type, frame);
    expect(contract.names(ch, 'receive')).toEqual(['ping']);
  });

  it('at shutdown: the closing notice and the closed frame', async () => {
    const { socket, got } = openSocket(t.url, { token: app });
    sockets.push(socket);
    await connected(socket);
    const { websocket_url } = await channel();
    const channelSocket = openSocket(websocket_url, { token: app });
    sockets.push(channelSocket.socket);
    await connected(channelSocket.socket);
    // The welcome follows the connect once the channel's log has been read; a shutdown before it
    // would leave the channel socket with only the notice.
    await waitFor('the channel welcome', () => channelSocket.got.some((m) => m.event === 'welcome'));
    const conn = await connectWs(`${t.url}/api/v1/ws/subscribe`, { headers: { 'X-Api-Key': app } });
    conns.push(conn);
    await conn.next((f) => f.type === 'welcome', 'welcome');

    await t.close();

    expect(await conn.closed).toEqual({ code: 1001, reason: 'server shutting down' });
    expect(conn.frames.at(-1)).toEqual({ type: 'closed', reason: 'server shutting down' });
    for (const frame of conn.frames) contract.check(CHANNELS.wsSubscribe, 'send', frame.type, frame);
    const shutdown = { event: 'closing', payload: { reason: 'server shutting down', code: 'server_shutdown' } };
    await waitFor('closing on both sockets', () => got.length > 0 && channelSocket.got.length > 1, 5000);
    expect(got).toEqual([shutdown]);
    expect(channelSocket.got.at(-1)).toEqual(shutdown);
    contract.check(CHANNELS.socketIoDefault, 'send', 'closing', got[0].payload);
    for (const m of channelSocket.got) contract.check(CHANNELS.socketIoChannel, 'send', m.event, m.payload);
  });
});
