// Subscribes a Socket.IO session to the followers of a channel (the session subscription API)
// and prints each new follower, then exits.
//
//   HERALD_URL=http://localhost:3000 HERALD_API_KEY=hrld_... node examples/session-follow.js --channel chan_demo
//
// channel.follow needs a *user* key with the users.read scope. The socket's id is the
// sessionId; the subscription lives as long as the socket, so it is made again on every
// (re)connect. Stops after --count followers or --timeout seconds.
'use strict';
const { parseArgs } = require('node:util');
const { io } = require('socket.io-client');

const { HERALD_URL, HERALD_API_KEY } = process.env;
if (!HERALD_URL || !HERALD_API_KEY) {
  console.error('Set HERALD_URL (e.g. http://localhost:3000) and HERALD_API_KEY (a user key with users.read).');
  process.exit(2);
}
const { values: args } = parseArgs({
  options: {
    channel: { type: 'string', default: '9b7f3c2a-2f41-4f5e-9f54-6c1d8a2b7e90' },
    count: { type: 'string', default: '1' },
    timeout: { type: 'string', default: '30' },
  },
});
const headers = { Authorization: `Bearer ${HERALD_API_KEY}`, 'Content-Type': 'application/json' };
const socket = io(HERALD_URL, { auth: { token: HERALD_API_KEY }, transports: ['websocket'] });
let followers = 0;

function stop(code, why) {
  if (why) console.error(why);
  socket.close();
  process.exit(code);
}

async function subscribe() {
  const subscription = {
    type: 'channel.follow',
    version: '1',
    sessionId: socket.id,
    condition: { channelId: args.channel },
  };
  const res = await fetch(new URL('/v1/events/subscriptions', HERALD_URL), {
    method: 'POST',
    headers,
    body: JSON.stringify(subscription),
  });
  const body = await res.json(); // { success, message } (and errors when success is false)
  if (!res.ok) return stop(1, `subscribing failed: ${res.status} ${JSON.stringify(body)}`);
  const list = await (await fetch(new URL(`/v1/events/${socket.id}/subscriptions`, HERALD_URL), { headers })).json();
  console.log(`session ${socket.id} subscribed: ${JSON.stringify(list.data)}`);
}

socket.on('connect', () => subscribe().catch((err) => stop(1, `subscribing failed: ${err.message}`)));
socket.on('connect_error', (err) => stop(1, `connection refused: ${err.data?.message ?? err.message}`));
socket.on('channel.follow', (event) => {
  console.log(`new follower of ${event.channelid}: ${event.userid} (event ${event.id})`);
  if (++followers >= Number(args.count)) stop(0);
});
setTimeout(() => stop(1, `timed out after ${args.timeout} s with ${followers} followers`), Number(args.timeout) * 1000);
