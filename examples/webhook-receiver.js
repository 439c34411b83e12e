// Receives Herald's webhooks and verifies each one with the standardwebhooks library.
//
//   HERALD_URL=http://localhost:3000 HERALD_API_KEY=hrld_... node examples/webhook-receiver.js --claim clm_9f2a3b4c
//
// Subscribes http://127.0.0.1:<port>/webhooks to the events of one claim (POST
// /api/v1/approval-notifications/subscriptions; the key needs events:read) and verifies every
// request with the signing secret that answer carried (it is shown only there); a forged or
// altered request gets 400. Herald calls only public addresses unless it was started with
// WEBHOOK_ALLOW_PRIVATE=true, which this needs on one machine (development only). With
// --secret whsec_… it subscribes nothing and only receives, for a subscription made elsewhere.
// Stops after --count verified webhooks or --timeout seconds, unsubscribing what it subscribed.
'use strict';
const { createServer } = require('node:http');
const { parseArgs } = require('node:util');
const { Webhook } = require('standardwebhooks');

const { HERALD_URL, HERALD_API_KEY } = process.env;
if (!HERALD_URL || !HERALD_API_KEY) {
  console.error('Set HERALD_URL (e.g. http://localhost:3000) and HERALD_API_KEY (a key with events:read).');
  process.exit(2);
}
const { values: args } = parseArgs({
  options: {
    claim: { type: 'string', default: 'clm_9f2a3b4c' },
    user: { type: 'string', default: 'usr_84cd12ef' },
    port: { type: 'string', default: '4000' },
    secret: { type: 'string' },
    count: { type: 'string', default: '1' },
    timeout: { type: 'string', default: '30' },
  },
});
const headers = { Authorization: `Bearer ${HERALD_API_KEY}`, 'Content-Type': 'application/json' };
let webhook; // new Webhook(signing secret)
let subscriptionId;
let verified = 0;

const server = createServer((req, res) => {
  const chunks = [];
  req.on('data', (chunk) => chunks.push(chunk));
  req.on('end', () => {
    // Verify the raw bytes as received: parsing and re-serialising the JSON would break the signature.
    const body = Buffer.concat(chunks).toString('utf8');
    let event;
    try {
      event = webhook.verify(body, req.headers); // checks webhook-id, -timestamp and -signature
    } catch (err) {
      console.log(`rejected a request: ${err.message}`);
      return res.writeHead(400).end();
    }
    // webhook-id stays the same across retries of one delivery: a receiver may drop repeats by it.
    console.log(`verified ${req.headers['webhook-id']}: ${event.type} ${event.id} seq ${event.sequence}`);
    res.writeHead(204).end(() => {
      if (++verified >= Number(args.count)) void finish(0);
    });
  });
});

async function subscribe(url) {
  const res = await fetch(new URL('/api/v1/approval-notifications/subscriptions', HERALD_URL), {
    method: 'POST',
    headers,
    body: JSON.stringify({ claim_id: args.claim, user_id: args.user, webhook_url: url }),
  });
  const body = await res.json();
  if (res.status !== 201) throw new Error(`subscribing ${url}: ${res.status} ${JSON.stringify(body)}`);
  subscriptionId = body.subscription_id;
  console.log(`subscribed ${url} to claim ${args.claim} as ${subscriptionId}`);
  return body.signing_secret;
}

async function finish(code) {
  if (subscriptionId) {
    const url = new URL(`/api/v1/approval-notifications/subscriptions/${subscriptionId}`, HERALD_URL);
    await fetch(url, { method: 'DELETE', headers }).catch(() => undefined);
  }
  server.close();
  process.exit(code);
}

async function main() {
  await new Promise((resolve) => server.listen(Number(args.port), '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${server.address().port}/webhooks`;
  webhook = new Webhook(args.secret ?? (await subscribe(url)));
  console.log(`listening on ${url}`);
  setTimeout(
    () => {
      console.error(`timed out after ${args.timeout} s with ${verified} verified webhooks`);
      void finish(1);
    },
    Number(args.timeout) * 1000,
  );
}

main().catch((err) => {
  console.error(`Could not receive webhooks: ${err.message}`);
  void finish(1);
});
