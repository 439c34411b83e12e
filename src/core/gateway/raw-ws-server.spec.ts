import { Logger, UnauthorizedException } from '@nestjs/common';
import type { HttpAdapterHost } from '@nestjs/core';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connectWs, type WsConnection } from '../../../test/support/ws-client';
import type { Authenticator } from '../auth/authenticator';
import { API_KEY_REVOKED_TOPIC } from '../auth/key-revocations';
import type { Principal } from '../auth/principal';
import { LocalEventBus } from '../bus/local-event-bus';
import { loadConfig } from '../config';
import { MetricsService } from '../health/metrics.service';
import { GatewayMetrics } from './gateway-metrics';
import type { ClientAction } from './client-frames';
import type { ClientConnection } from './connection';
import { RawWebSocketServer } from './raw-ws-server';
import { Refusal } from './refusal';
import { SocketLimits } from './socket-limits';
import { UpgradeRouter } from './upgrade-router.service';

/** The credential is the key id; none is a 401 as the real authenticator words it. */
const authenticator = {
  authenticate: async (token?: string): Promise<Principal> => {
    if (!token) throw new UnauthorizedException('Missing credential');
    return {
      kind: 'app',
      organisation_id: 'org_a',
      workspace_ids: [],
      scopes: ['events:read'],
      operator: false,
      credential: 'api_key',
      key_id: token,
    };
  },
} as unknown as Authenticator;

