import { connect, type Socket } from 'node:net';

/**
 * Connection faults as a broken client, proxy or closing browser tab makes them: a raw TCP
 * connection that sends part of an exchange and then resets (RST, not FIN) at a chosen stage.
 * Each fault resolves once the reset was sent; whether the server survived is checked after.
 */
export interface FaultTarget {
  host: string;
  port: number;
  /** A key that may open a raw WebSocket and Socket.IO socket. */
  token: string;
  /** A channel the token may attach to. */
  channelId: string;
}

export interface ConnectionFault {
  stage: string;
  run(target: FaultTarget): Promise<void>;
}

const WS_KEY = 'dGhlIHNhbXBsZSBub25jZQ==';

function upgradeRequest(path: string, headers: Record<string, string> = {}): string {
  const extra = Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('');
  return `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${WS_KEY}\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n`;
}

/** A masked client text frame (RFC 6455 §5.3: clients must mask). */
export function maskedTextFrame(text: string): Buffer {
  const payload = Buffer.from(text);
  const mask = Buffer.from([1, 2, 3, 4]);
  const masked = Buffer.from(payload.map((b, i) => b ^ mask[i % 4]));
  const header =
    payload.length < 126
      ? Buffer.from([0x81, 0x80 | payload.length])
      : Buffer.from([0x81, 0x80 | 126, payload.length >> 8, payload.length & 0xff]);
  return Buffer.concat([header, mask, masked]);
}

/**
 * Opens a connection, writes `chunks` in order, then either resets right away or once the
 * server has sent `waitForBytes` bytes (or `waitMs` passed), whichever `until` names.
 */
function resetAfter(
  target: FaultTarget,
  chunks: (string | Buffer)[],
  until: { bytes?: number; ms?: number; text?: string } = {},
): Promise<void> {
  return new Promise((resolve) => {
    const socket: Socket = connect({ host: target.host, port: target.port });
    let received = '';
    let done = false;
    const reset = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.resetAndDestroy();
      resolve();
    };
    // A fault that the server answers faster than expected (or closes first) still ends here.
    const timer = setTimeout(reset, until.ms ?? 2000);
    socket.on('error', () => reset());
    socket.on('close', () => reset());
    socket.on('data', (data) => {
      received += data.toString('latin1');
      if (until.bytes !== undefined && received.length >= until.bytes) reset();
      if (until.text !== undefined && received.includes(until.text)) reset();
    });
    socket.on('connect', () => {
      for (const chunk of chunks) socket.write(chunk);
      if (until.bytes === undefined && until.text === undefined && until.ms === undefined) reset();
    });
  });
}

const publish = (target: FaultTarget, bodyLength: number, body = '') =>
  `POST /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Api-Key: ${target.token}\r\nContent-Type: application/json\r\nContent-Length: ${bodyLength}\r\n\r\n${body}`;

const event = JSON.stringify({ type: 'status_changed', data: { note: 'reset test' } });

