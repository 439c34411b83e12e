// A raw WebSocket client of /api/v1/ws/subscribe: prints every frame it gets, then exits.
//
//   HERALD_URL=http://localhost:3000 HERALD_API_KEY=hrld_... node examples/raw-websocket.js \
//     --types claim_approved --subscribe comment_added --count 2
//
// The key needs events:read. Every frame is JSON text.
//   Server → client: {"type":"welcome","client_id","user_id","event_types"}
//                    {"type":"event","event":<CloudEvents envelope>}
//                    {"type":"subscriptions","event_types":[…]}  (after subscribe / unsubscribe)
//                    {"type":"pong"}  {"type":"error","code","message"}  {"type":"closed","reason"}
//   Client → server: {"action":"subscribe","event_types":[…]}
//                    {"action":"unsubscribe","event_types":[…]}
//                    {"action":"ping"}
// The server pings every 25 s at the WebSocket level (the ws library answers by itself), so a
// client needs no timer of its own. Stops after --count events or --timeout seconds.
'use strict';
const { parseArgs } = require('node:util');
const WebSocket = require('ws');

const { HERALD_URL, HERALD_API_KEY } = process.env;
if (!HERALD_URL || !HERALD_API_KEY) {
  console.error('Set HERALD_URL (e.g. http://localhost:3000) and HERALD_API_KEY (a key with events:read).');
  process.exit(2);
}
const { values: args } = parseArgs({
  options: {
    types: { type: 'string' }, // comma-separated; none: every type of the catalog
    subscribe: { type: 'string' }, // types to add with a subscribe frame once welcomed
    unsubscribe: { type: 'string' }, // types to take away with an unsubscribe frame
    count: { type: 'string', default: '1' },
    timeout: { type: 'string', default: '30' },
  },
});

const url = new URL('/api/v1/ws/subscribe', HERALD_URL.replace(/^http/, 'ws'));
if (args.types) url.searchParams.set('event_types', args.types);
const ws = new WebSocket(url, { headers: { Authorization: `Bearer ${HERALD_API_KEY}` } });
let events = 0;

function stop(code, why) {
  if (why) console.error(why);
  ws.terminate();
  process.exit(code);
}

// A refused upgrade is a plain HTTP response: { code, message, stack } with 401, 403, 400 or 429.
ws.on('unexpected-response', (_req, res) => {
  let body = '';
  res.on('data', (chunk) => (body += chunk));
  res.on('end', () => stop(1, `upgrade refused: ${res.statusCode} ${body}`));
});
ws.on('error', (err) => stop(1, `connection failed: ${err.message}`));
ws.on('close', (code) => stop(1, `connection closed (${code})`));

ws.on('message', (raw) => {
  const frame = JSON.parse(raw.toString());
  switch (frame.type) {
    case 'welcome':
      console.log(`welcome: client ${frame.client_id}, event types ${frame.event_types.join(',')}`);
      ws.send(JSON.stringify({ action: 'ping' }));
      if (args.subscribe) ws.send(JSON.stringify({ action: 'subscribe', event_types: args.subscribe.split(',') }));
      if (args.unsubscribe)
        ws.send(JSON.stringify({ action: 'unsubscribe', event_types: args.unsubscribe.split(',') }));
      break;
    case 'pong':
      console.log('pong');
      break;
    case 'subscriptions':
      console.log(`subscribed to ${frame.event_types.join(',')}`);
      break;
    case 'event':
      console.log(`received ${frame.event.type} ${frame.event.id} seq ${frame.event.sequence}`);
      if (++events >= Number(args.count)) stop(0);
      break;
    case 'error':
      console.log(`error frame ${frame.code}: ${frame.message}`);
      break;
    case 'closed':
      console.log(`server closing: ${frame.reason}`);
      break;
  }
});
setTimeout(() => stop(1, `timed out after ${args.timeout} s with ${events} events`), Number(args.timeout) * 1000);
