import type { Socket } from 'socket.io-client';
import { mintKey, signJwt } from '../support/credentials';
import { connectSocket } from '../support/sockets';
import { startTestApp, TEST_JWT_SECRET, TestApp } from '../support/test-app';
import { connectWs, UpgradeRefusal, WsConnection } from '../support/ws-client';
import { envelopeProblem, familyOf, loadDocument, operationsOf, readBody } from './contract';

/**
 * Every documented operation against every kind of caller that must be turned away: no
 * credential, a bad or revoked one, a token of the wrong kind, a missing scope, another
 * organisation, another user (or workspace). Each denial must carry the right status in the
 * path's envelope and leave the resource as it was; the owner's request, run last on the same
 * resource, proves the row is not denying everyone. The rows must cover the OpenAPI document.
 */

type Cred =
  | 'appA'
  | 'adminA'
  | 'userA1'
  | 'userA2'
  | 'bareAppA'
  | 'bareUserA1'
  | 'appB'
  | 'userB1'
  | 'revoked'
  | 'expiredJwt'
  | 'otherSecretJwt'
  | 'starOrgJwt'
  | 'garbage'
  | 'none';

/** A status, or `hidden`: a 2xx whose body names none of the owner's resources. */
type Denial = number | 'hidden';

interface Req {
  path: string;
  body?: unknown;
  headers?: Record<string, string>;
}

interface Row {
  /** `METHOD /path/{param}` exactly as the OpenAPI document lists it. */
  op: string;
  /** The scope the route requires, if any (the missing-scope case, and Swagger must name it). */
  scope?: string;
  owner: Cred;
  ownerStatus: number;
  request: (f: Fixtures) => Promise<Req> | Req;
  otherOrg?: { as?: Cred; expect: Denial; request?: (f: Fixtures) => Promise<Req> | Req };
  otherUser?: { as?: Cred; expect: Denial; request?: (f: Fixtures) => Promise<Req> | Req };
  wrongKind?: { as: Cred; expect: number };
  /** A credential of the owner without the scope; default bareAppA. */
  missingScopeAs?: Cred;
}

interface Fixtures {
  tokens: Record<Cred, string | undefined>;
  t: TestApp;
  session: Socket;
  wsClient: WsConnection;
  wsClientId: string;
  /** Ids of org A's and user A1's resources that must never appear in another caller's list. */
  secrets: Set<string>;
  make: {
    orgChannel(): Promise<string>;
    userChannel(): Promise<string>;
    notification(): Promise<string>;
    claimSubscription(): Promise<string>;
    workspaceSubscription(): Promise<string>;
    apiKey(): Promise<string>;
    event(): Promise<string>;
    /** A final (failed) delivery to a claim webhook of usr_a1. */
    delivery(): Promise<string>;
  };
}

const ORG_A = 'org_matrix_a';
const ORG_B = 'org_matrix_b';
const ALL = ['events:publish', 'events:read', 'notifications:write', 'subscriptions:write', 'users.read'];

