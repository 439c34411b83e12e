import { Inject, Injectable } from '@nestjs/common';
import { readFileSync } from 'node:fs';
import type { ValidateFunction } from 'ajv';
import { APP_CONFIG, type AppConfig } from '../config';
import type { PrincipalKind, Scope } from '../auth/principal';
import { SCOPES } from '../auth/principal';
import { toEnvelope, type EventEnvelope } from './envelope';
import {
  BUILT_IN_DATA,
  compileDataSchema,
  dataFieldErrors,
  type DataFieldError,
  type JsonSchema,
} from './event-data-schemas';

export type { DataFieldError, JsonSchema } from './event-data-schemas';

/** The data contract of one version of an event type. */
export interface EventTypeVersion {
  /** JSON Schema of `data`, checked on publish; null when the version declares none (any object). */
  schema: JsonSchema | null;
  /** An event of this type and version as sockets and webhooks carry it (the CloudEvents envelope). */
  example: EventEnvelope;
}

/** One entry of the event-type catalog (docs/api-contracts.md "The families"). */
export interface EventTypeDefinition {
  type: string;
  versions: string[];
  category: string;
  description: string;
  /** Condition fields a socket session subscription (seed 004) must give. */
  conditions: string[];
  /** Which token kinds may subscribe a session to it. */
  token_kinds: PrincipalKind[];
  /** The scope a session subscription needs. */
  scope: Scope;
  /** Per version (each of `versions`): the schema of `data` and an example. */
  schemas: Record<string, EventTypeVersion>;
}

const CLAIM_TYPES: [string, string][] = [
  ['claim_submitted', 'A claim was submitted for approval'],
  ['claim_approved', 'A claim was approved'],
  ['claim_rejected', 'A claim was rejected'],
  ['status_changed', "A claim's status changed"],
  ['comment_added', 'A comment was added to a claim'],
];

/** An event of `type` as clients receive it, with `data` as given: the example the catalog shows. */
export function exampleEnvelope(type: string, version: string, category: string, data: Record<string, unknown>) {
  return toEnvelope({
    seq: 42,
    id: 'evt_01jd3m7k2q8w6t5v4x3y2z1a0b',
    type,
    version,
    organisation_id: 'org_001',
    user_id: 'usr_84cd12ef',
    claim_id: category === 'claims' ? 'clm_9f2a3b4c' : null,
    channel_id: category === 'channels' ? '9b7f3c2a-2f41-4f5e-9f54-6c1d8a2b7e90' : null,
    data,
    occurred_at: '2026-03-26T08:14:22.000Z',
    received_at: '2026-03-26T08:14:22.120Z',
  });
}

function builtIn(definition: Omit<EventTypeDefinition, 'versions' | 'schemas'>): EventTypeDefinition {
  const { schema, example } = BUILT_IN_DATA[definition.type];
  return {
    ...definition,
    versions: ['1'],
    schemas: { '1': { schema, example: exampleEnvelope(definition.type, '1', definition.category, example) } },
  };
}

export const BUILT_IN_EVENT_TYPES: EventTypeDefinition[] = [
  ...CLAIM_TYPES.map(([type, description]) =>
    builtIn({
      type,
      category: 'claims',
      description,
      conditions: [],
      token_kinds: ['user', 'app'],
      scope: 'events:read',
    }),
  ),
  builtIn({
    type: 'channel.follow',
    category: 'channels',
    description: 'A user followed a channel',
    conditions: ['channelId'],
    token_kinds: ['user'],
    scope: 'users.read',
  }),
];

/** The claim event types seed 000 channels may filter on. */
export const CLAIM_EVENT_TYPES = CLAIM_TYPES.map(([type]) => type);

export class EventCatalogError extends Error {}

const TYPE_NAME = /^[a-z][a-z0-9_.-]{0,63}$/;

/** A catalog file entry as written: the definition's fields, plus data schemas in a few shapes. */
interface DeclaredType extends Partial<Omit<EventTypeDefinition, 'schemas'>> {
  /** JSON Schema of `data` for every version. */
  schema?: unknown;
  /** An example `data` for every version. */
  example?: unknown;
  /** Per version: its own `schema` (null: none) and `example`, over the two above. */
  schemas?: unknown;
}

