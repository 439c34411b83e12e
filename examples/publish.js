// Publishes one event and prints what Herald stored.
//
//   HERALD_URL=http://localhost:3000 HERALD_API_KEY=hrld_... node examples/publish.js
//   node examples/publish.js --type claim_rejected --user usr_84cd12ef --claim clm_9f2a3b4c --id clm_9f2a3b4c-rejected
//   node examples/publish.js --type channel.follow --channel chan_demo --user usr_5d2e7a10
//
// The key needs the events:publish scope. With --id, publishing the same id again returns the
// original event (200) and stores nothing.
'use strict';
const { parseArgs } = require('node:util');

const { HERALD_URL, HERALD_API_KEY } = process.env;
if (!HERALD_URL || !HERALD_API_KEY) {
  console.error('Set HERALD_URL (e.g. http://localhost:3000) and HERALD_API_KEY (a key with events:publish).');
  process.exit(2);
}

const { values: args } = parseArgs({
  options: {
    type: { type: 'string', default: 'claim_approved' },
    user: { type: 'string', default: 'usr_84cd12ef' },
    claim: { type: 'string' },
    channel: { type: 'string' },
    id: { type: 'string' },
    data: { type: 'string' }, // JSON; checked against the type's schema (GET /api/v1/event-types)
  },
});
const isFollow = args.type === 'channel.follow';
const data = args.data ? JSON.parse(args.data) : isFollow ? { follower: args.user } : { amount: 4850, currency: 'NOK' };

async function main() {
  const res = await fetch(new URL('/api/v1/events', HERALD_URL), {
    method: 'POST',
    headers: { 'X-Api-Key': HERALD_API_KEY, 'Content-Type': 'application/json' },
    body: JSON.stringify({
      type: args.type,
      id: args.id,
      user_id: args.user,
      claim_id: args.claim ?? (isFollow ? undefined : 'clm_9f2a3b4c'),
      channel_id: args.channel,
      data,
    }),
  });
  const body = await res.json();
  if (!res.ok) {
    console.error(`Herald answered ${res.status}: ${JSON.stringify(body)}`);
    process.exit(1);
  }
  // 201: stored now; 200: an event with this id was already stored, and this is it.
  const verb = res.status === 201 ? 'published' : 'already published';
  console.log(`${verb} ${body.type} ${body.id} seq ${body.seq}`);
}

main().catch((err) => {
  console.error(`Could not publish: ${err.message}`);
  process.exit(1);
});
