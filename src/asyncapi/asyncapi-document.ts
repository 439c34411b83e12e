import { CLAIM_EVENT_TYPES, type EventTypeDefinition } from '../core/event-log/event-catalog';
import { PING } from '../core/gateway/client-frames';
import {
  CHANNEL_HANDSHAKE_SCHEMA,
  channelServerFrames,
  CONNECT_ERROR_SCHEMA,
  DEFAULT_HANDSHAKE_SCHEMA,
  ENVELOPE_SCHEMA,
  ENVELOPE_SCHEMA_NAME,
  PING_FRAME,
  type Schema,
  SOCKET_IO_NOTICES,
  subscriberClientFrames,
  subscriberServerFrames,
} from './wire-schemas';

/**
 * Herald's AsyncAPI 3.0 document: what it sends and takes over Socket.IO (the default namespace
 * and the `/channels/<id>` namespaces) and over raw WebSockets (`/api/v1/ws/subscribe` and
 * `/channels/<id>`). Event messages come from the event catalog (one per type, its `data` schema
 * per version), frames and notices from wire-schemas.ts. Channels, operations and messages are
 * keyed so that a client can find a message by its Socket.IO event name or frame `type` /
 * `action`: the message's `name`.
 */
export interface AsyncApiOptions {
  /** PUBLIC_WS_URL: where clients reach Herald's sockets. */
  publicWsUrl: string;
  catalog: EventTypeDefinition[];
}

type Json = Record<string, unknown>;

/** Ids of the four channels, for clients and tests that look them up. */
export const CHANNELS = {
  socketIoDefault: 'socketIoDefaultNamespace',
  socketIoChannel: 'socketIoChannelNamespace',
  wsSubscribe: 'websocketSubscribe',
  wsChannel: 'websocketChannel',
} as const;

const ref = (path: string) => ({ $ref: path });
const schemaRef = (name: string) => ref(`#/components/schemas/${name}`);

/** The key of an event type's message: its type, under a prefix no fixed message uses. */
export const eventMessageKey = (type: string) => `event.${type}`;
const dataSchemaKey = (type: string, version: string) => `${type}.v${version}.data`;

interface Message {
  key: string;
  message: Json;
}

function message(key: string, name: string, title: string, payload: Schema, example?: unknown): Message {
  return {
    key,
    message: {
      name,
      title,
      ...(typeof payload.description === 'string' ? { summary: payload.description } : {}),
      contentType: 'application/json',
      payload,
      ...(example === undefined ? {} : { examples: [{ name: 'example', payload: example }] }),
    },
  };
}

/** Frames that differ between the two raw paths get a key per path; the others one key. */
const PER_PATH_FRAMES = new Set(['welcome', 'error']);

function frameMessages(path: 'subscriber' | 'channel', frames: Record<string, Schema>): Message[] {
  return Object.entries(frames).map(([type, schema]) =>
    message(
      PER_PATH_FRAMES.has(type) ? `websocket.${path}.${type}` : `websocket.${type}`,
      type,
      `${type} frame`,
      schema,
    ),
  );
}

/** One message per catalog type: the envelope with this type's `type`, versions and `data`. */
function eventMessage(definition: EventTypeDefinition): Message {
  const { type, versions, schemas } = definition;
  const dataOf = (version: string) =>
    schemas[version].schema ? schemaRef(dataSchemaKey(type, version)) : { type: 'object' };
  // One version: its data schema. Several: the data schema follows `typeversion`.
  const typed: Schema =
    versions.length === 1
      ? {
          type: 'object',
          properties: { type: { const: type }, typeversion: { const: versions[0] }, data: dataOf(versions[0]) },
        }
      : {
          type: 'object',
          properties: { type: { const: type }, typeversion: { enum: versions } },
          oneOf: versions.map((version) => ({
            type: 'object',
            properties: { typeversion: { const: version }, data: dataOf(version) },
          })),
        };
  const payload: Schema = { allOf: [schemaRef(ENVELOPE_SCHEMA_NAME), typed] };
  return {
    key: eventMessageKey(type),
    message: {
      name: type,
      title: type,
      summary: definition.description || `A ${type} event.`,
      description:
        `Emitted under the event name \`${type}\`; on a raw WebSocket it is the \`event\` of an \`event\` frame. ` +
        `Versions: ${versions.join(', ')}. Token kinds that may subscribe a session: ${definition.token_kinds.join(', ')}` +
        (definition.conditions.length ? `; session condition fields: ${definition.conditions.join(', ')}.` : '.'),
      contentType: 'application/json',
      payload,
      examples: versions.map((version) => ({ name: `v${version}`, payload: schemas[version].example })),
    },
  };
}