describe('RawWebSocketServer', () => {
  let http: Server;
  let url: string;
  let raw: RawWebSocketServer;
  const bus = new LocalEventBus();
  const opened: ClientConnection[] = [];
  const frames: ClientAction[] = [];
  const open: WsConnection[] = [];

  beforeAll(async () => {
    // Every connection, refusal and close is logged; the e2e suite checks those lines.
    Logger.overrideLogger(['error']);
    http = createServer((_req, res) => res.end());
    const router = new UpgradeRouter({ httpAdapter: { getHttpServer: () => http } } as unknown as HttpAdapterHost);
    router.onApplicationBootstrap();
    const config = loadConfig({
      WS_HEARTBEAT_INTERVAL: '50ms',
      // Long enough that a test process stalled by a busy machine still answers its pings in time:
      // at 300 ms, CI once dropped the revocation test's sockets as idle (1006) before the revocation.
      WS_IDLE_TIMEOUT: '1s',
      WS_MAX_SOCKETS_PER_CREDENTIAL: '3',
    });
    const metrics = new MetricsService();
    raw = new RawWebSocketServer(
      authenticator,
      router,
      new SocketLimits(config, metrics),
      bus,
      config,
      new GatewayMetrics(metrics),
    );
    raw.onApplicationBootstrap();
    // A seed 001 style path with an action of its own, and a channel style path with none.
    raw.serve<string>({
      path: '/api/v1/ws/thing',
      family: 'seed001',
      actions: ['subscribe'],
      slowReason: 'slow',
      accept: ({ query }) => {
        const how = query.get('refuse');
        if (how === 'field') return new Refusal(400, 'Unknown event type(s) nope', 'event_types');
        if (how === 'forbidden') return new Refusal(403, 'Missing scope: events:read');
        if (how === 'bug') throw new Error('a bug, not for the client to see');
        if (how === 'outage') throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
        return 'thing';
      },
      open: (connection) => {
        opened.push(connection);
        connection.sendNotice({ type: 'subscriptions', event_types: [] });
        return { frame: (frame) => frames.push(frame) };
      },
    });
    raw.serve<{ id: string }>({
      path: '/channels/:id',
      family: 'standard',
      actions: [],
      slowReason: 'slow',
      accept: ({ params }) =>
        params.id === 'chan_gone' ? new Refusal(404, 'Channel chan_gone not found') : { id: params.id },
      open: (connection, { id }) => {
        opened.push(connection);
        connection.sendNotice({ type: 'welcome', channel_id: id, resume_after: 0, from_seq: null, complete: true });
      },
    });
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    for (const conn of open) conn.ws.terminate();
    raw.beforeApplicationShutdown();
    http.closeAllConnections();
    await new Promise((resolve) => http.close(resolve));
  });

  let keys = 0;
  /** Each connection has a key of its own unless told, so the per-credential cap only bites where a test means it to. */
  async function connect(path: string, key = `key_${++keys}`): Promise<WsConnection> {
    const conn = await connectWs(`${url}${path}`, { headers: { 'X-Api-Key': key } });
    open.push(conn);
    await conn.next(() => true, 'first frame');
    return conn;
  }

  describe('refused upgrades answer in the family envelope of the path', () => {
    it('401 without a credential', async () => {
      await expect(connectWs(`${url}/api/v1/ws/thing`)).rejects.toEqual({
        status: 401,
        body: {
          code: 401,
          message: 'Missing credential',
          stack: [{ code: 401, description: 'Missing credential', error: 'Unauthorized', path: '/api/v1/ws/thing' }],
        },
      });
      await expect(connectWs(`${url}/channels/chan_1`)).rejects.toEqual({
        status: 401,
        body: { statusCode: 401, error: 'Unauthorized', message: 'Missing credential' },
      });
    });

    it("the endpoint's refusals, naming the field at fault in the 001 envelope", async () => {
      const headers = { 'X-Api-Key': 'key_1' };
      await expect(connectWs(`${url}/api/v1/ws/thing?refuse=field`, { headers })).rejects.toMatchObject({
        status: 400,
        body: { code: 400, stack: [{ code: 400, error: 'Bad Request', path: 'event_types' }] },
      });
      await expect(connectWs(`${url}/api/v1/ws/thing?refuse=forbidden`, { headers })).rejects.toMatchObject({
        status: 403,
        body: { code: 403, message: 'Missing scope: events:read', stack: [{ path: '/api/v1/ws/thing' }] },
      });
      await expect(connectWs(`${url}/channels/chan_gone`, { headers })).rejects.toEqual({
        status: 404,
        body: { statusCode: 404, error: 'Not Found', message: 'Channel chan_gone not found' },
      });
    });

    it('a failing endpoint is a 500 that tells nothing, an outage a 503', async () => {
      const headers = { 'X-Api-Key': 'key_1' };
      await expect(connectWs(`${url}/api/v1/ws/thing?refuse=bug`, { headers })).rejects.toEqual({
        status: 500,
        body: expect.objectContaining({ code: 500, message: 'Internal server error' }),
      });
      await expect(connectWs(`${url}/api/v1/ws/thing?refuse=outage`, { headers })).rejects.toMatchObject({
        status: 503,
        body: { code: 503 },
      });
    });

    it('429 past the per-credential socket cap', async () => {
      for (let i = 0; i < 3; i++) await connect('/channels/chan_cap', 'key_cap');
      await expect(
        connectWs(`${url}/channels/chan_cap`, { headers: { 'X-Api-Key': 'key_cap' } }),
      ).rejects.toMatchObject({ status: 429, body: { statusCode: 429, error: 'Too Many Requests' } });
      await expect(connectWs(`${url}/api/v1/ws/thing`, { headers: { 'X-Api-Key': 'key_cap' } })).rejects.toMatchObject({
        status: 429,
        body: { code: 429 },
      });
    });

    it('unknown and malformed paths: the standard envelope', async () => {
      const headers = { 'X-Api-Key': 'key_1' };
      await expect(connectWs(`${url}/api/v1/ws/nothing`, { headers })).rejects.toEqual({
        status: 404,
        body: { statusCode: 404, error: 'Not Found', message: 'No WebSocket endpoint at /api/v1/ws/nothing' },
      });
      await expect(connectWs(`${url}/channels/%ZZ`, { headers })).rejects.toEqual({
        status: 400,
        body: { statusCode: 400, error: 'Bad Request', message: 'Malformed path' },
      });
    });
  });

  describe('client frames, the same on every path', () => {
    it.each(['/channels/chan_frames', '/api/v1/ws/thing'])(
      '%s: errors for bad frames and oversized ones, pong for ping, and the connection stays open',
      async (path) => {
        const conn = await connect(path);
        conn.ws.send('{"action":');
        expect(await conn.next((f) => f.type === 'error')).toEqual({
          type: 'error',
          code: 'bad_json',
          message: 'Frame is not valid JSON',
        });
        conn.ws.send(JSON.stringify({ action: 'ping', pad: 'x'.repeat(64 * 1024) }));
        await conn.next((f) => f.type === 'error' && f.code === 'frame_too_large');
        conn.ws.send(JSON.stringify({ action: 'dance' }));
        const unknown = await conn.next((f) => f.type === 'error' && f.code === 'unknown_action');
        expect(unknown.message).toBe(
          path.startsWith('/channels')
            ? 'Unknown action "dance"; use ping'
            : 'Unknown action "dance"; use subscribe or ping',
        );
        conn.ws.send(JSON.stringify({ action: 'ping' }));
        await conn.next((f) => f.type === 'pong');
        expect(conn.ws.readyState).toBe(conn.ws.OPEN);
        conn.ws.send('x'.repeat(1024 * 1024 + 1));
        expect((await conn.closed).code).toBe(1009);
      },
    );

    it("hands the path's own actions to the endpoint, and nothing else", async () => {
      frames.length = 0;
      const conn = await connect('/api/v1/ws/thing');
      conn.ws.send(JSON.stringify({ action: 'subscribe', event_types: ['a'] }));
      conn.ws.send(JSON.stringify({ action: 'ping' }));
      await conn.next((f) => f.type === 'pong');
      expect(frames).toEqual([{ action: 'subscribe', body: { action: 'subscribe', event_types: ['a'] } }]);
    });
  });

  describe('the life of a connection', () => {
    it('a client that answers pings stays; one that goes silent is dropped after the idle timeout', async () => {
      const lively = await connect('/channels/chan_alive');
      const silent = await connect('/channels/chan_silent');
      // A paused socket reads nothing, so the client's ws never sees the pings to answer them.
      const socket = (silent.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket;
      socket.pause();
      const before = raw.size;
      const started = Date.now();
      while (raw.size === before && Date.now() - started < 5000) await new Promise((r) => setTimeout(r, 10));
      expect(raw.size).toBe(before - 1);
      // Dropped after the idle timeout (the last pong may predate `started` by one heartbeat), not before.
      expect(Date.now() - started).toBeGreaterThanOrEqual(900);
      socket.resume();
      expect((await silent.closed).code).toBe(1006);
      expect(lively.ws.readyState).toBe(lively.ws.OPEN);
    });

    it("closes the revoked key's connections with 1008 and a closed frame; others stay", async () => {
      const doomed = await connect('/channels/chan_rev', 'key_revoked');
      const doomed001 = await connect('/api/v1/ws/thing', 'key_revoked');
      const kept = await connect('/channels/chan_rev', 'key_kept');
      bus.publish(API_KEY_REVOKED_TOPIC, { key_id: 'key_revoked', token_hash: 'x' });
      for (const conn of [doomed, doomed001]) {
        expect(await conn.closed).toEqual({ code: 1008, reason: 'API key revoked' });
        expect(conn.frames.at(-1)).toEqual({ type: 'closed', reason: 'API key revoked' });
      }
      expect(kept.ws.readyState).toBe(kept.ws.OPEN);
    });

    it('shutdown closes every connection with 1001', async () => {
      const conn = await connect('/channels/chan_bye', 'key_bye');
      const before = raw.size;
      raw.beforeApplicationShutdown();
      expect(await conn.closed).toEqual({ code: 1001, reason: 'server shutting down' });
      expect(conn.frames.at(-1)).toEqual({ type: 'closed', reason: 'server shutting down' });
      expect(before).toBeGreaterThan(0);
      expect(raw.size).toBe(0);
    });
  });
});
