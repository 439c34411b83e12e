import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { familyOf, loadDocument, type OpenApiDocument, type Schema } from '../reliability/contract';
import { startTestApp, type TestApp } from '../support/test-app';

/**
 * /docs-json as a client team's tooling reads it: Redocly CLI's recommended ruleset (plus
 * redocly.yaml) at 0 errors and 0 warnings, operationIds and tags an SDK generator can use,
 * every error response in its family's envelope, nullable types that generate real types, and
 * no internal names.
 */

// Tests run from the project root (npm test); ESM test modules have no __dirname.
const ROOT = process.cwd();
const REDOCLY = join(ROOT, 'node_modules/@redocly/cli/bin/cli.js');
const CONFIG = join(ROOT, 'redocly.yaml');
const run = promisify(execFile);

const ENVELOPE_OF_FAMILY = {
  standard: '#/components/schemas/StandardErrorDto',
  seed001: '#/components/schemas/WebSocketErrorDto',
  seed004: '#/components/schemas/SessionErrorDto',
} as const;
const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'options', 'head', 'trace'];

interface LintProblem {
  ruleId: string;
  severity: string;
  message: string;
  location: { pointer: string }[];
}

function operations(doc: OpenApiDocument): { method: string; path: string; op: Record<string, any> }[] {
  return Object.entries(doc.paths).flatMap(([path, item]) =>
    Object.entries(item)
      .filter(([method]) => METHODS.includes(method))
      .map(([method, op]) => ({ method, path, op: op as Record<string, any> })),
  );
}

/** Every schema object in the document (components, parameters, bodies, responses), with where it is. */
function schemasIn(doc: OpenApiDocument): { at: string; schema: Schema }[] {
  const found: { at: string; schema: Schema }[] = [];
  const walk = (schema: unknown, at: string) => {
    if (!schema || typeof schema !== 'object' || Array.isArray(schema)) return;
    const s = schema as Schema;
    found.push({ at, schema: s });
    for (const key of ['items', 'additionalProperties', 'not'])
      if (s[key] && typeof s[key] === 'object') walk(s[key], `${at}.${key}`);
    for (const [name, property] of Object.entries((s.properties ?? {}) as Record<string, Schema>))
      walk(property, `${at}.${name}`);
    for (const key of ['allOf', 'oneOf', 'anyOf'])
      for (const [i, member] of ((s[key] ?? []) as Schema[]).entries()) walk(member, `${at}.${key}[${i}]`);
  };
  for (const [name, schema] of Object.entries(doc.components.schemas)) walk(schema, name);
  for (const { method, path, op } of operations(doc)) {
    const where = `${method.toUpperCase()} ${path}`;
    for (const parameter of op.parameters ?? []) walk(parameter.schema, `${where} ${parameter.in} ${parameter.name}`);
    walk(op.requestBody?.content?.['application/json']?.schema, `${where} body`);
    for (const [status, response] of Object.entries((op.responses ?? {}) as Record<string, any>))
      walk(response.content?.['application/json']?.schema, `${where} ${status}`);
  }
  return found;
}

