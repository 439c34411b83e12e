import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as prettier from 'prettier';
import request from 'supertest';
import ts from 'typescript';
import { mintKey } from '../support/credentials';
import { waitFor } from '../support/sockets';
import { startTestApp, type TestApp } from '../support/test-app';
import { WebhookReceiver } from '../support/webhook-receiver';

/**
 * The typed client of examples/typed-client, as a client team would build it: types generated
 * from the live /docs-json by openapi-typescript (the committed herald-api.d.ts must be exactly
 * that, so it never drifts), a program using openapi-fetch compiled with `tsc --strict` and no
 * casts, then run against a real server.
 *
 * After an API change, regenerate the committed types with
 *   UPDATE_TYPED_CLIENT=1 node --experimental-vm-modules node_modules/jest/bin/jest.js \
 *     --selectProjects e2e test/e2e/openapi-client.e2e-spec.ts
 */

// Tests run from the project root (npm test); ESM test modules have no __dirname.
const ROOT = process.cwd();
const CLIENT_DIR = join(ROOT, 'examples/typed-client');
const GENERATED = join(CLIENT_DIR, 'herald-api.d.ts');
const PROGRAM = join(CLIENT_DIR, 'main.ts');
const OPENAPI_TS = join(ROOT, 'node_modules/openapi-typescript/bin/cli.js');
const TSC = join(ROOT, 'node_modules/typescript/bin/tsc');
const run = promisify(execFile);
const BOUNDED = { timeout: 120_000, maxBuffer: 64 * 1024 * 1024 };

/** openapi-typescript's output for `doc`, formatted as the repository formats TypeScript. */
async function generateTypes(doc: unknown, dir: string): Promise<string> {
  const input = join(dir, 'openapi.json');
  const output = join(dir, 'herald-api.d.ts');
  writeFileSync(input, JSON.stringify(doc));
  await run(process.execPath, [OPENAPI_TS, input, '--output', output], BOUNDED);
  const options = await prettier.resolveConfig(GENERATED);
  return prettier.format(readFileSync(output, 'utf8'), { ...options, filepath: GENERATED });
}