/** Every stage of an HTTP request, a raw WebSocket upgrade (accepted and each refusal) and a Socket.IO handshake. */
export const CONNECTION_FAULTS: ConnectionFault[] = [
  // HTTP
  { stage: 'http: connect, then reset before sending anything', run: (t) => resetAfter(t, []) },
  { stage: 'http: reset mid request line', run: (t) => resetAfter(t, ['GET /heal']) },
  {
    stage: 'http: reset mid headers',
    run: (t) => resetAfter(t, ['GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Api-'], { ms: 20 }),
  },
  { stage: 'http: reset mid body', run: (t) => resetAfter(t, [publish(t, 1000, '{"type":"status_')], { ms: 20 }) },
  {
    stage: 'http: reset after the request, before the response',
    run: (t) => resetAfter(t, [publish(t, Buffer.byteLength(event), event)]),
  },
  {
    stage: 'http: reset while the response is sent',
    run: (t) => resetAfter(t, ['GET /docs-json HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'], { bytes: 1 }),
  },
  {
    stage: 'http: reset a refused request (401) before reading it',
    run: (t) => resetAfter(t, ['GET /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n']),
  },
  {
    stage: 'http: reset an oversized header (431) before reading it',
    run: (t) => resetAfter(t, [`GET /healthz HTTP/1.1\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`]),
  },
  // Raw WebSocket (001 subscribe)
  {
    stage: 'ws subscribe: reset mid upgrade headers',
    run: (t) => resetAfter(t, ['GET /api/v1/ws/subscribe HTTP/1.1\r\nUpgrade: websocket\r\n'], { ms: 20 }),
  },
  {
    stage: 'ws subscribe: refused 401 (no credential), reset before reading',
    run: (t) => resetAfter(t, [upgradeRequest('/api/v1/ws/subscribe')]),
  },
  {
    stage: 'ws subscribe: refused 401, reset after reading the status line',
    run: (t) => resetAfter(t, [upgradeRequest('/api/v1/ws/subscribe')], { text: '401' }),
  },
  {
    stage: 'ws subscribe: refused 400 (unknown event type), reset before reading',
    run: (t) => resetAfter(t, [upgradeRequest(`/api/v1/ws/subscribe?event_types=nope&access_token=${t.token}`)]),
  },
  {
    stage: 'ws subscribe: accepted, reset during authentication',
    run: (t) => resetAfter(t, [upgradeRequest(`/api/v1/ws/subscribe?access_token=${t.token}`)]),
  },
  {
    stage: 'ws subscribe: accepted, reset after 101',
    run: (t) => resetAfter(t, [upgradeRequest(`/api/v1/ws/subscribe?access_token=${t.token}`)], { text: '101' }),
  },
  {
    stage: 'ws subscribe: accepted, reset mid client frame',
    run: (t) =>
      resetAfter(
        t,
        [
          upgradeRequest(`/api/v1/ws/subscribe?access_token=${t.token}`),
          maskedTextFrame('{"action":"ping"}').subarray(0, 5),
        ],
        { text: 'welcome' },
      ),
  },
  // Raw WebSocket (000 channels)
  {
    stage: 'channel: refused 401, reset before reading',
    run: (t) => resetAfter(t, [upgradeRequest(`/channels/${t.channelId}`)]),
  },
  {
    stage: 'channel: refused 404 (unknown channel), reset before reading',
    run: (t) => resetAfter(t, [upgradeRequest(`/channels/chan_nope?access_token=${t.token}`)]),
  },
  {
    stage: 'channel: refused 400 (bad last_seq), reset before reading',
    run: (t) => resetAfter(t, [upgradeRequest(`/channels/${t.channelId}?last_seq=x&access_token=${t.token}`)]),
  },
  {
    stage: 'channel: accepted, reset during replay',
    run: (t) =>
      resetAfter(t, [upgradeRequest(`/channels/${t.channelId}?last_seq=0&access_token=${t.token}`)], { text: '101' }),
  },
  // Unknown upgrade path
  {
    stage: 'upgrade: unknown path (404), reset before reading',
    run: (t) => resetAfter(t, [upgradeRequest('/nowhere')]),
  },
  {
    stage: 'upgrade: malformed path (400), reset before reading',
    run: (t) => resetAfter(t, [upgradeRequest('/channels/%ZZ')]),
  },
  // Socket.IO
  {
    stage: 'socket.io: polling handshake, reset before the answer',
    run: (t) => resetAfter(t, ['GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n']),
  },
  {
    stage: 'socket.io: websocket upgrade, reset before 101',
    run: (t) => resetAfter(t, [upgradeRequest('/socket.io/?EIO=4&transport=websocket')]),
  },
  {
    stage: 'socket.io: refused upgrade (bad sid), reset before reading',
    run: (t) => resetAfter(t, [upgradeRequest('/socket.io/?EIO=4&transport=websocket&sid=nope')]),
  },
  {
    stage: 'socket.io: reset mid CONNECT packet',
    run: (t) =>
      resetAfter(
        t,
        [
          upgradeRequest('/socket.io/?EIO=4&transport=websocket'),
          maskedTextFrame(`40{"token":"${t.token}"}`).subarray(0, 9),
        ],
        { text: '"sid"' },
      ),
  },
  {
    stage: 'socket.io: CONNECT sent, reset during authentication',
    run: (t) =>
      resetAfter(
        t,
        [upgradeRequest('/socket.io/?EIO=4&transport=websocket'), maskedTextFrame(`40{"token":"${t.token}"}`)],
        { text: '"sid"' },
      ),
  },
  {
    stage: 'socket.io: channel namespace CONNECT, reset during attach',
    run: (t) =>
      resetAfter(
        t,
        [
          upgradeRequest('/socket.io/?EIO=4&transport=websocket'),
          maskedTextFrame(`40/channels/${t.channelId},{"token":"${t.token}"}`),
        ],
        { text: '"sid"' },
      ),
  },
];
