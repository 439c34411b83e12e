// Listens on Socket.IO and prints every event Herald sends, then exits.
//
//   HERALD_URL=http://localhost:3000 HERALD_API_KEY=hrld_... node examples/socketio-listener.js --count 3
//
// The key needs events:read. An app key (or a user key with claims:read:org) receives the
// organisation's events; any other user key the events about its own user. Events arrive under
// their type, as CloudEvents envelopes; `notification` and `closing` are Herald's own messages.
// Stops after --count messages or --timeout seconds (exit code 1 on timeout).
'use strict';
const { parseArgs } = require('node:util');
const { io } = require('socket.io-client');

const { HERALD_URL, HERALD_API_KEY } = process.env;
if (!HERALD_URL || !HERALD_API_KEY) {
  console.error('Set HERALD_URL (e.g. http://localhost:3000) and HERALD_API_KEY (a key with events:read).');
  process.exit(2);
}
const { values: args } = parseArgs({
  options: { count: { type: 'string', default: '1' }, timeout: { type: 'string', default: '30' } },
});

const socket = io(HERALD_URL, { auth: { token: HERALD_API_KEY }, transports: ['websocket'] });
let received = 0;

function stop(code, why) {
  if (why) console.error(why);
  socket.close();
  process.exit(code);
}

socket.on('connect', () => console.log(`connected as ${socket.id}; waiting for events`));
// A refused handshake (bad key, missing scope, too many sockets) says why in err.data.
socket.on('connect_error', (err) => stop(1, `connection refused: ${err.data?.message ?? err.message}`));
socket.on('closing', (notice) => console.log(`server is closing this socket: ${notice.code} (${notice.reason})`));
socket.onAny((name, payload) => {
  if (name === 'closing') return;
  if (name === 'notification') console.log(`notification ${payload.notification_id}: ${payload.payload?.title}`);
  else console.log(`received ${name} ${payload.id} seq ${payload.sequence} ${JSON.stringify(payload.data)}`);
  if (++received >= Number(args.count)) stop(0);
});
setTimeout(() => stop(1, `timed out after ${args.timeout} s with ${received} messages`), Number(args.timeout) * 1000);