/** Where the program leans on the compiler instead of the generated types: `as`, `<T>x`, `x!`, `any`. */
function escapeHatches(file: string): string[] {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
  const found: string[] = [];
  const visit = (node: ts.Node) => {
    const at = () => `line ${source.getLineAndCharacterOfPosition(node.getStart()).line + 1}: ${node.getText()}`;
    if (ts.isAsExpression(node) && node.type.getText() !== 'const') found.push(`cast ${at()}`);
    if (ts.isTypeAssertionExpression(node)) found.push(`cast ${at()}`);
    if (ts.isNonNullExpression(node)) found.push(`non-null assertion ${at()}`);
    if (node.kind === ts.SyntaxKind.AnyKeyword) found.push(`any ${at()}`);
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

describe('OpenAPI: a client generated from /docs-json compiles strictly and runs', () => {
  let t: TestApp;
  let receiver: WebhookReceiver;
  let dir: string;
  let fresh: string;

  beforeAll(async () => {
    t = await startTestApp({ env: { WEBHOOK_ALLOW_PRIVATE: 'true' } });
    receiver = await WebhookReceiver.start('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw');
    dir = mkdtempSync(join(tmpdir(), 'herald-typed-client-'));
    const doc = await (await fetch(`${t.url}/docs-json`)).json();
    fresh = await generateTypes(doc, dir);
    if (process.env.UPDATE_TYPED_CLIENT === '1') writeFileSync(GENERATED, fresh);
  }, 120_000);
  afterAll(async () => {
    if (dir) rmSync(dir, { recursive: true, force: true });
    await receiver?.close();
    await t?.close();
  });

  it('herald-api.d.ts is what openapi-typescript generates from the live document', () => {
    const committed = readFileSync(GENERATED, 'utf8');
    if (committed !== fresh) {
      throw new Error(
        'examples/typed-client/herald-api.d.ts differs from a fresh generation from /docs-json; regenerate it with ' +
          'UPDATE_TYPED_CLIENT=1 and this spec (see its header)',
      );
    }
  });

  it('the generated types have a real type for every schema: no empty object types', () => {
    const empty = fresh
      .split('\n')
      .filter((line) => line.includes('Record<string, never>'))
      // openapi-typescript declares every root of the document; these two are empty in Herald's.
      .filter((line) => !/^export type (webhooks|\$defs) = Record<string, never>;$/.test(line));
    expect(empty).toEqual([]);
    expect(fresh).toMatch(/operations\[['"]sessionSubscriptions\.create['"]\]/);
    expect(fresh).not.toMatch(/Seed0|Controller_/);
  });

  it('main.ts needs no cast, no non-null assertion and no any', () => {
    expect(escapeHatches(PROGRAM)).toEqual([]);
  });

  it('compiles with tsc --strict and publishes, reads back, subscribes a webhook, lists deliveries and reads a typed 400', async () => {
    const out = join(dir, 'out');
    try {
      await run(process.execPath, [TSC, '-p', CLIENT_DIR, '--strict', '--outDir', out], BOUNDED);
    } catch (err) {
      const { stdout, stderr } = err as { stdout?: string; stderr?: string };
      throw new Error(`tsc --strict failed:\n${stdout ?? ''}${stderr ?? ''}`, { cause: err });
    }
    // The compiled program finds openapi-fetch where a client project would: in a node_modules beside it.
    symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');

    const key = await mintKey(t, { user: 'usr_typed', scopes: ['events:publish', 'events:read'] });
    const child = spawn(process.execPath, [join(out, 'main.js')], {
      env: {
        PATH: process.env.PATH ?? '',
        HERALD_URL: t.url,
        HERALD_API_KEY: key,
        WEBHOOK_URL: receiver.url,
        CLAIM_ID: 'clm_typed_1',
        USER_ID: 'usr_typed',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((resolve) => {
      const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
      child.once('exit', (exitCode) => {
        clearTimeout(timer);
        resolve(exitCode);
      });
    });
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });

    const lines = stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(6);
    const [subscribed, published, readBack, delivery, refused, detail] = lines;
    const subscriptionId = /^subscribed (sub_\w+) to claim clm_typed_1 \(signing secret received\)$/.exec(
      subscribed,
    )?.[1];
    const [, eventId, seq] = /^published (evt_\w+) seq (\d+) \(HTTP 201\)$/.exec(published) ?? [];
    expect({ subscriptionId, eventId, seq }).toEqual({
      subscriptionId: expect.any(String),
      eventId: expect.any(String),
      seq: expect.any(String),
    });
    expect(readBack).toBe(
      `read back ${eventId} claim_approved v1 claim clm_typed_1 user usr_typed channel none data ` +
        '{"claim_id":"clm_typed_1","amount":4850,"currency":"NOK","approver":"usr_coord99"}',
    );
    const deliveryId = new RegExp(
      `^delivery (dlv_\\w+) delivered HTTP 200 after 1 attempt\\(s\\), event ${eventId}$`,
    ).exec(delivery)?.[1];
    expect(deliveryId).toEqual(expect.any(String));
    expect(refused).toBe(
      'publish refused: 400 Validation failed: type: type must be an event type name such as claim_approved',
    );
    expect(detail).toBe('  type: type must be an event type name such as claim_approved');

    // What the program printed is what the server holds and what the receiver got.
    const events = await request(t.url)
      .get('/api/v1/events')
      .query({ after: Number(seq) - 1 })
      .set('X-Api-Key', key);
    expect(events.body.data.map((e: { id: string }) => e.id)).toEqual([eventId]);
    await waitFor('the webhook', () => receiver.requests.some((r) => r.id === deliveryId));
    const received = receiver.requests.find((r) => r.id === deliveryId);
    expect(JSON.parse(received?.body ?? '{}')).toMatchObject({
      id: eventId,
      type: 'claim_approved',
      claimid: 'clm_typed_1',
    });
    const subscription = await request(t.url)
      .get(`/api/v1/approval-notifications/subscriptions/${subscriptionId}`)
      .set('X-Api-Key', key);
    expect(subscription.body).toMatchObject({ claim_id: 'clm_typed_1', webhook_url: receiver.url });
  }, 180_000);
});
