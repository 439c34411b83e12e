// Follows a realtime channel and resumes exactly where it left off.
//
//   HERALD_URL=http://localhost:3000 HERALD_API_KEY=hrld_... node examples/channel-resume.js --count 2
//   node examples/channel-resume.js --count 2         # again: starts after the last event it printed
//   node examples/channel-resume.js --raw --count 2   # the same over a raw WebSocket
//
// The first run creates a channel of one user's claim events (POST
// /api/v1/realtime-subscriptions/user) and keeps its id and the last seq it saw in --state
// (default .herald-channel.json). Every later connection sends that seq as last_seq, and Herald
// replays what came after it, in order, before live events: no gap, no duplicate. The key needs
// events:read (an app key, or a user key for its own user).
'use strict';
const { existsSync, readFileSync, writeFileSync } = require('node:fs');
const { parseArgs } = require('node:util');
const { io } = require('socket.io-client');
const WebSocket = require('ws');

const { HERALD_URL, HERALD_API_KEY } = process.env;
if (!HERALD_URL || !HERALD_API_KEY) {
  console.error('Set HERALD_URL (e.g. http://localhost:3000) and HERALD_API_KEY (a key with events:read).');
  process.exit(2);
}
const { values: args } = parseArgs({
  options: {
    user: { type: 'string', default: 'usr_84cd12ef' }, // whose claim events a new channel carries
    state: { type: 'string', default: '.herald-channel.json' },
    raw: { type: 'boolean', default: false },
    count: { type: 'string', default: '1' },
    timeout: { type: 'string', default: '30' },
  },
});
const headers = { Authorization: `Bearer ${HERALD_API_KEY}`, 'Content-Type': 'application/json' };
let received = 0;
let stop = (code) => process.exit(code);

async function loadOrCreateChannel() {
  if (existsSync(args.state)) return JSON.parse(readFileSync(args.state, 'utf8'));
  const res = await fetch(new URL('/api/v1/realtime-subscriptions/user', HERALD_URL), {
    method: 'POST',
    headers,
    body: JSON.stringify({ user_id: args.user }),
  });
  const body = await res.json();
  if (res.status !== 201) throw new Error(`creating the channel: ${res.status} ${JSON.stringify(body)}`);
  console.log(`created channel ${body.channel_id}`);
  // No last_seq yet: the first attach replays everything since the channel was created.
  return { channel_id: body.channel_id, websocket_url: body.websocket_url };
}

function onWelcome(state, welcome) {
  const pruned = welcome.complete ? '' : ' (retention already pruned part of it)';
  console.log(`welcome: channel ${state.channel_id}, resuming after seq ${welcome.resume_after}${pruned}`);
}

function onEvent(state, event) {
  state.last_seq = Number(event.sequence);
  writeFileSync(args.state, JSON.stringify(state));
  console.log(`received ${event.type} ${event.id} seq ${event.sequence}`);
  if (++received >= Number(args.count)) stop(0);
}

function attachSocketIo(state) {
  // The websocket_url's path is the Socket.IO namespace /channels/<channel_id>. `auth` is a
  // function so that every reconnect sends the latest last_seq; it is left out until one is known.
  const socket = io(state.websocket_url, {
    transports: ['websocket'],
    auth: (cb) => cb({ token: HERALD_API_KEY, ...(state.last_seq !== undefined && { last_seq: state.last_seq }) }),
  });
  stop = (code) => {
    socket.close();
    process.exit(code);
  };
  socket.on('connect_error', (err) => console.error(`cannot attach: ${err.data?.message ?? err.message}`));
  socket.on('welcome', (welcome) => onWelcome(state, welcome));
  socket.on('closing', (notice) => console.log(`closing: ${notice.reason}`));
  socket.onAny((name, payload) => {
    if (name !== 'welcome' && name !== 'closing') onEvent(state, payload);
  });
}

function attachRaw(state) {
  const url = new URL(state.websocket_url);
  if (state.last_seq !== undefined) url.searchParams.set('last_seq', String(state.last_seq));
  const ws = new WebSocket(url, { headers: { Authorization: `Bearer ${HERALD_API_KEY}` } });
  stop = (code) => {
    ws.terminate();
    process.exit(code);
  };
  ws.on('unexpected-response', (_req, res) => {
    console.error(`cannot attach: HTTP ${res.statusCode}`);
    stop(1);
  });
  // Frames: {"type":"welcome"|"event"|"pong"|"error"|"closed", …}; a channel socket accepts only {"action":"ping"}.
  ws.on('message', (raw) => {
    const frame = JSON.parse(raw.toString());
    if (frame.type === 'welcome') onWelcome(state, frame);
    if (frame.type === 'event') onEvent(state, frame.event);
    if (frame.type === 'closed') console.log(`closed: ${frame.reason}`);
  });
}

async function main() {
  const state = await loadOrCreateChannel();
  writeFileSync(args.state, JSON.stringify(state));
  if (args.raw) attachRaw(state);
  else attachSocketIo(state);
  setTimeout(
    () => {
      console.error(`timed out after ${args.timeout} s with ${received} events`);
      stop(1);
    },
    Number(args.timeout) * 1000,
  );
}

main().catch((err) => {
  console.error(`Could not follow the channel: ${err.message}`);
  process.exit(1);
});