/** Channel messages keyed as in components, each a reference to its component. */
function channelMessages(messages: Message[]): Json {
  return Object.fromEntries(messages.map(({ key }) => [key, ref(`#/components/messages/${key}`)]));
}

function operation(action: 'send' | 'receive', channel: string, title: string, summary: string, keys: string[]): Json {
  return {
    action,
    channel: ref(`#/channels/${channel}`),
    title,
    summary,
    messages: keys.map((key) => ref(`#/channels/${channel}/messages/${key}`)),
  };
}

export function buildAsyncApiDocument({ publicWsUrl, catalog }: AsyncApiOptions): Json {
  const url = new URL(publicWsUrl);
  const pathname = url.pathname.replace(/\/+$/, '');
  const secure = url.protocol === 'wss:';
  const eventTypes = catalog.map((d) => d.type);

  const events = catalog.map(eventMessage);
  const claimEvents = events.filter(({ message: m }) => CLAIM_EVENT_TYPES.includes(m.name as string));
  const notices = SOCKET_IO_NOTICES;
  const sio = {
    notification: message('socketio.notification', 'notification', 'notification', notices.notification),
    closing: message('socketio.closing', 'closing', 'closing', notices.closing, {
      reason: 'API key revoked',
      code: 'credential_revoked',
    }),
    welcome: message('socketio.welcome', 'welcome', 'welcome (channel)', notices.welcome, {
      channel_id: 'chan_01jd3m7k2q8w6t5v4x3y2z1a0b',
      resume_after: 41,
      from_seq: 42,
      complete: true,
    }),
    connectError: message(
      'socketio.connect_error',
      'connect_error',
      'connect_error (handshake refused)',
      CONNECT_ERROR_SCHEMA,
      {
        message: 'Missing credential: send Authorization: Bearer <token> or X-Api-Key',
        data: { code: 401, message: 'Missing credential: send Authorization: Bearer <token> or X-Api-Key' },
      },
    ),
    handshake: message('socketio.handshake', 'handshake', 'handshake auth', DEFAULT_HANDSHAKE_SCHEMA, {
      token: 'hrld_…',
      rooms: ['desk'],
    }),
    channelHandshake: message(
      'socketio.channelHandshake',
      'handshake',
      'handshake auth (channel)',
      CHANNEL_HANDSHAKE_SCHEMA,
      {
        token: 'hrld_…',
        last_seq: 41,
      },
    ),
  };

  const subscriberFrames = subscriberServerFrames(eventTypes);
  const subscriberActions = subscriberClientFrames(eventTypes);
  const channelFrames = channelServerFrames();
  const wsSub = {
    server: frameMessages('subscriber', subscriberFrames),
    client: [
      message('websocket.ping', PING, 'ping frame', PING_FRAME, { action: PING }),
      ...Object.entries(subscriberActions).map(([action, schema]) =>
        message(`websocket.${action}`, action, `${action} frame`, schema, { action, event_types: ['claim_approved'] }),
      ),
    ],
  };
  const wsChan = {
    server: frameMessages('channel', channelFrames),
    client: [wsSub.client[0]],
  };

  const channels: Record<string, { messages: Message[]; channel: Json }> = {
    [CHANNELS.socketIoDefault]: {
      messages: [...events, sio.notification, sio.closing, sio.connectError, sio.handshake],
      channel: {
        address: '/',
        title: 'Socket.IO: default namespace',
        servers: [ref('#/servers/socketio')],
        description:
          "Connect a Socket.IO client to Herald's origin with `auth: { token }`. A user credential's socket gets the " +
          "events about its user; an app's (or one holding `claims:read:org`) the organisation's; receiving events " +
          'needs `events:read`. Each event arrives under its type as the event name. The socket id is the ' +
          '`sessionId` of socket session subscriptions (`POST /v1/events/subscriptions`, e.g. `channel.follow`), whose ' +
          'events arrive here too, as do those of workspace subscriptions with a `socket` action.',
      },
    },
    [CHANNELS.socketIoChannel]: {
      messages: [sio.welcome, ...claimEvents, sio.closing, sio.connectError, sio.channelHandshake],
      channel: {
        address: '/channels/{channel_id}',
        title: 'Socket.IO: a realtime channel',
        servers: [ref('#/servers/socketio')],
        parameters: {
          channel_id: { description: 'The channel (`chan_…`) from `POST /api/v1/realtime-subscriptions/…`.' },
        },
        description:
          "Give the Socket.IO client the channel's `websocket_url` as is: its path becomes the namespace. First a " +
          '`welcome`, then the events the channel missed (from `last_seq`, else its cursor) in seq order, then live ' +
          'events, with no gap and no duplicate. Deleting the channel sends `closing` and disconnects.',
      },
    },
    [CHANNELS.wsSubscribe]: {
      messages: [...wsSub.server, ...wsSub.client],
      channel: {
        address: '/api/v1/ws/subscribe',
        title: 'WebSocket: event notifications',
        servers: [ref('#/servers/websocket')],
        description:
          'A raw WebSocket of JSON text frames. The credential is checked before the upgrade (401, 403, 400, 429 as ' +
          'HTTP responses in the `{ code, message, stack }` envelope). Server frames carry `type`, client frames ' +
          '`action`. The server pings every 25 s and drops a client silent for 60 s. `POST /api/v1/ws/unsubscribe` ' +
          'takes types away from a client wherever it is connected.',
        bindings: {
          ws: {
            method: 'GET',
            query: {
              type: 'object',
              properties: {
                event_types: {
                  type: 'string',
                  description: 'Comma-separated event types (may repeat); none: every type of the catalog.',
                },
                access_token: { type: 'string', description: 'The credential, for clients that cannot set headers.' },
              },
            },
            bindingVersion: '0.1.0',
          },
        },
      },
    },
    [CHANNELS.wsChannel]: {
      messages: [...wsChan.server, ...wsChan.client],
      channel: {
        address: '/channels/{channel_id}',
        title: 'WebSocket: a realtime channel',
        servers: [ref('#/servers/websocket')],
        parameters: { channel_id: { description: 'The channel (`chan_…`): its `websocket_url` as is.' } },
        description:
          "The channel's `websocket_url` as a raw WebSocket: a `welcome` frame, the missed events, then live ones, " +
          'each in an `event` frame. Refusals are HTTP responses in the `{ statusCode, error, message }` envelope.',
        bindings: {
          ws: {
            method: 'GET',
            query: {
              type: 'object',
              properties: {
                last_seq: { type: 'string', pattern: '^[0-9]{1,15}$', description: 'Resume after this seq.' },
                access_token: { type: 'string', description: 'The credential, for clients that cannot set headers.' },
              },
            },
            bindingVersion: '0.1.0',
          },
        },
      },
    },
  };

  const keys = (list: Message[]) => list.map((m) => m.key);
  const operations: Json = {
    socketIoDefaultSend: operation(
      'send',
      CHANNELS.socketIoDefault,
      'Events, notifications and closing notices to a socket',
      'Events under their type, `notification` to its recipient, `closing` before a server-side disconnect; ' +
        '`connect_error` when the handshake is refused.',
      keys([...events, sio.notification, sio.closing, sio.connectError]),
    ),
    socketIoDefaultReceive: operation(
      'receive',
      CHANNELS.socketIoDefault,
      'The handshake',
      'Clients emit nothing of their own: they authenticate in the handshake and subscribe over REST.',
      keys([sio.handshake]),
    ),
    socketIoChannelSend: operation(
      'send',
      CHANNELS.socketIoChannel,
      "A channel's welcome, events and closing notice",
      '`welcome`, then the claim events of the channel, replayed then live; `closing` when it is deleted.',
      keys([sio.welcome, ...claimEvents, sio.closing, sio.connectError]),
    ),
    socketIoChannelReceive: operation(
      'receive',
      CHANNELS.socketIoChannel,
      'The handshake',
      'The credential and where to resume.',
      keys([sio.channelHandshake]),
    ),
    websocketSubscribeSend: operation(
      'send',
      CHANNELS.wsSubscribe,
      'Frames to a WebSocket client',
      'Every frame the server sends on `/api/v1/ws/subscribe`.',
      keys(wsSub.server),
    ),
    websocketSubscribeReceive: operation(
      'receive',
      CHANNELS.wsSubscribe,
      'Frames from a WebSocket client',
      '`subscribe` and `unsubscribe` change the types it receives; `ping` gets a `pong`.',
      keys(wsSub.client),
    ),
    websocketChannelSend: operation(
      'send',
      CHANNELS.wsChannel,
      "Frames to a channel's WebSocket",
      'Every frame the server sends on `/channels/<id>`.',
      keys(wsChan.server),
    ),
    websocketChannelReceive: operation(
      'receive',
      CHANNELS.wsChannel,
      "Frames from a channel's WebSocket",
      'Only `ping`; anything else gets an `error` frame.',
      keys(wsChan.client),
    ),
  };

  const allMessages = new Map<string, Json>();
  for (const { messages } of Object.values(channels)) for (const m of messages) allMessages.set(m.key, m.message);

  const dataSchemas: Json = {};
  for (const { type, versions, schemas } of catalog)
    for (const version of versions)
      if (schemas[version].schema) dataSchemas[dataSchemaKey(type, version)] = schemas[version].schema;

  const security = [
    ref('#/components/securitySchemes/bearer'),
    ref('#/components/securitySchemes/apiKey'),
    ref('#/components/securitySchemes/accessToken'),
  ];
  const server = (title: string, description: string) => ({
    host: url.host,
    ...(pathname ? { pathname } : {}),
    protocol: secure ? 'wss' : 'ws',
    title,
    description,
    security,
  });

  return {
    asyncapi: '3.0.0',
    info: {
      title: 'Herald realtime API',
      version: '1',
      description:
        'What Herald sends and takes over Socket.IO and raw WebSockets. Every event is a CloudEvents 1.0 envelope ' +
        '(`components.schemas.CloudEventsEnvelope`); the `data` of each type follows its schema in the catalog ' +
        '(`GET /api/v1/event-types`). The REST API is described at `/docs` (OpenAPI at `/docs-json`).',
    },
    defaultContentType: 'application/json',
    servers: {
      socketio: server(
        'Socket.IO',
        'Socket.IO 4 (Engine.IO 4 at `/socket.io/`). Channel addresses are namespace names. Send the credential as ' +
          '`auth: { token }`, or as for the WebSocket server.',
      ),
      websocket: server('WebSocket', 'Raw WebSockets (RFC 6455) of JSON text frames; channel addresses are URL paths.'),
    },
    channels: Object.fromEntries(
      Object.entries(channels).map(([id, { messages, channel }]) => [
        id,
        { ...channel, messages: channelMessages(messages) },
      ]),
    ),
    operations,
    components: {
      schemas: { [ENVELOPE_SCHEMA_NAME]: ENVELOPE_SCHEMA, ...dataSchemas },
      messages: Object.fromEntries(allMessages),
      securitySchemes: {
        bearer: {
          type: 'http',
          scheme: 'bearer',
          description: '`Authorization: Bearer <API key or JWT>` on the upgrade (or handshake) request.',
        },
        apiKey: { type: 'httpApiKey', in: 'header', name: 'X-Api-Key', description: 'A Herald API key.' },
        accessToken: {
          type: 'httpApiKey',
          in: 'query',
          name: 'access_token',
          description:
            'The credential as a query parameter, for browsers (which cannot set WebSocket headers). Never logged.',
        },
      },
    },
  };
}
