import { INestApplication } from '@nestjs/common';
import { DocumentBuilder, type OpenAPIObject, SwaggerModule } from '@nestjs/swagger';
import type { AppConfig } from '../config';
import { FieldErrorDto, Seed001ErrorDto, StandardErrorDto } from './error.dto';
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
    .addServer(config.publicBaseUrl)
    .addBearerAuth(
      { type: 'http', scheme: 'bearer', description: 'A Herald API key or a JWT from your identity provider' },
      'bearer',
    )
    .addApiKey({ type: 'apiKey', in: 'header', name: 'X-Api-Key' }, 'api-key')
    .addTag('api-keys', 'Issue and revoke Herald API keys')
    .addTag('operations', 'Health, readiness and metrics')
    .build();
  const openApi = documentErrorResponses(
    SwaggerModule.createDocument(app, document, { extraModels: [StandardErrorDto, FieldErrorDto, Seed001ErrorDto] }),
  );
  SwaggerModule.setup('docs', app, openApi, { jsonDocumentUrl: 'docs-json', customSiteTitle: 'Herald API' });
}

type Json = Record<string, any>;

const SCHEMA_OF_FAMILY: Record<ErrorFamily, Json> = {
  standard: { $ref: '#/components/schemas/StandardErrorDto' },
  seed001: { $ref: '#/components/schemas/Seed001ErrorDto' },
  // Used only by an operation of 004 that documents no error with its controller's schema.
  seed004: {
    type: 'object',
    required: ['success', 'message'],
    properties: {
      success: { type: 'boolean', example: false },
      message: { type: 'string' },
      errors: { type: 'array', items: { $ref: '#/components/schemas/FieldErrorDto' } },
    },
  },
};

const MISSING_CREDENTIAL = 'Missing credential: send Authorization: Bearer <token> or X-Api-Key';

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

/**
 * Every documented error response says which envelope it is sent in (docs/api-contracts.md "Error bodies") and shows an
 * example of it for its own status. Decorators document most errors by description only
 * (`@Authenticated()` adds 401 and 403 to every operation), so without this they would have no
 * body at all, or, copied from another status, one with the wrong `code`. A response documented
 * with a schema is left as its controller wrote it.
 */
export function documentErrorResponses(doc: OpenAPIObject): OpenAPIObject {
  for (const [path, methods] of Object.entries(doc.paths) as [string, Json][]) {
    const family = familyForPath(path);
    for (const operation of Object.values(methods) as Json[]) {
      const responses = (operation?.responses ?? {}) as Record<string, Json>;
      const errors = Object.entries(responses).filter(([status]) => /^[45]\d\d$/.test(status));
      // An operation that documents one error with a schema (004's controller) sends all of them in it.
      const sibling = errors.map(([, r]) => r.content?.['application/json']?.schema as Json | undefined).find(Boolean);
      for (const [status, response] of errors) {
        const media = (response.content ??= {})['application/json'] ?? (response.content['application/json'] = {});
        if (media.schema) continue;
        media.schema = sibling ?? SCHEMA_OF_FAMILY[family];
        if (media.example === undefined && media.examples === undefined) {
          media.example = renderProblem(
            family,
            exampleProblem(doc, operation, Number(status), response.description),
            path,
          );
        }
      }
    }
  }
  return doc;
}