describe('OpenAPI: /docs-json lints clean and reads like an SDK', () => {
  let t: TestApp;
  let doc: OpenApiDocument;
  let dir: string;

  beforeAll(async () => {
    t = await startTestApp();
    doc = await loadDocument(t.url);
    dir = mkdtempSync(join(tmpdir(), 'herald-openapi-'));
  });
  afterAll(async () => {
    if (dir) rmSync(dir, { recursive: true, force: true });
    await t?.close();
  });

  it('Redocly CLI (recommended ruleset and redocly.yaml) reports 0 errors and 0 warnings', async () => {
    const file = join(dir, 'herald-openapi.json');
    writeFileSync(file, JSON.stringify(doc, null, 2));
    // `lint` exits non-zero when it finds errors; the JSON report on stdout says what they are either way.
    const { stdout } = await run(process.execPath, [REDOCLY, 'lint', file, '--config', CONFIG, '--format=json'], {
      cwd: dir,
      timeout: 60_000,
      maxBuffer: 64 * 1024 * 1024,
      env: { PATH: process.env.PATH ?? '', REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' },
    }).catch((err: { stdout?: string; stderr?: string; message: string }) => {
      if (!err.stdout) throw new Error(`redocly lint did not report: ${err.message}\n${err.stderr ?? ''}`);
      return { stdout: err.stdout };
    });
    const report = JSON.parse(stdout) as { totals: { errors: number; warnings: number }; problems: LintProblem[] };
    const problems = report.problems.map(
      (p) => `${p.severity} ${p.ruleId} at ${p.location.map((l) => l.pointer).join(', ')}: ${p.message}`,
    );
    expect(problems).toEqual([]);
    expect(report.totals).toMatchObject({ errors: 0, warnings: 0 });
  });

  it('redocly.yaml extends recommended and turns a rule off only with a reason on the line above', () => {
    const lines = readFileSync(CONFIG, 'utf8').split('\n');
    expect(lines).toContain('  - recommended');
    const unexplained = lines
      .map((line, i) => ({ line, above: lines[i - 1] ?? '' }))
      .filter(({ line }) => /^\s+[\w/-]+:\s*off\s*$/.test(line))
      .filter(({ above }) => !/^\s*#\s*\S.{10,}/.test(above))
      .map(({ line }) => line.trim());
    expect(unexplained).toEqual([]);
  });

  it('every operation has one defined tag and a unique resource.verb operationId', () => {
    const defined = new Set(
      ((doc as { tags?: { name: string; description?: string }[] }).tags ?? []).map((t) => t.name),
    );
    const problems: string[] = [];
    const seen = new Map<string, string>();
    for (const { method, path, op } of operations(doc)) {
      const where = `${method.toUpperCase()} ${path}`;
      const id = String(op.operationId);
      if (!/^[a-z][A-Za-z]+\.[a-z][A-Za-z]+$/.test(id)) problems.push(`${where}: operationId ${id}`);
      if (seen.has(id)) problems.push(`${where}: operationId ${id} also on ${seen.get(id)}`);
      seen.set(id, where);
      if (!Array.isArray(op.tags) || op.tags.length !== 1) problems.push(`${where}: tags ${JSON.stringify(op.tags)}`);
      for (const tag of op.tags ?? []) if (!defined.has(tag)) problems.push(`${where}: tag ${tag} is not defined`);
      if (!op.summary) problems.push(`${where}: no summary`);
    }
    expect(problems).toEqual([]);
    expect(seen.size).toBeGreaterThanOrEqual(50);
    // Spot checks of the names a client team codes against.
    expect(doc.paths['/api/v1/realtime-subscriptions/organisation'].post.operationId).toBe(
      'channels.createForOrganisation',
    );
    expect(doc.paths['/api/v1/webhook-deliveries'].get.operationId).toBe('webhookDeliveries.list');
    expect(doc.paths['/api/v1/api-keys/{key_id}'].delete.operationId).toBe('apiKeys.revoke');
    expect(doc.paths['/v1/events/subscriptions'].post.operationId).toBe('sessionSubscriptions.create');
    expect(doc.paths['/api/v1/events/subscriptions'].post.operationId).toBe(
      'sessionSubscriptions.createUnderApiPrefix',
    );
  });

  it("every 4xx and 5xx response carries its path family's error envelope and an example of it", () => {
    const problems: string[] = [];
    let checked = 0;
    for (const { method, path, op } of operations(doc)) {
      const envelope = ENVELOPE_OF_FAMILY[familyOf(path)];
      for (const [status, response] of Object.entries((op.responses ?? {}) as Record<string, any>)) {
        if (!/^[45]/.test(status)) continue;
        checked++;
        const media = response.content?.['application/json'];
        const where = `${method.toUpperCase()} ${path} ${status}`;
        if (media?.schema?.$ref !== envelope) problems.push(`${where}: schema ${JSON.stringify(media?.schema)}`);
        if (media?.example === undefined) problems.push(`${where}: no example`);
        if (!response.description) problems.push(`${where}: no description`);
      }
    }
    expect(problems).toEqual([]);
    expect(checked).toBeGreaterThan(150);
  });

  it('every operation documents a success response; only the WebSocket upgrade has no 2xx', () => {
    const without2xx = operations(doc)
      .filter(({ op }) => !Object.keys(op.responses ?? {}).some((s) => /^2\d\d$/.test(s)))
      .map(({ method, path, op }) => `${method.toUpperCase()} ${path} ${Object.keys(op.responses).join(',')}`);
    expect(without2xx).toEqual(['GET /api/v1/ws/subscribe 101,400,401,403,426,429']);
  });

  it('nullable types generate real types: a type beside every nullable, no empty objects, no untyped schemas', () => {
    const problems: string[] = [];
    for (const { at, schema } of schemasIn(doc)) {
      const composed = ['$ref', 'allOf', 'oneOf', 'anyOf'].some((k) => k in schema);
      if (schema.nullable === true && !schema.type) problems.push(`${at}: nullable without a type`);
      if (schema.type === 'object' && !schema.properties && schema.additionalProperties === undefined && !composed)
        problems.push(`${at}: an object with no properties (a client sees Record<string, never>)`);
      if (!schema.type && !composed && !at.endsWith('.items')) problems.push(`${at}: no type`);
    }
    expect(problems).toEqual([]);
  });

  it('names no internals: no seed numbers, handler names or generated schema names', () => {
    const text = JSON.stringify(doc);
    expect(text.match(/Seed0\w*|seed 00\d|\w*Dto_\w*|\w+Controller_\w+/gi) ?? []).toEqual([]);
    const summaries = operations(doc)
      .map(({ op }) => String(op.summary))
      .filter((summary) => /\([a-z]+[A-Z]\w*\)/.test(summary));
    expect(summaries).toEqual([]);
  });

  it('an operation documented without credentials (security: []) answers without one', async () => {
    const open = operations(doc).filter(({ op }) => Array.isArray(op.security) && op.security.length === 0);
    expect(open.map(({ method, path }) => `${method} ${path}`).sort()).toEqual(['get /healthz', 'get /readyz']);
    for (const { method, path } of open) {
      const res = await fetch(`${t.url}${path}`, { method: method.toUpperCase() });
      expect(`${path} ${res.status}`).toBe(`${path} 200`);
    }
    const secured = operations(doc).filter(({ op }) => op.security?.length);
    expect(secured.length).toBe(operations(doc).length - open.length);
  });
});
