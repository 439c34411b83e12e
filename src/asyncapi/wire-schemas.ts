import type { NotificationDetailDto, NotificationPayloadDto } from '../approval-notifications/dto/notification.dto';
import { CLAIM_STATUSES } from '../approval-notifications/notification-payload';
import type { EventEnvelope } from '../core/event-log/envelope';
import type {
  ChannelWelcome,
  ClientEventMap,
  ClosingCode,
  RawServerFrame,
  SubscriberWelcome,
  TestEvent,
} from '../core/gateway/client-events';
import { MAX_CLIENT_FRAME_BYTES, PING, type FrameErrorCode } from '../core/gateway/client-frames';
import { NAMED_ROOM } from '../core/gateway/rooms';
import { SUBSCRIBER_ACTIONS } from '../events/ws/ws-frames';

/**
 * The JSON Schemas of everything Herald sends and takes over Socket.IO and raw WebSockets,
 * written against the TypeScript types the gateway sends with (core/gateway/client-events.ts,
 * client-frames.ts): each object schema lists exactly its type's properties, and the frame
 * tables are keyed by the frame unions, so a frame or field added to the code and not here
 * fails to compile. test/e2e/asyncapi.e2e-spec.ts checks real traffic against them.
 */
export type Schema = Record<string, unknown>;

/** A closed object schema over exactly the properties of `T`; `required` lists the ones always sent. */
export function objectOf<T extends object>(
  properties: { [K in keyof Required<T>]: Schema },
  required: readonly (keyof T & string)[],
  extra: Schema = {},
): Schema {
  return { type: 'object', properties, required: [...required], additionalProperties: false, ...extra };
}

/** True when `A` and `B` name the same values: for lists kept beside a union type. */
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const exhaustive = <T extends true>(value: T) => value;

const text = (description: string, extra: Schema = {}): Schema => ({ type: 'string', description, ...extra });
const seq = (description: string): Schema => ({ type: 'integer', minimum: 0, description });
const eventTypeList = (eventTypes: string[], description: string): Schema => ({
  type: 'array',
  items: { type: 'string', enum: eventTypes },
  description,
});

// ---------------------------------------------------------------------------------------------
// The CloudEvents envelope (core/event-log/envelope.ts)

export const ENVELOPE_SCHEMA_NAME = 'CloudEventsEnvelope';

/** The envelope of every event Herald sends: one schema, whatever the type. */
export const ENVELOPE_SCHEMA: Schema = objectOf<EventEnvelope & Partial<Pick<TestEvent, 'test'>>>(
  {
    specversion: { const: '1.0', description: 'CloudEvents version.' },
    id: text("The event's id: `evt_…`, or the id its producer gave it (unique within the organisation)."),
    type: text('The event type, from the catalog (`GET /api/v1/event-types`); also the Socket.IO event name.'),
    source: text('`/organisations/<organisation_id>`.', { pattern: '^/organisations/' }),
    subject: text('What the event is about, most specific first: `claims/<id>`, `channels/<id>` or `users/<id>`.', {
      pattern: '^(claims|channels|users)/',
    }),
    time: text('When it happened (RFC 3339, UTC).', { format: 'date-time' }),
    datacontenttype: { const: 'application/json' },
    data: {
      type: 'object',
      additionalProperties: true,
      description: "What the producer published; each type's schema is in the catalog and its message below.",
    },
    sequence: text(
      "The event's position in Herald's log (a string, as CloudEvents extensions are): gap-free and increasing. " +
        'Pass the last one as `last_seq` to resume a channel.',
      { pattern: '^[0-9]+$' },
    ),
    typeversion: text('The version of the type.', { pattern: '^[0-9]+$' }),
    organisationid: text('The organisation the event belongs to.'),
    userid: text('The user the event is about, if any.'),
    claimid: text('The claim the event is about, if any.'),
    channelid: text('The channel the event is about, if any.'),
    test: {
      const: true,
      description:
        'Only on the copy a workspace subscription test sends (`POST /api/v2/subscriptions/test`, mode `send`): ' +
        'it is not in the log and has no `sequence`.',
    },
  },
  ['specversion', 'id', 'type', 'source', 'time', 'datacontenttype', 'data', 'typeversion', 'organisationid'],
  {
    description:
      'A CloudEvents 1.0 event (JSON format) with Herald extension attributes: every Socket.IO event message, ' +
      'every raw WebSocket `event` frame and every webhook body.',
    if: { required: ['test'] },
    else: { required: ['sequence'] },
  },
);

// ---------------------------------------------------------------------------------------------
// Socket.IO messages besides events (ClientEventMap)

const CLOSING_CODES = ['credential_revoked', 'server_shutdown'] as const satisfies readonly ClosingCode[];
exhaustive<Same<(typeof CLOSING_CODES)[number], ClosingCode>>(true);

const channelWelcome = {
  channel_id: text('The channel (`chan_…`).'),
  resume_after: seq("The seq the replay starts after: the client's `last_seq`, else the channel's cursor."),
  from_seq: {
    type: ['integer', 'null'],
    minimum: 0,
    description: 'The first seq the replay carries; null when there is nothing to replay.',
  },
  complete: {
    type: 'boolean',
    description: 'false: retention already pruned part of what comes after `resume_after`.',
  },
} satisfies { [K in keyof ChannelWelcome]: Schema };

