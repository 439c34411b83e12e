import { createHash } from 'node:crypto';
import { toEnvelope } from '../core/event-log/envelope';
import type { StoredEvent } from '../core/event-log/event.types';
import { compileConditions, NEVER_MATCHES, type CompiledConditions } from './subscription-conditions';

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
export function eventSubjects(
  event: Pick<StoredEvent, 'organisation_id' | 'user_id' | 'claim_id' | 'channel_id'>,
): Resource[] {
  const subjects: Resource[] = [{ kind: 'organisations', id: event.organisation_id }];
  if (event.user_id) subjects.push({ kind: 'users', id: event.user_id });
  if (event.claim_id) subjects.push({ kind: 'claims', id: event.claim_id });
  if (event.channel_id) subjects.push({ kind: 'channels', id: event.channel_id });
  return subjects;
}

export function resourcesMatch(resources: Resource[], subjects: Resource[]): boolean {
  return resources.some((r) => subjects.some((s) => s.kind === r.kind && (r.id === '*' || r.id === s.id)));
}

/** A subscription's rules and resources, parsed and compiled once, ready to test events against. */
export interface CompiledSubscription {
  resources: Resource[];
  rules: CompiledRule[];
}

export interface CompiledRule {
  trigger: { type: string; version?: string };
  conditions: CompiledConditions;
  /** Why the stored conditions no longer compile (saved before a limit existed); such a rule never matches. */
  error?: string;
}

export function compileSubscription(subscription: { rules: Rule[]; resources: string[] }): CompiledSubscription {
  return {
    resources: subscription.resources.map(parseResource).filter((r) => r !== undefined),
    rules: subscription.rules.map((rule) => {
      const trigger = parseTrigger(rule.trigger);
      try {
        return { trigger, conditions: compileConditions(rule.conditions) };
      } catch (err) {
        return { trigger, conditions: NEVER_MATCHES, error: (err as Error).message };
      }
    }),
  };
}

export function triggerMatches(
  trigger: CompiledRule['trigger'],
  event: Pick<StoredEvent, 'type' | 'version'>,
): boolean {
  return trigger.type === event.type && (trigger.version === undefined || trigger.version === event.version);
}

/** The first rule of a subscription an event satisfies (trigger type and version, then conditions), or -1. */
export function firstMatchingRule(subscription: CompiledSubscription, event: StoredEvent): number {
  if (!resourcesMatch(subscription.resources, eventSubjects(event))) return -1;
  let envelope: ReturnType<typeof toEnvelope> | undefined;
  return subscription.rules.findIndex(
    (rule) => triggerMatches(rule.trigger, event) && rule.conditions.matches((envelope ??= toEnvelope(event))),
  );
}

/** Compiled subscriptions kept between dispatcher batches; bounded, least recently used out first. */
export const COMPILED_SUBSCRIPTIONS_CACHED = 5000;

/**
 * Compiled subscriptions by id, so the dispatcher compiles a subscription once, not once per
 * event or per batch. An entry is reused only while the stored rules and resources are the same
 * text (a fingerprint rather than `updated_at`, which two quick replaces can share).
 */
export class CompiledSubscriptionCache {
  private readonly entries = new Map<string, { fingerprint: string; compiled: CompiledSubscription }>();

  constructor(
    private readonly capacity = COMPILED_SUBSCRIPTIONS_CACHED,
    /** Told of every fresh compile, e.g. to log rules that no longer compile. */
    private readonly onCompiled: (id: string, compiled: CompiledSubscription) => void = () => undefined,
  ) {}

  get(subscription: { id: string; rules: Rule[]; resources: string[] }): CompiledSubscription {
    const fingerprint = createHash('sha256')
      .update(JSON.stringify([subscription.rules, subscription.resources]))
      .digest('base64');
    const cached = this.entries.get(subscription.id);
    this.entries.delete(subscription.id);
    let entry = cached;
    if (entry?.fingerprint !== fingerprint) {
      entry = { fingerprint, compiled: compileSubscription(subscription) };
      this.onCompiled(subscription.id, entry.compiled);
    }
    this.entries.set(subscription.id, entry);
    if (this.entries.size > this.capacity) this.entries.delete(this.entries.keys().next().value as string);
    return entry.compiled;
  }

  delete(id: string): void {
    this.entries.delete(id);
  }
}

/**
 * Compiled subscriptions of every organisation, found for an event by (organisation, trigger
 * type, resource) as the durable router's trigger table finds them, so the cost of matching an
 * event grows with the subscriptions it could match, not with all of them. A subscription is
 * listed once per trigger type of its rules and resource it names; `candidates` still has to
 * be checked with `firstMatchingRule` (trigger version, conditions).
 */
export class TriggerIndex<T> {
  private readonly entries = new Map<string, { value: T; compiled: CompiledSubscription; keys: string[] }>();
  private readonly byKey = new Map<string, Set<string>>();

  get size(): number {
    return this.entries.size;
  }

  /** Adds or replaces `id`. */
  set(id: string, organisationId: string, compiled: CompiledSubscription, value: T): void {
    this.delete(id);
    const keys = new Set<string>();
    for (const rule of compiled.rules)
      for (const resource of compiled.resources)
        keys.add(indexKey(organisationId, rule.trigger.type, resource.kind, resource.id));
    for (const key of keys) {
      let ids = this.byKey.get(key);
      if (!ids) this.byKey.set(key, (ids = new Set()));
      ids.add(id);
    }
    this.entries.set(id, { value, compiled, keys: [...keys] });
  }

  get(id: string): { value: T; compiled: CompiledSubscription } | undefined {
    return this.entries.get(id);
  }

  delete(id: string): void {
    const entry = this.entries.get(id);
    if (!entry) return;
    this.entries.delete(id);
    for (const key of entry.keys) {
      const ids = this.byKey.get(key);
      ids?.delete(id);
      if (ids && !ids.size) this.byKey.delete(key);
    }
  }

  /** Every entry, for a sweep such as dropping a revoked owner's. */
  *all(): IterableIterator<[string, T]> {
    for (const [id, { value }] of this.entries) yield [id, value];
  }

  /** Each entry whose trigger types and resources could match `event`, once. */
  candidates(event: StoredEvent): { value: T; compiled: CompiledSubscription }[] {
    const found = new Set<string>();
    for (const subject of eventSubjects(event)) {
      for (const id of [subject.id, '*']) {
        const ids = this.byKey.get(indexKey(event.organisation_id, event.type, subject.kind, id));
        if (ids) for (const each of ids) found.add(each);
      }
    }
    return [...found].map((id) => this.entries.get(id)!);
  }
}

function indexKey(organisationId: string, type: string, kind: string, id: string): string {
  return `${organisationId}\u0000${type}\u0000${kind}\u0000${id}`;
}
