import { INestApplication } from '@nestjs/common';
import { DocumentBuilder, type OpenAPIObject, SwaggerModule } from '@nestjs/swagger';
import type { AppConfig } from '../config';
import { FieldErrorDto, SessionErrorDto, StandardErrorDto, WebSocketErrorDto } from './error.dto';
import { type ErrorFamily, familyForPath, type Problem, renderProblem, statusText } from './errors';

/** Swagger UI at /docs and the OpenAPI document at /docs-json. */
export function setupSwagger(app: INestApplication, config: AppConfig): void {
  const document = new DocumentBuilder()
    .setTitle('Herald')
    .setDescription(
      'Realtime event subscriptions and notifications for expense-claim approvals: events in, ' +
        'fan-out to Socket.IO rooms, raw WebSocket clients and signed webhooks, with replay.\n\n' +
        'Authenticate with `Authorization: Bearer <API key or JWT>` or `X-Api-Key: <API key>`.',
    )
    .setVersion('1')
    // Relative first: "Try it out" calls the host the page was loaded from, whatever name it was
    // reached by; PUBLIC_BASE_URL second, for a copy of the document used elsewhere.
    .addServer('/', 'The host serving this document')
    .addServer(config.publicBaseUrl, 'PUBLIC_BASE_URL')
    .addBearerAuth(
      { type: 'http', scheme: 'bearer', description: 'A Herald API key or a JWT from your identity provider' },
      'bearer',
    )
    .addApiKey({ type: 'apiKey', in: 'header', name: 'X-Api-Key' }, 'api-key');
  for (const [name, description] of TAGS) document.addTag(name, description);
  const openApi = finishDocument(
    SwaggerModule.createDocument(app, document.build(), {
      extraModels: [StandardErrorDto, FieldErrorDto, WebSocketErrorDto, SessionErrorDto],
    }),
  );
  SwaggerModule.setup('docs', app, openApi, {
    jsonDocumentUrl: 'docs-json',
    customSiteTitle: 'Herald API',
    // Keeps what was entered under Authorize (in the browser's localStorage) across reloads.
    swaggerOptions: { persistAuthorization: true },
  });
}

type Json = Record<string, any>;

/** Every tag an operation uses, in the order Swagger UI shows them. */
const TAGS: [string, string][] = [
  ['events', 'Publish events and read them back by seq; the catalog of event types'],
  [
    'realtime-subscriptions',
    'Channels: standing subscriptions to an organisation’s or a user’s claim events, attached over Socket.IO or a raw WebSocket at `websocket_url`, with replay of missed events',
  ],
  ['websocket', 'Raw WebSocket event notifications at `/api/v1/ws/subscribe`'],
  ['socket-sessions', 'Subscribe a connected Socket.IO session (its `socket.id`) to an event type'],
  [
    'approval-notifications',
    'Claim status-change notifications, their payload texts, and signed claim webhook subscriptions',
  ],
  [
    'subscriptions',
    'Workspace subscriptions: rules over events, resources and webhook or socket actions; templates, tests and the delivery log',
  ],
  ['webhook-deliveries', 'The delivery log of every webhook Herald sends, with attempts; resend'],
  ['api-keys', 'Issue, list and revoke Herald API keys'],
  ['operations', 'Liveness and readiness probes'],
];

const SCHEMA_OF_FAMILY: Record<ErrorFamily, Json> = {
  standard: { $ref: '#/components/schemas/StandardErrorDto' },
  seed001: { $ref: '#/components/schemas/WebSocketErrorDto' },
  seed004: { $ref: '#/components/schemas/SessionErrorDto' },
};

/** The path prefix under which a handler served at two paths has its second copy (socket session subscriptions). */
const API_PREFIX = '/api';

const MISSING_CREDENTIAL = 'Missing credential: send Authorization: Bearer <token> or X-Api-Key';

/** What /docs-json serves: the document Nest builds from the decorators, completed where decorators cannot say it. */
export function finishDocument(doc: OpenAPIObject): OpenAPIObject {
  return distinguishAliases(markPublicOperations(describeResponses(documentErrorResponses(doc))));
}

/**
 * What the server says in the common cases: a body missing its first required field (400), no
 * credential (401), no scope (403); else the first paragraph of the response's description.
 */
