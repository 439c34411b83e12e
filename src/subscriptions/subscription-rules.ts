import { Query } from 'mingo';
import type { EventEnvelope } from '../core/event-log/envelope';
import type { StoredEvent } from '../core/event-log/event.types';
import type { FieldError } from '../core/http/errors';

/** A rule: an event type from the catalog (optionally `type@version`) and a MongoDB-style query. */
export interface Rule {
  trigger: string;
  conditions: Record<string, unknown>;
}

export const RESOURCE_KINDS = ['organisations', 'users', 'claims', 'channels'] as const;
export type ResourceKind = (typeof RESOURCE_KINDS)[number];
const RESOURCE = /^(organisations|users|claims|channels)\/([A-Za-z0-9._:-]{1,128}|\*)$/;

export interface Resource {
  kind: ResourceKind;
  /** `*` for any id. */
  id: string;
}

export function parseTrigger(trigger: string): { type: string; version?: string } {
  const [type, version] = trigger.split('@');
  return version === undefined ? { type } : { type, version };
}

export function parseResource(name: string): Resource | undefined {
  const match = RESOURCE.exec(name);
  return match ? { kind: match[1] as ResourceKind, id: match[2] } : undefined;
}

/** The resource names an event is about; a subscription matches when one of its resources names one of these. */
export function eventSubjects(event: Pick<StoredEvent, 'organisation_id' | 'user_id' | 'claim_id' | 'channel_id'>): Resource[] {
  const subjects: Resource[] = [{ kind: 'organisations', id: event.organisation_id }];
  if (event.user_id) subjects.push({ kind: 'users', id: event.user_id });
  if (event.claim_id) subjects.push({ kind: 'claims', id: event.claim_id });
  if (event.channel_id) subjects.push({ kind: 'channels', id: event.channel_id });
  return subjects;
}

export function resourcesMatch(resources: Resource[], subjects: Resource[]): boolean {
  return resources.some((r) => subjects.some((s) => s.kind === r.kind && (r.id === '*' || r.id === s.id)));
}

/** Where in a query an operator sits, as `a.b.$op` (array positions as `[i]`). */
function findOperator(value: unknown, operator: string, path: string): string | undefined {
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = findOperator(value[i], operator, `${path}[${i}]`);
      if (found) return found;
    }
  } else if (value && typeof value === 'object') {
    for (const [key, child] of Object.entries(value)) {
      const here = path ? `${path}.${key}` : key;
      if (key === operator) return here;
      const found = findOperator(child, operator, here);
      if (found) return found;
    }
  }
  return undefined;
}

/** Compiles a rule's conditions with mingo; a bad operator comes back with its path. */
export function validateConditions(conditions: unknown, field: string): FieldError | undefined {
  if (!conditions || typeof conditions !== 'object' || Array.isArray(conditions)) {
    return { field, message: `${field} must be an object (a MongoDB-style query; {} matches every event)` };
  }
  for (const operator of REFUSED_OPERATORS) {
    const at = findOperator(conditions, operator, field);
    if (at) return { field: at, message: `${at}: ${operator} is not allowed in conditions` };
  }
  try {
    new Query(conditions as Record<string, unknown>);
    return undefined;
  } catch (err) {
    const message = (err as Error).message;
    const operator = /(\$[A-Za-z0-9_]+)/.exec(message)?.[1];
    const at = operator ? findOperator(conditions, operator, field) : undefined;
    return { field: at ?? field, message: `${at ?? field}: ${message}` };
  }
}

export function compile(conditions: Record<string, unknown>): Query {
  return new Query(conditions);
}

/** Whether an event envelope (or any test input) satisfies compiled conditions. */
export function satisfies(query: Query, input: EventEnvelope | Record<string, unknown>): boolean {
  // Some valid queries can still throw on a given input (e.g. a failed conversion); that is no match,
  // never an error that would stop the dispatcher's batch.
  try {
    return query.test(input as Record<string, unknown>);
  } catch {
    return false;
  }
}

/** Operators that run expressions or code rather than compare values. */
const REFUSED_OPERATORS = ['$expr', '$function', '$where', '$accumulator'];

function valueAt(input: unknown, path: string): unknown {
  let value: unknown = input;
  for (const part of path.split('.')) {
    if (value === null || value === undefined || typeof value !== 'object') return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

export interface FailedCondition {
  path: string;
  expected: unknown;
  actual: unknown;
}

/** Which top-level conditions an input fails, each with the actual value found there. */
export function explainConditions(conditions: Record<string, unknown>, input: EventEnvelope | Record<string, unknown>): FailedCondition[] {
  const failed: FailedCondition[] = [];
  for (const [key, expected] of Object.entries(conditions)) {
    if (satisfies(new Query({ [key]: expected }), input)) continue;
    failed.push({ path: key, expected, actual: key.startsWith('$') ? undefined : valueAt(input, key) });
  }
  return failed;
}
