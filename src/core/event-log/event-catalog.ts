import { Inject, Injectable } from '@nestjs/common';
import { readFileSync } from 'node:fs';
import { APP_CONFIG, type AppConfig } from '../config';
import type { PrincipalKind, Scope } from '../auth/principal';
import { SCOPES } from '../auth/principal';

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
}

const CLAIM_TYPES: [string, string][] = [
  ['claim_submitted', 'A claim was submitted for approval'],
  ['claim_approved', 'A claim was approved'],
  ['claim_rejected', 'A claim was rejected'],
  ['status_changed', "A claim's status changed"],
  ['comment_added', 'A comment was added to a claim'],
];

export const BUILT_IN_EVENT_TYPES: EventTypeDefinition[] = [
  ...CLAIM_TYPES.map(([type, description]) => ({
    type,
    versions: ['1'],
    category: 'claims',
    description,
    conditions: [],
    token_kinds: ['user', 'app'] as PrincipalKind[],
    scope: 'events:read' as Scope,
  })),
  {
    type: 'channel.follow',
    versions: ['1'],
    category: 'channels',
    description: 'A user followed a channel',
    conditions: ['channelId'],
    token_kinds: ['user'],
    scope: 'users.read',
  },
];

/** The claim event types seed 000 channels may filter on. */
export const CLAIM_EVENT_TYPES = CLAIM_TYPES.map(([type]) => type);

export class EventCatalogError extends Error {}

const TYPE_NAME = /^[a-z][a-z0-9_.-]{0,63}$/;

/** Validates a declared catalog file; throws one readable line on the first problem. */
export function parseCatalogFile(json: unknown, file: string): EventTypeDefinition[] {
  if (!Array.isArray(json))
    throw new EventCatalogError(`EVENT_TYPES_FILE ${file} must hold a JSON array of event types`);
  return json.map((raw, i) => {
    const at = `EVENT_TYPES_FILE ${file} entry ${i}`;
    const e = raw as Partial<EventTypeDefinition>;
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
    return {
      type: e.type,
      versions,
      category: typeof e.category === 'string' ? e.category : 'custom',
      description: typeof e.description === 'string' ? e.description : '',
      conditions,
      token_kinds: kinds,
      scope,
    };
  });
}

@Injectable()
export class EventCatalog {
  private readonly byType = new Map<string, EventTypeDefinition>();

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    const declared = config.events.typesFile ? loadFile(config.events.typesFile) : [];
    for (const definition of [...BUILT_IN_EVENT_TYPES, ...declared]) {
      if (this.byType.has(definition.type) && declared.includes(definition)) {
        throw new EventCatalogError(`EVENT_TYPES_FILE declares ${definition.type}, which is built in`);
      }
      this.byType.set(definition.type, definition);
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