const notificationPayload = objectOf<NotificationPayloadDto>(
  {
    title: text('e.g. `Expense claim approved`.'),
    body: text('e.g. `Your expense claim for 4850.00 NOK has been approved.`'),
    action_url: text('e.g. `/claims/clm_9f2a3b4c`.'),
    action_label: text('e.g. `View claim`.'),
    severity: { type: 'string', enum: ['info', 'success', 'warning', 'error'] },
  },
  ['title', 'body', 'action_url', 'action_label', 'severity'],
);

/** The payloads of the fixed Socket.IO event names (ClientEventMap), by name. */
export const SOCKET_IO_NOTICES = {
  notification: objectOf<NotificationDetailDto>(
    {
      notification_id: text('`notif_…`.'),
      claim_id: text('The claim.'),
      recipient_user_id: text('The user notified (whose sockets get this).'),
      new_status: { type: 'string', enum: [...CLAIM_STATUSES] },
      comment: { type: ['string', 'null'] },
      read: { type: 'boolean' },
      sent_at: text('RFC 3339, UTC.', { format: 'date-time' }),
      payload: notificationPayload,
    },
    ['notification_id', 'claim_id', 'recipient_user_id', 'new_status', 'comment', 'read', 'sent_at', 'payload'],
    {
      description:
        'An approval notification as `GET /api/v1/approval-notifications/{notification_id}` shows it. Sent to the ' +
        "recipient's sockets right after the `status_changed` event the notification appended.",
    },
  ),
  closing: objectOf<ClientEventMap['closing']>(
    {
      reason: text('Why the server is closing the connection.'),
      code: {
        type: 'string',
        enum: [...CLOSING_CODES],
        description:
          '`credential_revoked`: the API key was revoked, do not reconnect with it; `server_shutdown`: the node is ' +
          'stopping, reconnect (any node will do). Absent when a channel is deleted or a client fell behind.',
      },
    },
    ['reason'],
    { description: 'Sent just before the server disconnects the socket.' },
  ),
  welcome: objectOf<ChannelWelcome>(channelWelcome, ['channel_id', 'resume_after', 'from_seq', 'complete'], {
    description: 'First message on a channel namespace, before any replayed event: where the replay starts.',
  }),
} satisfies { [K in keyof ClientEventMap]: Schema };

/** What a refused Socket.IO handshake carries (`connect_error`: the Error's `message` and `data`). */
export const CONNECT_ERROR_SCHEMA: Schema = {
  type: 'object',
  description:
    "A refused handshake: socket.io-client's `connect_error` event, whose Error has this `message` and `data`. " +
    '`data.code` is the HTTP status the refusal would have over REST.',
  required: ['message', 'data'],
  properties: {
    message: text('Why.'),
    data: {
      type: 'object',
      required: ['code', 'message'],
      additionalProperties: false,
      properties: {
        code: {
          type: 'integer',
          enum: [400, 401, 403, 404, 429, 500, 503],
          description:
            '401 no or bad credential, 403 missing scope, 404 no such channel, 429 a socket cap, 400 bad `last_seq`.',
        },
        message: text('The same as `message`.'),
      },
    },
  },
};

/** The `auth` object of a default-namespace handshake. */
export const DEFAULT_HANDSHAKE_SCHEMA: Schema = {
  type: 'object',
  description:
    'The `auth` option of the Socket.IO client (its CONNECT packet). The token may instead come as ' +
    '`Authorization: Bearer …` or `X-Api-Key` headers, or `?access_token=`.',
  properties: {
    token: text('An API key or a JWT.'),
    rooms: {
      type: 'array',
      maxItems: 20,
      items: { type: 'string', pattern: NAMED_ROOM.source },
      description: "Named rooms of the credential's workspaces to join, for workspace subscriptions' socket actions.",
    },
  },
};

/** The `auth` object of a channel namespace handshake. */
export const CHANNEL_HANDSHAKE_SCHEMA: Schema = {
  type: 'object',
  description:
    'The `auth` option of the Socket.IO client connecting to `websocket_url` (the namespace `/channels/<id>`). ' +
    '`last_seq` may also be a query parameter; the token may also come as headers or `?access_token=`.',
  properties: {
    token: text("An API key or a JWT of the channel's owner, or an app of its organisation."),
    last_seq: {
      type: ['integer', 'string'],
      minimum: 0,
      pattern: '^[0-9]{1,15}$',
      description: "Resume after this seq (the last `sequence` received) instead of the channel's cursor.",
    },
  },
};

// ---------------------------------------------------------------------------------------------
// Raw WebSocket frames (RawServerFrame, client-frames.ts, events/ws/ws-frames.ts)

type FrameOf<T extends RawServerFrame['type']> = Extract<RawServerFrame, { type: T }>;

