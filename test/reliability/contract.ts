/**
 * What the reliability suites hold every endpoint to, written from the API contracts (docs/api-contracts.md) rather than read back
 * from the app: which error envelope a path answers with, and what a well-formed one is.
 * The list of operations comes from the running app's OpenAPI document, so an endpoint added
 * later is fuzzed and must be placed in the authorization matrix without anyone remembering to.
 */

export type Family = 'standard' | 'seed001' | 'seed004';

/** docs/api-contracts.md "Error bodies": 001 answers in its own envelope, 004 in its own, everything else in the standard one. */
export function familyOf(path: string): Family {
  if (path.startsWith('/api/v1/ws/')) return 'seed001';
  if (/^\/v1\/events\//.test(path)) return 'seed004';
  if (/^\/api\/v1\/events\/(subscriptions|[^/]+\/subscriptions)$/.test(path)) return 'seed004';
  return 'standard';
}

/** Null when `body` is a well-formed error envelope of `family` for `status`; otherwise what is wrong. */
export function envelopeProblem(family: Family, status: number, body: unknown): string | null {
  if (!body || typeof body !== 'object' || Array.isArray(body)) return `not a JSON object: ${JSON.stringify(body)}`;
  const b = body as Record<string, unknown>;
  const str = (k: string) => typeof b[k] === 'string' && (b[k] as string).length > 0;
  switch (family) {
    case 'standard': {
      if (b.statusCode !== status) return `statusCode ${String(b.statusCode)} != ${status}`;
      if (!str('error') || !str('message')) return 'error and message must be non-empty strings';
      if (b.details !== undefined) {
        if (!Array.isArray(b.details)) return 'details must be an array';
        for (const d of b.details as Record<string, unknown>[]) {
          if (typeof d?.field !== 'string' || typeof d?.message !== 'string')
            return `bad details entry ${JSON.stringify(d)}`;
        }
      }
      return onlyKeys(b, ['statusCode', 'error', 'message', 'details']);
    }
    case 'seed001': {
      if (b.code !== status) return `code ${String(b.code)} != ${status}`;
      if (!str('message')) return 'message must be a non-empty string';
      if (!Array.isArray(b.stack) || b.stack.length === 0) return 'stack must be a non-empty array';
      for (const s of b.stack as Record<string, unknown>[]) {
        if (
          s?.code !== status ||
          typeof s.description !== 'string' ||
          typeof s.error !== 'string' ||
          typeof s.path !== 'string'
        ) {
          return `bad stack entry ${JSON.stringify(s)}`;
        }
      }
      return onlyKeys(b, ['code', 'message', 'stack']);
    }
    case 'seed004': {
      if (b.success !== false) return 'success must be false';
      if (!str('message')) return 'message must be a non-empty string';
      if (b.errors !== undefined && !Array.isArray(b.errors)) return 'errors must be an array';
      return onlyKeys(b, ['success', 'message', 'errors']);
    }
  }
}

function onlyKeys(body: Record<string, unknown>, allowed: string[]): string | null {
  const extra = Object.keys(body).filter((k) => !allowed.includes(k));
  return extra.length ? `unexpected keys ${extra.join(', ')}` : null;
}

export interface Operation {
  method: string;
  /** OpenAPI template, e.g. `/api/v1/subscriptions/{id}`. */
  path: string;
  pathParams: string[];
  queryParams: string[];
  /** JSON schema of the request body, `$ref`s left for the caller to resolve. */
  body?: Schema;
  /** Whether the document lists a credential for it. */
  secured: boolean;
  /** The 403 description, which names required scopes ("Requires scope a, b."). */
  forbidden?: string;
}

export type Schema = Record<string, any>;

export interface OpenApiDocument {
  paths: Record<string, Record<string, any>>;
  components: { schemas: Record<string, Schema> };
}

export async function loadDocument(url: string): Promise<OpenApiDocument> {
  const res = await fetch(`${url}/docs-json`);
  if (!res.ok) throw new Error(`GET /docs-json: ${res.status}`);
  return (await res.json()) as OpenApiDocument;
}

export function operationsOf(doc: OpenApiDocument): Operation[] {
  const ops: Operation[] = [];
  for (const [path, methods] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      const params = (op.parameters ?? []) as { name: string; in: string }[];
      ops.push({
        method: method.toUpperCase(),
        path,
        pathParams: params.filter((p) => p.in === 'path').map((p) => p.name),
        queryParams: params.filter((p) => p.in === 'query').map((p) => p.name),
        body: op.requestBody?.content?.['application/json']?.schema,
        secured: Array.isArray(op.security) && op.security.length > 0,
        forbidden: op.responses?.['403']?.description,
      });
    }
  }
  return ops;
}

export function resolve(doc: OpenApiDocument, schema: Schema): Schema {
  let s = schema;
  for (let i = 0; s?.$ref && i < 10; i++)
    s = doc.components.schemas[String(s.$ref).replace('#/components/schemas/', '')];
  return s ?? {};
}

/** Reads a JSON body if there is one; the raw text otherwise. */
export async function readBody(res: Response): Promise<unknown> {
  const text = await res.text();
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