/** Validates a declared catalog file; throws one readable line on the first problem. */
export function parseCatalogFile(json: unknown, file: string): EventTypeDefinition[] {
  if (!Array.isArray(json))
    throw new EventCatalogError(`EVENT_TYPES_FILE ${file} must hold a JSON array of event types`);
  return json.map((raw, i) => {
    const at = `EVENT_TYPES_FILE ${file} entry ${i}`;
    const e = raw as DeclaredType;
    if (typeof e?.type !== 'string' || !TYPE_NAME.test(e.type))
      throw new EventCatalogError(`${at}: type must match ${TYPE_NAME}`);
    const versions = e.versions ?? ['1'];
    if (
      !Array.isArray(versions) ||
      !versions.length ||
      !versions.every((v) => typeof v === 'string' && /^\d{1,4}$/.test(v))
    ) {
      throw new EventCatalogError(`${at}: versions must be a non-empty list of numeric strings`);
    }
    const conditions = e.conditions ?? [];
    if (
      !Array.isArray(conditions) ||
      !conditions.every((c) => typeof c === 'string' && /^[A-Za-z][A-Za-z0-9_]{0,63}$/.test(c))
    ) {
      throw new EventCatalogError(`${at}: conditions must be a list of field names`);
    }
    const kinds = e.token_kinds ?? ['user', 'app'];
    if (!Array.isArray(kinds) || !kinds.length || !kinds.every((k) => k === 'user' || k === 'app')) {
      throw new EventCatalogError(`${at}: token_kinds must list user and/or app`);
    }
    const scope = e.scope ?? 'events:read';
    if (!(SCOPES as readonly string[]).includes(scope))
      throw new EventCatalogError(`${at}: scope must be one of ${SCOPES.join(', ')}`);
    const category = typeof e.category === 'string' ? e.category : 'custom';
    return {
      type: e.type,
      versions,
      category,
      description: typeof e.description === 'string' ? e.description : '',
      conditions,
      token_kinds: kinds,
      scope,
      schemas: declaredSchemas(at, e, e.type, versions, category),
    };
  });
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * The data contract of each declared version: its schema (compiled here, so a bad one fails
 * start-up) and its example, which must pass it (`{}` when none is given).
 */
function declaredSchemas(
  at: string,
  e: DeclaredType,
  type: string,
  versions: string[],
  category: string,
): Record<string, EventTypeVersion> {
  const perVersion = e.schemas ?? {};
  if (!isObject(perVersion)) throw new EventCatalogError(`${at}: schemas must map versions to { schema, example }`);
  for (const [version, entry] of Object.entries(perVersion)) {
    if (!versions.includes(version))
      throw new EventCatalogError(`${at}: schemas names version ${version}, which versions does not list`);
    if (!isObject(entry)) throw new EventCatalogError(`${at}: schemas.${version} must be { schema, example }`);
  }
  const out: Record<string, EventTypeVersion> = {};
  for (const version of versions) {
    const own = (perVersion as Record<string, Record<string, unknown> | undefined>)[version] ?? {};
    const schema = 'schema' in own ? own.schema : (e.schema ?? null);
    const example = 'example' in own ? own.example : (e.example ?? {});
    const where = `${at}, version ${version}`;
    if (schema !== null && !isObject(schema))
      throw new EventCatalogError(`${where}: schema must be a JSON Schema object`);
    if (!isObject(example)) throw new EventCatalogError(`${where}: example must be an object (an example of data)`);
    if (schema) {
      const reference = findReference(schema);
      if (reference)
        throw new EventCatalogError(
          `${where}: schema must be self-contained, without $ref or $id (found ${reference})`,
        );
      let validate: ValidateFunction;
      try {
        validate = compileDataSchema(schema);
      } catch (err) {
        throw new EventCatalogError(`${where}: schema is not a valid JSON Schema: ${(err as Error).message}`);
      }
      if (!validate(example)) {
        const [first] = dataFieldErrors(validate.errors ?? [], 'data');
        throw new EventCatalogError(
          `${where}: example does not match the schema (${first?.message ?? 'invalid'}); give an example that does`,
        );
      }
    }
    out[version] = { schema, example: exampleEnvelope(type, version, category, example) };
  }
  return out;
}

/**
 * `$ref` or `$id` anywhere in a schema: the catalog and the AsyncAPI document embed each schema
 * elsewhere, where a reference would resolve against another document.
 */
function findReference(schema: unknown, path = '#'): string | undefined {
  if (Array.isArray(schema)) {
    for (const [i, item] of schema.entries()) {
      const found = findReference(item, `${path}/${i}`);
      if (found) return found;
    }
  } else if (isObject(schema)) {
    for (const [key, value] of Object.entries(schema)) {
      if (key === '$ref' || key === '$id') return `${key} at ${path}`;
      const found = findReference(value, `${path}/${key}`);
      if (found) return found;
    }
  }
  return undefined;
}

@Injectable()
export class EventCatalog {
  private readonly byType = new Map<string, EventTypeDefinition>();
  /** `type@version` → the compiled schema of its data, for the versions that declare one. */
  private readonly validators = new Map<string, ValidateFunction>();

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    const declared = config.events.typesFile ? loadFile(config.events.typesFile) : [];
    for (const definition of [...BUILT_IN_EVENT_TYPES, ...declared]) {
      if (this.byType.has(definition.type) && declared.includes(definition)) {
        throw new EventCatalogError(`EVENT_TYPES_FILE declares ${definition.type}, which is built in`);
      }
      this.byType.set(definition.type, definition);
      for (const [version, { schema }] of Object.entries(definition.schemas)) {
        if (schema) this.validators.set(`${definition.type}@${version}`, compileDataSchema(schema));
      }
    }
  }

  list(): EventTypeDefinition[] {
    return [...this.byType.values()];
  }

  types(): string[] {
    return [...this.byType.keys()];
  }

  get(type: string): EventTypeDefinition | undefined {
    return this.byType.get(type);
  }

  has(type: string): boolean {
    return this.byType.has(type);
  }

  latestVersion(type: string): string | undefined {
    const versions = this.byType.get(type)?.versions;
    return versions?.[versions.length - 1];
  }

  /**
   * What is wrong with `data` for this type and version, one detail per field, named from
   * `field` (`data`, `events[2].data`); empty when it passes or the version declares no schema.
   */
  dataErrors(type: string, version: string, data: unknown, field: string): DataFieldError[] {
    const validate = this.validators.get(`${type}@${version}`);
    if (!validate || validate(data)) return [];
    return dataFieldErrors(validate.errors ?? [], field);
  }
}

function loadFile(file: string): EventTypeDefinition[] {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new EventCatalogError(`EVENT_TYPES_FILE ${file} could not be read as JSON: ${(err as Error).message}`);
  }
  return parseCatalogFile(json, file);
}