const FRAME_ERROR_CODES = [
  'bad_json',
  'bad_frame',
  'unknown_action',
  'frame_too_large',
] as const satisfies readonly FrameErrorCode[];
exhaustive<Same<(typeof FRAME_ERROR_CODES)[number], FrameErrorCode>>(true);
/** Besides the codes every path uses: a subscribe / unsubscribe frame naming a type the catalog lacks. */
const SUBSCRIBER_ERROR_CODES = [...FRAME_ERROR_CODES, 'unknown_event_types'];

const closedReason =
  'Why. Then the server closes the connection: 1000 channel deleted, 1001 server shutting down, 1008 API key ' +
  'revoked, 1011 replay failed (reconnect to resume), 1013 client too slow (reconnect; on a channel with ' +
  '`last_seq`).';

/** The frames both raw WebSocket paths send, keyed by `type`. */
function commonFrames(errorCodes: readonly string[]): { [T in 'event' | 'pong' | 'error' | 'closed']: Schema } {
  return {
    event: objectOf<FrameOf<'event'>>(
      { type: { const: 'event' }, event: { $ref: `#/components/schemas/${ENVELOPE_SCHEMA_NAME}` } },
      ['type', 'event'],
      { description: 'An event: `event` is the CloudEvents envelope.' },
    ),
    pong: objectOf<FrameOf<'pong'>>({ type: { const: 'pong' } }, ['type'], {
      description: 'The answer to a `ping` frame.',
    }),
    error: objectOf<FrameOf<'error'>>(
      {
        type: { const: 'error' },
        code: { type: 'string', enum: [...errorCodes] },
        message: text('What to do instead.'),
      },
      ['type', 'code', 'message'],
      {
        description:
          `A client frame Herald could not take; the connection stays open. \`bad_json\`: not JSON; \`bad_frame\`: ` +
          `binary, or not an object with an \`action\`; \`unknown_action\`: an action this path does not take; ` +
          `\`frame_too_large\`: over ${MAX_CLIENT_FRAME_BYTES} bytes (past 1 MiB the connection is closed with 1009).`,
      },
    ),
    closed: objectOf<FrameOf<'closed'>>({ type: { const: 'closed' }, reason: text(closedReason) }, ['type', 'reason'], {
      description: 'The last frame before the server closes the connection.',
    }),
  };
}

/** `/api/v1/ws/subscribe`: every frame type of RawServerFrame. */
export function subscriberServerFrames(eventTypes: string[]) {
  return {
    welcome: objectOf<{ type: 'welcome' } & SubscriberWelcome>(
      {
        type: { const: 'welcome' },
        client_id: text('This client (`wsc_…`), for `POST /api/v1/ws/unsubscribe`.'),
        user_id: { type: ['string', 'null'], description: "The credential's user; null for an app." },
        event_types: eventTypeList(
          eventTypes,
          'The types this client receives (every catalog type when none were asked).',
        ),
      },
      ['type', 'client_id', 'user_id', 'event_types'],
      { description: 'First frame: who the client is and which types it receives.' },
    ),
    ...commonFrames(SUBSCRIBER_ERROR_CODES),
    subscriptions: objectOf<FrameOf<'subscriptions'>>(
      {
        type: { const: 'subscriptions' },
        event_types: eventTypeList(eventTypes, 'The types the client receives now (empty: none until it subscribes).'),
      },
      ['type', 'event_types'],
      { description: 'The answer to `subscribe` / `unsubscribe` (frames or REST): the set of types now.' },
    ),
  } satisfies { [T in RawServerFrame['type']]: Schema };
}

/** `/channels/<id>`: every frame type of RawServerFrame but `subscriptions`. */
export function channelServerFrames() {
  return {
    welcome: objectOf<{ type: 'welcome' } & ChannelWelcome>(
      { type: { const: 'welcome' }, ...channelWelcome },
      ['type', 'channel_id', 'resume_after', 'from_seq', 'complete'],
      { description: 'First frame, before any replayed event: where the replay starts.' },
    ),
    ...commonFrames(FRAME_ERROR_CODES),
  } satisfies { [T in Exclude<RawServerFrame['type'], 'subscriptions'>]: Schema };
}

/** Client frames: `ping` on every path, and the subscriber's own actions (SUBSCRIBER_ACTIONS). */
export const PING_FRAME: Schema = {
  type: 'object',
  required: ['action'],
  properties: { action: { const: PING } },
  description: 'Answered with a `pong` frame. Any JSON text frame counts as a sign of life for the idle timeout.',
};

export function subscriberClientFrames(eventTypes: string[]): Record<(typeof SUBSCRIBER_ACTIONS)[number], Schema> {
  const frame = (action: (typeof SUBSCRIBER_ACTIONS)[number], description: string): Schema => ({
    type: 'object',
    required: ['action', 'event_types'],
    properties: {
      action: { const: action },
      event_types: eventTypeList(eventTypes, 'Event types from the catalog.'),
    },
    description,
  });
  return {
    subscribe: frame('subscribe', 'Adds types to the set this client receives; answered with `subscriptions`.'),
    unsubscribe: frame(
      'unsubscribe',
      'Takes types out of the set; answered with `subscriptions`. A client left with none receives nothing.',
    ),
  };
}