function exampleProblem(doc: OpenAPIObject, operation: Json, status: number, description: string | undefined): Problem {
  const problem: Problem = {
    status,
    error: statusText(status),
    message: description?.split('\n\n')[0].trim() || statusText(status),
  };
  const scopes = /^Requires scope ([\w:.]+(?:, [\w:.]+)*)\.$/.exec(description ?? '');
  if (status === 401) problem.message = MISSING_CREDENTIAL;
  else if (status === 403 && scopes) problem.message = `Missing scope: ${scopes[1]}`;
  else if (status === 400) {
    const field = requiredBodyFields(doc, operation)[0];
    if (field)
      Object.assign(problem, {
        message: `Validation failed: ${field}: ${field} is required`,
        details: [{ field, message: `${field} is required` }],
      });
  }
  return problem;
}

function requiredBodyFields(doc: OpenAPIObject, operation: Json): string[] {
  let schema = operation.requestBody?.content?.['application/json']?.schema as Json | undefined;
  for (let i = 0; schema?.$ref && i < 10; i++)
    schema = doc.components?.schemas?.[String(schema.$ref).split('/').pop()!] as Json | undefined;
  return Array.isArray(schema?.required) ? (schema.required as string[]) : [];
}

function operationsOf(doc: OpenAPIObject): { path: string; operation: Json }[] {
  return Object.entries(doc.paths).flatMap(([path, methods]) =>
    Object.values(methods as Json)
      .filter((operation): operation is Json => Boolean(operation?.responses))
      .map((operation) => ({ path, operation })),
  );
}

/**
 * Every documented error response carries the envelope of its path's family (docs/api-contracts.md
 * "Error bodies") and shows an example of it for its own status. Decorators document most errors
 * by description only (`@Authenticated()` adds 401 and 403 to every operation), so without this
 * they would have no body at all. A response documented with a schema and example is left as its
 * controller wrote it.
 */
export function documentErrorResponses(doc: OpenAPIObject): OpenAPIObject {
  for (const { path, operation } of operationsOf(doc)) {
    const family = familyForPath(path);
    for (const [status, response] of Object.entries(operation.responses as Record<string, Json>)) {
      if (!/^[45]\d\d$/.test(status)) continue;
      const media = (response.content ??= {})['application/json'] ?? (response.content['application/json'] = {});
      media.schema ??= SCHEMA_OF_FAMILY[family];
      if (media.example === undefined && media.examples === undefined) {
        media.example = renderProblem(
          family,
          exampleProblem(doc, operation, Number(status), response.description),
          path,
        );
      }
    }
  }
  return doc;
}

/** A response its decorator gave no description (most 2xx) is described by its status text. */
function describeResponses(doc: OpenAPIObject): OpenAPIObject {
  for (const { operation } of operationsOf(doc))
    for (const [status, response] of Object.entries(operation.responses as Record<string, Json>))
      if (!response.description) response.description = statusText(Number(status));
  return doc;
}

/**
 * An operation without a credential scheme is one of the few that need none (`@Public()`: the
 * probes); OpenAPI says so with an empty `security`, rather than leaving it unsaid.
 */
function markPublicOperations(doc: OpenAPIObject): OpenAPIObject {
  for (const { operation } of operationsOf(doc)) operation.security ??= [];
  return doc;
}

/**
 * A handler served at two paths (`@Controller(['v1/events', 'api/v1/events'])`) is documented
 * at both with its one `operationId`; the copy under `/api` becomes `<id>UnderApiPrefix`, so
 * every operationId stays unique and a generated client has a method for each path. Any other
 * repeated operationId is a mistake in a decorator, and start-up fails naming it.
 */
function distinguishAliases(doc: OpenAPIObject): OpenAPIObject {
  const byId = new Map<string, { path: string; operation: Json }[]>();
  for (const entry of operationsOf(doc)) {
    const id = String(entry.operation.operationId);
    byId.set(id, [...(byId.get(id) ?? []), entry]);
  }
  for (const [id, entries] of byId) {
    if (entries.length === 1) continue;
    const paths = new Set(entries.map((e) => e.path));
    const aliases = entries.filter(
      (e) => e.path.startsWith(`${API_PREFIX}/`) && paths.has(e.path.slice(API_PREFIX.length)),
    );
    if (entries.length !== 2 || aliases.length !== 1)
      throw new Error(`OpenAPI: operationId ${id} is used by ${[...paths].join(', ')}`);
    const [alias] = aliases;
    const [original] = entries.filter((e) => e !== alias);
    alias.operation.operationId = `${id}UnderApiPrefix`;
    alias.operation.description = [alias.operation.description, `The same operation as \`${original.path}\`.`]
      .filter(Boolean)
      .join('\n\n');
    original.operation.description = [original.operation.description, `Also served at \`${alias.path}\`.`]
      .filter(Boolean)
      .join('\n\n');
  }
  return doc;
}