async function call(
  f: Pick<Fixtures, 't' | 'tokens'>,
  cred: Cred,
  method: string,
  req: Req,
): Promise<{ status: number; body: any }> {
  const token = f.tokens[cred];
  const headers: Record<string, string> = { ...(req.headers ?? {}) };
  if (token) headers.authorization = `Bearer ${token}`;
  if (req.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${f.t.url}${req.path}`, {
    method,
    headers,
    body: req.body === undefined ? undefined : JSON.stringify(req.body),
  });
  return { status: res.status, body: await readBody(res) };
}

async function created(
  f: Pick<Fixtures, 't' | 'tokens'>,
  cred: Cred,
  path: string,
  body: unknown,
  field: string,
  headers?: Record<string, string>,
): Promise<string> {
  const res = await call(f, cred, 'POST', { path, body, headers });
  if (res.status !== 201 || typeof res.body?.[field] !== 'string')
    throw new Error(`fixture POST ${path}: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body[field];
}

const claimWebhook = (user: string) => ({
  claim_id: 'clm_matrix',
  user_id: user,
  webhook_url: 'http://127.0.0.1:9/hook',
});
const workspaceSubscription = {
  rules: [{ trigger: 'claim_approved', conditions: {} }],
  resources: [`organisations/${ORG_A}`],
  actions: [{ type: 'socket' }],
};
const workspaceWebhook = { ...workspaceSubscription, actions: [{ type: 'webhook', url: 'http://127.0.0.1:9/hook' }] };
const follow = (f: Fixtures) => ({
  type: 'channel.follow',
  version: '1',
  sessionId: f.session.id,
  condition: { channelId: 'chan_followed' },
});

const ROWS: Row[] = [
  // Keys
  {
    op: 'POST /api/v1/api-keys',
    scope: 'admin',
    owner: 'adminA',
    ownerStatus: 201,
    request: () => ({ path: '/api/v1/api-keys', body: { kind: 'app', scopes: ['events:read'] } }),
    otherOrg: {
      as: 'appB',
      expect: 403,
      request: () => ({
        path: '/api/v1/api-keys',
        body: { kind: 'app', organisation_id: ORG_A, scopes: ['events:read'] },
      }),
    },
    missingScopeAs: 'appA',
  },
  {
    op: 'GET /api/v1/api-keys',
    scope: 'admin',
    owner: 'adminA',
    ownerStatus: 200,
    request: () => ({ path: `/api/v1/api-keys?organisation_id=${ORG_A}` }),
    otherOrg: { as: 'appB', expect: 'hidden' },
    missingScopeAs: 'appA',
  },
  {
    op: 'DELETE /api/v1/api-keys/{key_id}',
    scope: 'admin',
    owner: 'adminA',
    ownerStatus: 200,
    request: async (f) => ({ path: `/api/v1/api-keys/${await f.make.apiKey()}` }),
    otherOrg: { as: 'appB', expect: 404 },
    missingScopeAs: 'appA',
  },
  // Events
  {
    op: 'POST /api/v1/events',
    scope: 'events:publish',
    owner: 'appA',
    ownerStatus: 201,
    request: () => ({
      path: '/api/v1/events',
      body: { type: 'claim_approved', claim_id: 'clm_matrix', user_id: 'usr_a1', data: {} },
    }),
    otherOrg: {
      as: 'appB',
      expect: 403,
      request: () => ({ path: '/api/v1/events', body: { type: 'claim_approved', organisation_id: ORG_A, data: {} } }),
    },
  },
  {
    op: 'POST /api/v1/events/batch',
    scope: 'events:publish',
    owner: 'appA',
    ownerStatus: 201,
    request: () => ({
      path: '/api/v1/events/batch',
      body: { events: [{ type: 'claim_approved', claim_id: 'clm_matrix', data: {} }] },
    }),
    otherOrg: {
      as: 'appB',
      expect: 403,
      request: () => ({
        path: '/api/v1/events/batch',
        body: { events: [{ type: 'claim_approved', organisation_id: ORG_A, data: {} }] },
      }),
    },
  },
  {
    op: 'GET /api/v1/events',
    scope: 'events:read',
    owner: 'appA',
    ownerStatus: 200,
    request: () => ({ path: '/api/v1/events?after=0&limit=500' }),
    otherOrg: { as: 'appB', expect: 'hidden' },
    otherUser: { as: 'userA2', expect: 'hidden' },
  },
  {
    op: 'GET /api/v1/event-types',
    owner: 'userA1',
    ownerStatus: 200,
    request: () => ({ path: '/api/v1/event-types' }),
  },
  // 001
  {
    op: 'GET /api/v1/ws/subscribe',
    owner: 'userA1',
    ownerStatus: 426,
    request: () => ({ path: '/api/v1/ws/subscribe' }),
  },
  {
    op: 'POST /api/v1/ws/unsubscribe',
    owner: 'userA1',
    ownerStatus: 200,
    request: (f) => ({
      path: '/api/v1/ws/unsubscribe',
      body: { client_id: f.wsClientId, event_types: ['claim_rejected'], user_id: 'usr_a1' },
    }),
    otherUser: {
      as: 'userA2',
      expect: 403,
      request: (f) => ({
        path: '/api/v1/ws/unsubscribe',
        body: { client_id: f.wsClientId, event_types: ['claim_rejected'], user_id: 'usr_a2' },
      }),
    },
    otherOrg: { as: 'appB', expect: 404 },
  },
  // 004, under both prefixes
  ...['/v1/events', '/api/v1/events'].flatMap((base): Row[] => [
    {
      op: `GET ${base}/{sessionId}/subscriptions`,
      owner: 'userA1',
      ownerStatus: 200,
      request: (f) => ({ path: `${base}/${f.session.id}/subscriptions` }),
      otherUser: { as: 'userA2', expect: 403 },
      // Another organisation — even the same user id there — cannot tell the session from one that does not exist.
      otherOrg: { as: 'userB1', expect: 400 },
    },
    {
      op: `POST ${base}/subscriptions`,
      owner: 'userA1',
      ownerStatus: 200,
      request: (f) => ({ path: `${base}/subscriptions`, body: follow(f) }),
      otherUser: { as: 'userA2', expect: 403 },
      otherOrg: { as: 'userB1', expect: 400 },
      wrongKind: { as: 'appA', expect: 403 },
      missingScopeAs: 'bareUserA1',
    },
    {
      op: `DELETE ${base}/subscriptions`,
      owner: 'userA1',
      ownerStatus: 200,
      request: (f) => ({ path: `${base}/subscriptions`, body: follow(f) }),
      otherUser: { as: 'userA2', expect: 403 },
      otherOrg: { as: 'userB1', expect: 400 },
      wrongKind: { as: 'appA', expect: 403 },
    },
  ]),
  // 000
  {
    op: 'GET /api/v1/realtime-subscriptions',
    scope: 'events:read',
    owner: 'appA',
    ownerStatus: 200,
    request: () => ({ path: '/api/v1/realtime-subscriptions?limit=100' }),
    otherOrg: { as: 'appB', expect: 'hidden' },
    otherUser: { as: 'userA2', expect: 'hidden' },
  },
  {
    op: 'GET /api/v1/realtime-subscriptions/{channel_id}',
    scope: 'events:read',
    owner: 'userA1',
    ownerStatus: 200,
    request: async (f) => ({ path: `/api/v1/realtime-subscriptions/${await f.make.userChannel()}` }),
    otherOrg: { as: 'appB', expect: 404 },
    otherUser: { as: 'userA2', expect: 404 },
  },
  {
    op: 'DELETE /api/v1/realtime-subscriptions/{channel_id}',
    scope: 'events:read',
    owner: 'userA1',
    ownerStatus: 200,
    request: async (f) => ({ path: `/api/v1/realtime-subscriptions/${await f.make.userChannel()}` }),
    otherOrg: { as: 'appB', expect: 404 },
    otherUser: { as: 'userA2', expect: 404 },
  },
  {
    op: 'PUT /api/v1/realtime-subscriptions/{channel_id}/reconnect',
    scope: 'events:read',
    owner: 'appA',
    ownerStatus: 200,
    request: async (f) => ({ path: `/api/v1/realtime-subscriptions/${await f.make.orgChannel()}/reconnect` }),
    otherOrg: { as: 'appB', expect: 404 },
    otherUser: { as: 'userA2', expect: 404 },
  },
  {
    op: 'POST /api/v1/realtime-subscriptions/organisation',
    scope: 'events:read',
    owner: 'appA',
    ownerStatus: 201,
    request: () => ({ path: '/api/v1/realtime-subscriptions/organisation', body: { organisation_id: ORG_A } }),
    otherOrg: { as: 'appB', expect: 403 },
    // A plain user may not watch the whole organisation.
    wrongKind: { as: 'userA1', expect: 403 },
  },
  {
    op: 'POST /api/v1/realtime-subscriptions/user',
    scope: 'events:read',
    owner: 'userA1',
    ownerStatus: 201,
    request: () => ({ path: '/api/v1/realtime-subscriptions/user', body: { user_id: 'usr_a1' } }),
    otherUser: { as: 'userA2', expect: 403 },
  },
  // 002
  {
    op: 'GET /api/v1/approval-notifications',
    owner: 'userA1',
    ownerStatus: 200,
    request: () => ({ path: '/api/v1/approval-notifications?limit=100' }),
    otherOrg: { as: 'appB', expect: 'hidden' },
    otherUser: {
      as: 'userA2',
      expect: 'hidden',
      request: () => ({ path: '/api/v1/approval-notifications?limit=100&recipient_user_id=usr_a1' }),
    },
  },
  {
    op: 'POST /api/v1/approval-notifications',
    scope: 'notifications:write',
    owner: 'appA',
    ownerStatus: 201,
    request: () => ({
      path: '/api/v1/approval-notifications',
      body: { claim_id: 'clm_matrix', new_status: 'approved', recipient_user_id: 'usr_a1' },
    }),
  },
  {
    op: 'POST /api/v1/approval-notifications/payload',
    owner: 'userA1',
    ownerStatus: 200,
    request: () => ({ path: '/api/v1/approval-notifications/payload', body: { status: 'approved' } }),
  },
  {
    op: 'POST /api/v1/approval-notifications/subscriptions',
    scope: 'events:read',
    owner: 'userA1',
    ownerStatus: 201,
    request: () => ({ path: '/api/v1/approval-notifications/subscriptions', body: claimWebhook('usr_a1') }),
    otherUser: { as: 'userA2', expect: 403 },
  },
  {
    op: 'GET /api/v1/approval-notifications/subscriptions',
    scope: 'events:read',
    owner: 'userA1',
    ownerStatus: 200,
    request: () => ({ path: '/api/v1/approval-notifications/subscriptions?limit=100' }),
    otherOrg: { as: 'appB', expect: 'hidden' },
    otherUser: {
      as: 'userA2',
      expect: 'hidden',
      request: () => ({ path: '/api/v1/approval-notifications/subscriptions?limit=100&user_id=usr_a1' }),
    },
  },
  {
    op: 'GET /api/v1/approval-notifications/subscriptions/{subscription_id}',
    scope: 'events:read',
    owner: 'userA1',
    ownerStatus: 200,
    request: async (f) => ({
      path: `/api/v1/approval-notifications/subscriptions/${await f.make.claimSubscription()}`,
    }),
    otherOrg: { as: 'appB', expect: 404 },
    otherUser: { as: 'userA2', expect: 404 },
  },
  {
    op: 'DELETE /api/v1/approval-notifications/subscriptions/{subscription_id}',
    scope: 'events:read',
    owner: 'userA1',
    ownerStatus: 200,
    request: async (f) => ({
      path: `/api/v1/approval-notifications/subscriptions/${await f.make.claimSubscription()}`,
    }),
    otherOrg: { as: 'appB', expect: 404 },
    otherUser: { as: 'userA2', expect: 404 },
  },
  {
    op: 'POST /api/v1/approval-notifications/subscriptions/{subscription_id}/rotate-secret',
    scope: 'notifications:write',
    owner: 'userA1',
    ownerStatus: 200,
    request: async (f) => ({
      path: `/api/v1/approval-notifications/subscriptions/${await f.make.claimSubscription()}/rotate-secret`,
    }),
    otherOrg: { as: 'appB', expect: 404 },
    otherUser: { as: 'userA2', expect: 404 },
  },
  {
    op: 'POST /api/v1/approval-notifications/subscriptions/{subscription_id}/recover',
    scope: 'notifications:write',
    owner: 'userA1',
    ownerStatus: 202,
    request: async (f) => ({
      path: `/api/v1/approval-notifications/subscriptions/${await f.make.claimSubscription()}/recover`,
      body: { since: '2026-01-01T00:00:00Z' },
    }),
    otherOrg: { as: 'appB', expect: 404 },
    otherUser: { as: 'userA2', expect: 404 },
  },
  // The delivery log over every webhook: a user reads its own subscriptions' deliveries.
  {
    op: 'GET /api/v1/webhook-deliveries',
    scope: 'events:read',
    owner: 'userA1',
    ownerStatus: 200,
    request: async (f) => (await f.make.delivery(), { path: '/api/v1/webhook-deliveries?limit=100' }),
    otherOrg: { as: 'appB', expect: 'hidden' },
    otherUser: { as: 'userA2', expect: 'hidden' },
  },
  {
    op: 'GET /api/v1/webhook-deliveries/{delivery_id}',
    scope: 'events:read',
    owner: 'userA1',
    ownerStatus: 200,
    request: async (f) => ({ path: `/api/v1/webhook-deliveries/${await f.make.delivery()}` }),
    otherOrg: { as: 'appB', expect: 404 },
    otherUser: { as: 'userA2', expect: 404 },
  },
  {
    op: 'POST /api/v1/webhook-deliveries/{delivery_id}/resend',
    owner: 'userA1',
    ownerStatus: 202,
    request: async (f) => ({ path: `/api/v1/webhook-deliveries/${await f.make.delivery()}/resend` }),
    otherOrg: { as: 'appB', expect: 404 },
    otherUser: { as: 'userA2', expect: 404 },
    // Needs subscriptions:write or notifications:write.
    missingScopeAs: 'bareAppA',
  },
  ...(['GET', 'PUT', 'DELETE'] as const).map((method): Row => ({
    op: `${method} /api/v1/approval-notifications/{notification_id}`,
    owner: 'userA1',
    ownerStatus: 200,
    request: async (f) => ({
      path: `/api/v1/approval-notifications/${await f.make.notification()}`,
      body: method === 'PUT' ? { read: true } : undefined,
    }),
    otherOrg: { as: 'appB', expect: 404 },
    otherUser: { as: 'userA2', expect: 404 },
  })),
  // 003: scoped to the current workspace; userA2 works in another workspace of the same organisation.
  {
    op: 'GET /api/v1/subscriptions',
    owner: 'appA',
    ownerStatus: 200,
    request: () => ({ path: '/api/v1/subscriptions' }),
    otherOrg: { as: 'appB', expect: 'hidden' },
    otherUser: { as: 'userA2', expect: 'hidden' },
    // Naming a workspace that is not one's own is refused, not quietly ignored.
    wrongKind: { as: 'appB', expect: 403 },
  },
  {
    op: 'POST /api/v1/subscriptions',
    scope: 'subscriptions:write',
    owner: 'appA',
    ownerStatus: 201,
    request: () => ({ path: '/api/v1/subscriptions', body: workspaceSubscription }),
    otherOrg: { as: 'appB', expect: 400 },
  },
  ...(['GET', 'POST', 'DELETE'] as const).map((method): Row => ({
    op: `${method} /api/v1/subscriptions/{id}`,
    scope: method === 'GET' ? undefined : 'subscriptions:write',
    owner: 'appA',
    ownerStatus: 200,
    request: async (f) => ({
      path: `/api/v1/subscriptions/${await f.make.workspaceSubscription()}`,
      body: method === 'POST' ? workspaceSubscription : undefined,
    }),
    otherOrg: { as: 'appB', expect: 404 },
    otherUser: { as: 'userA2', expect: 404 },
  })),
  {
    op: 'POST /api/v1/subscriptions/{id}/state',
    scope: 'subscriptions:write',
    owner: 'appA',
    ownerStatus: 200,
    request: async (f) => ({
      path: `/api/v1/subscriptions/${await f.make.workspaceSubscription()}/state`,
      body: { state: 'off' },
    }),
    otherOrg: { as: 'appB', expect: 404 },
    otherUser: { as: 'userA2', expect: 404 },
  },
  {
    op: 'POST /api/v1/subscriptions/{id}/rotate-secret',
    scope: 'subscriptions:write',
    owner: 'appA',
    ownerStatus: 200,
    request: async (f) => {
      const id = await created(f, 'appA', '/api/v1/subscriptions', workspaceWebhook, 'id');
      f.secrets.add(id);
      return { path: `/api/v1/subscriptions/${id}/rotate-secret` };
    },
    otherOrg: { as: 'appB', expect: 404 },
    otherUser: { as: 'userA2', expect: 404 },
    // A user of the same workspace who does not own it may not change what its receivers verify with.
    wrongKind: { as: 'userA1', expect: 403 },
  },
  {
    op: 'POST /api/v1/subscriptions/{id}/recover',
    scope: 'subscriptions:write',
    owner: 'appA',
    ownerStatus: 202,
    request: async (f) => {
      const id = await created(f, 'appA', '/api/v1/subscriptions', workspaceWebhook, 'id');
      f.secrets.add(id);
      return { path: `/api/v1/subscriptions/${id}/recover`, body: { since: '2026-01-01T00:00:00Z' } };
    },
    otherOrg: { as: 'appB', expect: 404 },
    otherUser: { as: 'userA2', expect: 404 },
    // A user of the same workspace who does not own it may not send to its receivers again.
    wrongKind: { as: 'userA1', expect: 403 },
  },
  {
    op: 'GET /api/v1/subscription-templates',
    owner: 'userA1',
    ownerStatus: 200,
    request: () => ({ path: '/api/v1/subscription-templates' }),
  },
  {
    op: 'POST /api/v2/subscriptions/test',
    scope: 'subscriptions:write',
    owner: 'appA',
    ownerStatus: 200,
    request: async (f) => ({
      path: '/api/v2/subscriptions/test',
      body: {
        subscription: await f.make.workspaceSubscription(),
        mode: 'preview',
        input: { type: 'claim_approved', organisation_id: ORG_A, data: {} },
      },
    }),
    otherOrg: { as: 'appB', expect: 404 },
    otherUser: { as: 'userA2', expect: 404 },
  },
  {
    op: 'GET /api/v2/subscriptions/alerts/history',
    owner: 'appA',
    ownerStatus: 200,
    request: () => ({ path: '/api/v2/subscriptions/alerts/history' }),
    otherOrg: { as: 'appB', expect: 'hidden' },
    otherUser: { as: 'userA2', expect: 'hidden' },
  },
  {
    op: 'GET /api/v2/subscriptions/{id}/alerts/history',
    owner: 'appA',
    ownerStatus: 200,
    request: async (f) => ({ path: `/api/v2/subscriptions/${await f.make.workspaceSubscription()}/alerts/history` }),
    otherOrg: { as: 'appB', expect: 404 },
    otherUser: { as: 'userA2', expect: 404 },
  },
];

const PUBLIC = ['GET /healthz', 'GET /readyz'];
const UNAUTHENTICATED: Cred[] = ['none', 'garbage', 'expiredJwt', 'otherSecretJwt', 'starOrgJwt', 'revoked'];

describe('authorization matrix', () => {
  const f = { secrets: new Set<string>() } as Fixtures;

  beforeAll(async () => {
    f.t = await startTestApp({
      // Deliveries to the fixtures' refused port fail for good within a second, so they can be resent.
      env: {
        WEBHOOK_ALLOW_PRIVATE: 'true',
        WEBHOOK_RETRY_SCHEDULE: '10ms',
        WEBHOOK_POLL_INTERVAL: '50ms',
        DISPATCH_POLL_INTERVAL: '50ms',
      },
    });
    const t = f.t;
    const key = (spec: Parameters<typeof mintKey>[1]) => mintKey(t, spec);
    const toRevoke = await fetch(`${t.url}/api/v1/api-keys`, {
      method: 'POST',
      headers: { 'x-api-key': t.operatorToken, 'content-type': 'application/json' },
      body: JSON.stringify({ kind: 'app', organisation_id: ORG_A, scopes: ['admin'] }),
    }).then((r) => r.json() as Promise<{ key_id: string; token: string }>);
    const revoked = toRevoke.token;
    f.tokens = {
      appA: await key({ kind: 'app', org: ORG_A, scopes: ALL, workspaces: ['ws_a'] }),
      adminA: await key({ kind: 'app', org: ORG_A, scopes: ['admin'], workspaces: ['ws_a'] }),
      userA1: await key({ user: 'usr_a1', org: ORG_A, scopes: ALL, workspaces: ['ws_a'] }),
      userA2: await key({ user: 'usr_a2', org: ORG_A, scopes: ALL, workspaces: ['ws_a2'] }),
      bareAppA: await key({ kind: 'app', org: ORG_A, workspaces: ['ws_a'] }),
      bareUserA1: await key({ user: 'usr_a1', org: ORG_A, workspaces: ['ws_a'] }),
      appB: await key({ kind: 'app', org: ORG_B, scopes: [...ALL, 'admin'], workspaces: ['ws_b'] }),
      userB1: await key({ user: 'usr_a1', org: ORG_B, scopes: ALL, workspaces: ['ws_b'] }),
      revoked,
      expiredJwt: await signJwt(
        { sub: 'usr_a1', org: ORG_A, scope: ALL.join(' '), workspaces: ['ws_a'] },
        { expiresIn: Math.floor(Date.now() / 1000) - 60 },
      ),
      otherSecretJwt: await signJwt(
        { sub: 'usr_a1', org: ORG_A, scope: ALL.join(' '), workspaces: ['ws_a'] },
        { secret: 'a-different-secret-that-is-32-bytes-long!!' },
      ),
      starOrgJwt: await signJwt({ org: '*', scope: 'admin', token_type: 'app', workspaces: ['ws_a'] }),
      garbage: 'hrld_this_is_not_a_key',
      none: undefined,
    };
    const revoke = await call(f, 'adminA', 'DELETE', { path: `/api/v1/api-keys/${toRevoke.key_id}` });
    if (revoke.status !== 200) throw new Error(`revoke: ${revoke.status}`);

    const remember = (id: string) => (f.secrets.add(id), id);
    f.make = {
      orgChannel: async () =>
        remember(
          await created(
            f,
            'appA',
            '/api/v1/realtime-subscriptions/organisation',
            { organisation_id: ORG_A },
            'channel_id',
          ),
        ),
      userChannel: async () =>
        remember(
          await created(f, 'userA1', '/api/v1/realtime-subscriptions/user', { user_id: 'usr_a1' }, 'channel_id'),
        ),
      notification: async () =>
        remember(
          await created(
            f,
            'appA',
            '/api/v1/approval-notifications',
            { claim_id: 'clm_matrix', new_status: 'approved', recipient_user_id: 'usr_a1' },
            'notification_id',
          ),
        ),
      claimSubscription: async () =>
        remember(
          await created(
            f,
            'userA1',
            '/api/v1/approval-notifications/subscriptions',
            claimWebhook('usr_a1'),
            'subscription_id',
          ),
        ),
      workspaceSubscription: async () =>
        remember(await created(f, 'appA', '/api/v1/subscriptions', workspaceSubscription, 'id')),
      apiKey: async () =>
        remember(await created(f, 'adminA', '/api/v1/api-keys', { kind: 'app', scopes: ['events:read'] }, 'key_id')),
      event: async () =>
        remember(
          await created(
            f,
            'appA',
            '/api/v1/events',
            { type: 'claim_approved', user_id: 'usr_a1', claim_id: 'clm_matrix', data: {} },
            'id',
          ),
        ),
      delivery: async () => {
        const subscription = await f.make.claimSubscription();
        await f.make.event();
        for (let tries = 0; tries < 200; tries++) {
          const page = await call(f, 'appA', 'GET', {
            path: `/api/v1/webhook-deliveries?subscription_id=${subscription}&status=failed`,
          });
          const id = (page.body as { data?: { id: string }[] }).data?.[0]?.id;
          if (id) return remember(id);
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
        throw new Error(`fixture delivery: none failed for ${subscription}`);
      },
    };
    // Something of every kind exists before the list rows run, so `hidden` has something to hide.
    await Promise.all([
      f.make.orgChannel(),
      f.make.userChannel(),
      f.make.notification(),
      f.make.claimSubscription(),
      f.make.workspaceSubscription(),
      f.make.apiKey(),
      f.make.event(),
    ]);

    f.session = await connectSocket(t.url, f.tokens.userA1);
    f.wsClient = await connectWs(`${t.url}/api/v1/ws/subscribe`, { headers: { 'X-Api-Key': f.tokens.userA1! } });
    f.wsClientId = (await f.wsClient.next((m) => m.type === 'welcome', 'welcome')).client_id;
  });

  afterAll(async () => {
    f.session?.close();
    f.wsClient?.ws.close();
    await f.t?.close();
  });

  it('covers every operation of the OpenAPI document, and Swagger names each required scope', async () => {
    const documented = operationsOf(await loadDocument(f.t.url));
    const listed = new Set([...ROWS.map((r) => r.op), ...PUBLIC]);
    expect(documented.map((o) => `${o.method} ${o.path}`).sort()).toEqual([...listed].sort());
    for (const row of ROWS) {
      const op = documented.find((o) => `${o.method} ${o.path}` === row.op)!;
      expect({ op: row.op, secured: op.secured }).toEqual({ op: row.op, secured: true });
      if (row.scope)
        expect({ op: row.op, forbidden: op.forbidden }).toEqual({
          op: row.op,
          forbidden: expect.stringContaining(row.scope),
        });
    }
  });

  it('public endpoints answer without a credential', async () => {
    for (const op of PUBLIC) expect((await call(f, 'none', 'GET', { path: op.split(' ')[1] })).status).toBe(200);
  });

  for (const row of ROWS) {
    it(row.op, async () => {
      const [method, template] = row.op.split(' ');
      const family = familyOf(template);
      const outcomes: string[] = [];
      const expectDenied = async (label: string, cred: Cred, req: Req, expected: Denial) => {
        const res = await call(f, cred, method, req);
        if (expected === 'hidden') {
          const leaked = [...f.secrets].filter((id) => JSON.stringify(res.body).includes(id));
          if (res.status !== 200 || leaked.length)
            outcomes.push(`${label}: ${res.status}, leaked ${leaked.join(', ')}`);
          return;
        }
        const problem = res.status === expected ? envelopeProblem(family, res.status, res.body) : null;
        if (res.status !== expected || problem)
          outcomes.push(
            `${label} as ${cred}: expected ${expected}, got ${res.status} ${problem ?? ''} ${JSON.stringify(res.body)}`,
          );
      };

      const req = await row.request(f);
      for (const cred of UNAUTHENTICATED) await expectDenied(`credential ${cred}`, cred, req, 401);
      if (row.scope) await expectDenied('missing scope', row.missingScopeAs ?? 'bareAppA', req, 403);
      else if (row.missingScopeAs) await expectDenied('missing scope', row.missingScopeAs, req, 403);
      if (row.wrongKind) {
        const headers = row.op === 'GET /api/v1/subscriptions' ? { 'x-workspace-id': 'ws_a' } : undefined;
        await expectDenied('wrong kind', row.wrongKind.as, { ...req, headers }, row.wrongKind.expect);
      }
      if (row.otherOrg)
        await expectDenied(
          'other organisation',
          row.otherOrg.as ?? 'appB',
          row.otherOrg.request ? await row.otherOrg.request(f) : req,
          row.otherOrg.expect,
        );
      if (row.otherUser)
        await expectDenied(
          'other user',
          row.otherUser.as ?? 'userA2',
          row.otherUser.request ? await row.otherUser.request(f) : req,
          row.otherUser.expect,
        );

      // Last, on the same resource: the owner is let through, so nothing above was a blanket refusal
      // and no denied request removed or changed what the owner relies on.
      const owner = await call(f, row.owner, method, req);
      if (owner.status !== row.ownerStatus)
        outcomes.push(
          `owner ${row.owner}: expected ${row.ownerStatus}, got ${owner.status} ${JSON.stringify(owner.body)}`,
        );
      expect(outcomes).toEqual([]);
    });
  }

  /**
   * Inside one organisation: the same read rule, transport rule and producer rule on every path,
   * tried as a plain user (no claims:read:org), another user, a credential missing the scope and
   * a credential whose role was taken away. Each row returns what went wrong, or null.
   */
  describe('inside one organisation', () => {
    const upgrade = (path: string, token: string) =>
      connectWs(`${f.t.url}${path}`, { headers: { 'X-Api-Key': token } }).then(
        (conn) => (conn.ws.close(), 101),
        (err: UpgradeRefusal) => err.status,
      );
    const handshake = (nsp: string, token: string) =>
      connectSocket(`${f.t.url}${nsp}`, token).then(
        (s) => (s.close(), 'connected'),
        (err: { data?: { code?: number } }) => err.data?.code ?? 'refused',
      );
    const INSIDE: {
      item: string;
      who: 'plain user' | 'other user' | 'missing scope' | 'revoked role';
      check: () => Promise<unknown>;
      expect: unknown;
    }[] = [
      {
        item: 'Socket.IO without events:read or users.read',
        who: 'missing scope',
        check: () => handshake('', f.tokens.bareAppA!),
        expect: 403,
      },
      {
        item: 'raw WebSocket (001) without events:read',
        who: 'missing scope',
        check: () => upgrade('/api/v1/ws/subscribe', f.tokens.bareUserA1!),
        expect: 403,
      },
      {
        item: "a channel's websocket_url without events:read",
        who: 'missing scope',
        check: async () => upgrade(`/channels/${await f.make.userChannel()}`, f.tokens.bareUserA1!),
        expect: 403,
      },
      {
        item: 'an organisation channel after claims:read:org is gone',
        who: 'revoked role',
        check: async () => {
          const lead = await mintKey(f.t, { user: 'usr_a1', org: ORG_A, scopes: ['events:read', 'claims:read:org'] });
          const res = await fetch(`${f.t.url}/api/v1/realtime-subscriptions/organisation`, {
            method: 'POST',
            headers: { 'x-api-key': lead, 'content-type': 'application/json' },
            body: JSON.stringify({ organisation_id: ORG_A, user_id: 'usr_a1' }),
          });
          const channel = ((await res.json()) as { channel_id: string }).channel_id;
          return [
            await upgrade(`/channels/${channel}`, f.tokens.userA1!),
            await handshake(`/channels/${channel}`, f.tokens.userA1!),
            await upgrade(`/channels/${channel}`, lead),
          ];
        },
        expect: [403, 403, 101],
      },
      {
        item: 'an approval notification for another user',
        who: 'plain user',
        check: async () =>
          (
            await call(f, 'userA1', 'POST', {
              path: '/api/v1/approval-notifications',
              body: { claim_id: 'clm_matrix', new_status: 'approved', recipient_user_id: 'usr_a2' },
            })
          ).status,
        expect: 403,
      },
      {
        item: 'an event about another user',
        who: 'plain user',
        check: async () =>
          (
            await call(f, 'userA1', 'POST', {
              path: '/api/v1/events',
              body: { type: 'claim_approved', user_id: 'usr_a2', data: {} },
            })
          ).status,
        expect: 403,
      },
      {
        item: 'a workspace subscription matching another user’s event',
        who: 'plain user',
        check: async () => {
          const res = await call(f, 'userA1', 'POST', {
            path: '/api/v2/subscriptions/test',
            body: {
              draft: {
                rules: [{ trigger: 'claim_approved', conditions: {} }],
                resources: ['users/*'],
                actions: [{ type: 'socket' }],
              },
              input: { type: 'claim_approved', user_id: 'usr_a2', data: {} },
            },
          });
          return [res.status, res.body.matched, res.body.rules?.[0]?.readable];
        },
        expect: [200, false, false],
      },
      {
        item: 'the test endpoint: send on a subscription the caller does not own; preview never signs with the real secret',
        who: 'other user',
        check: async () => {
          const member = await mintKey(f.t, { user: 'usr_a3', org: ORG_A, scopes: ALL, workspaces: ['ws_a'] });
          const saved = await call(f, 'appA', 'POST', {
            path: '/api/v1/subscriptions',
            body: { ...workspaceSubscription, actions: [{ type: 'webhook', url: 'http://127.0.0.1:9/hook' }] },
          });
          const sub = saved.body.id as string;
          const res = (mode: string) =>
            fetch(`${f.t.url}/api/v2/subscriptions/test`, {
              method: 'POST',
              headers: { 'x-api-key': member, 'content-type': 'application/json' },
              body: JSON.stringify({ subscription: sub, mode, input: { type: 'claim_approved', data: {} } }),
            });
          const send = await res('send');
          const preview = (await (
            await call(f, 'appA', 'POST', {
              path: '/api/v2/subscriptions/test',
              body: { subscription: sub, mode: 'preview', input: { type: 'claim_approved', data: {} } },
            })
          ).body) as {
            actions: { signed_with?: string }[];
          };
          return [send.status, preview.actions.map((a) => a.signed_with)];
        },
        expect: [403, ['throwaway_secret']],
      },
      {
        item: 'webhook header values in a subscription view',
        who: 'missing scope',
        check: async () => {
          const saved = await call(f, 'appA', 'POST', {
            path: '/api/v1/subscriptions',
            body: {
              ...workspaceSubscription,
              actions: [
                {
                  type: 'webhook',
                  url: 'http://127.0.0.1:9/hook',
                  headers: { authorization: 'Bearer partner-secret' },
                },
              ],
            },
          });
          const view = await call(f, 'bareAppA', 'GET', { path: `/api/v1/subscriptions/${saved.body.id}` });
          return [
            view.status,
            JSON.stringify(view.body).includes('partner-secret'),
            view.body.actions?.[0]?.headers?.authorization,
          ];
        },
        expect: [200, false, '********'],
      },
      {
        item: 'a JWT without exp, and one living past AUTH_JWT_MAX_LIFETIME',
        who: 'revoked role',
        check: async () => {
          const { SignJWT } = await import('jose');
          const secret = new TextEncoder().encode(TEST_JWT_SECRET);
          const claims = { sub: 'usr_a1', org: ORG_A, scope: ALL.join(' ') };
          const noExp = await new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setIssuedAt().sign(secret);
          const longLived = await new SignJWT(claims)
            .setProtectedHeader({ alg: 'HS256' })
            .setIssuedAt()
            .setExpirationTime('30d')
            .sign(secret);
          const get = (token: string) =>
            fetch(`${f.t.url}/api/v1/events`, { headers: { authorization: `Bearer ${token}` } }).then((r) => r.status);
          return [await get(noExp), await get(longLived)];
        },
        expect: [401, 401],
      },
      {
        item: 'an API key past its expires_at, on REST and on a socket',
        who: 'revoked role',
        check: async () => {
          const res = await call(f, 'adminA', 'POST', {
            path: '/api/v1/api-keys',
            body: { kind: 'app', scopes: ['events:read'], expires_at: new Date(Date.now() + 1500).toISOString() },
          });
          const token = res.body.token as string;
          const before = (await fetch(`${f.t.url}/api/v1/events`, { headers: { 'x-api-key': token } })).status;
          await new Promise((r) => setTimeout(r, 1600));
          const after = (await fetch(`${f.t.url}/api/v1/events`, { headers: { 'x-api-key': token } })).status;
          return [res.status, before, after, await handshake('', token)];
        },
        expect: [201, 200, 401, 401],
      },
      {
        item: 'a seed-004 sessionId that is not a socket id',
        who: 'plain user',
        check: async () =>
          (
            await call(f, 'userA1', 'GET', {
              path: `/api/v1/events/${encodeURIComponent('org:org_matrix_a')}/subscriptions`,
            })
          ).status,
        expect: 400,
      },
    ];
    for (const row of INSIDE) {
      it(`${row.who}: ${row.item}`, async () => {
        expect({ item: row.item, outcome: await row.check() }).toEqual({ item: row.item, outcome: row.expect });
      });
    }
  });

  it('the upgrade and the Socket.IO handshake refuse missing, bad and revoked credentials', async () => {
    for (const cred of UNAUTHENTICATED) {
      const token = f.tokens[cred];
      const refusal = await connectWs(`${f.t.url}/api/v1/ws/subscribe`, {
        headers: token ? { 'X-Api-Key': token } : {},
      }).then(
        (conn) => (conn.ws.close(), null),
        (err: UpgradeRefusal) => err,
      );
      expect({
        cred,
        status: refusal?.status,
        problem: refusal && envelopeProblem('seed001', refusal.status, refusal.body),
      }).toEqual({ cred, status: 401, problem: null });
      const socketError = await connectSocket(f.t.url, token).then(
        (s) => (s.close(), null),
        (err: Error) => err.message,
      );
      expect({ cred, refused: socketError !== null }).toEqual({ cred, refused: true });
    }
  });
});
