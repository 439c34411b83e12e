import {
  ConflictException,
  ForbiddenException,
  Inject,
  Injectable,
  Logger,
  NotFoundException,
  OnApplicationBootstrap,
  OnApplicationShutdown,
} from '@nestjs/common';
import { createHash } from 'node:crypto';
import { ApiKeysService } from '../core/auth/api-keys.service';
import { onApiKeyRevoked } from '../core/auth/key-revocations';
import type { Principal } from '../core/auth/principal';
import { EventBus, type Unsubscribe } from '../core/bus/event-bus';
import { APP_CONFIG, type AppConfig } from '../core/config';
import { nonOverlapping } from '../core/database/periodic';
import { rooms } from '../core/gateway/rooms';
import { Database, type Tx } from '../core/database/database.service';
import { EventCatalog } from '../core/event-log/event-catalog';
import type { StoredEvent } from '../core/event-log/event.types';
import { ValidationFailedException, type FieldError } from '../core/http/errors';
import { newId } from '../core/http/ids';
import { isoNow } from '../core/http/time';
import { DeliveryOperations } from '../core/webhooks/delivery-operations.service';
import type {
  RecoverDeliveriesDto,
  RecoveredDeliveriesDto,
  RotatedSecretDto,
} from '../core/webhooks/subscription-operations.dto';
import { WebhooksService } from '../core/webhooks/webhooks.service';
import type { DeliveryRequest } from '../core/webhooks/webhook.types';
import { WebhookEndpointNotFoundException } from '../core/webhooks/webhooks.exceptions';
import { SECRET_UNREADABLE_ISSUE } from '../core/webhooks/endpoint-health';
import { maskActions, restoreMaskedHeaders, TEST_HEADER } from './action-headers';
import type {
  CreatedSubscriptionViewDto,
  SaveSubscriptionDto,
  StateChangedViewDto,
  SubscriptionViewDto,
} from './dto/subscription.dto';
import {
  compileConditions,
  InvalidConditionsError,
  MAX_SUBSCRIPTION_REGEX_PROGRAM_SIZE,
} from './subscription-conditions';
import {
  COMPILED_SUBSCRIPTIONS_CACHED,
  CompiledSubscriptionCache,
  compileSubscription,
  eventSubjects,
  firstMatchingRule,
  parseResource,
  parseTrigger,
  TriggerIndex,
  type CompiledSubscription,
  type Rule,
} from './subscription-rules';
import { actsForOwner, ownerIssue, ownerOf, ownerReads } from './subscription-owner';
import { expandTemplate } from './subscription-templates';
import { SubscriptionStore, type Action, type SubscriptionRecord, type SubscriptionState } from './subscription.store';

export const WORKSPACE_WEBHOOK_KIND = 'workspace';
const CHANGED_TOPIC = 'workspace-subscriptions.changed';
/** Revoked owner keys remembered so a cache refresh racing the revocation cannot bring one back. */
const REVOKED_OWNER_KEYS_REMEMBERED = 10_000;

export class SubscriptionNotFoundException extends NotFoundException {
  constructor(id: string) {
    super(`Subscription ${id} not found`);
  }
}

export class RotateSecretForbiddenException extends ForbiddenException {
  constructor() {
    super(
      "Rotating changes what the subscription's receivers must verify with: only its owner, an app or an admin credential may do it",
    );
  }
}

export class NoWebhookSecretException extends ConflictException {
  constructor(id: string) {
    super(`Subscription ${id} has no webhook action, so it has no signing secret to rotate`);
  }
}

/** A stable name for "this event matched this subscription", which the test endpoint can replay. */
export function matchHash(subscriptionId: string, eventId: string): string {
  return createHash('sha256').update(`${subscriptionId}\u0000${eventId}`).digest('hex').slice(0, 16);
}

/** What a subscription's compiled form depends on: a reload keeps the compiled form while this is unchanged. */
function compiledFrom(s: SubscriptionRecord): string {
  return JSON.stringify([s.rules, s.resources]);
}

export interface NormalisedSubscription {
  template: SubscriptionRecord['template'];
  rules: Rule[];
  resources: string[];
  actions: Action[];
  meta: { title: string | null };
  state: 'on' | 'off';
  rate_limit: number | null;
}

@Injectable()
export class SubscriptionsService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('WorkspaceSubscriptions');
  /**
   * Subscriptions with socket actions, compiled when loaded and indexed by trigger and resource,
   * for the live router on this node. A save anywhere in the cluster refreshes its entry through the bus; a full
   * reload every SUBSCRIPTION_SOCKET_CACHE_REFRESH repairs whatever a lost bus message (Redis
   * down, a node paused) left stale, so no node emits by an old state until it restarts.
   */
  private socketSubscriptions = new TriggerIndex<SubscriptionRecord>();
  /** Refreshes and reloads apply in the order they read, so a reload never undoes a newer refresh. */
  private cacheWork: Promise<void> = Promise.resolve();
  private readonly periodicReload = nonOverlapping(() => this.reloadSocketCache());
  private reloadTimer?: NodeJS.Timeout;
  private reloadFailing = false;
  private closed = false;
  /** Candidates of the durable router come fresh from the database each batch; their compiled form is kept here. */
  private readonly compiled = new CompiledSubscriptionCache(COMPILED_SUBSCRIPTIONS_CACHED, (id, compiled) =>
    this.warnUncompilable(id, compiled),
  );
  private readonly revokedOwnerKeys = new Set<string>();
  private unsubscribe: Unsubscribe[] = [];

  constructor(
    private readonly db: Database,
    private readonly store: SubscriptionStore,
    private readonly catalog: EventCatalog,
    private readonly webhooks: WebhooksService,
    private readonly deliveries: DeliveryOperations,
    private readonly bus: EventBus,
    private readonly apiKeys: ApiKeysService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    this.unsubscribe.push(
      this.bus.on(CHANGED_TOPIC, (m) => void this.refreshSocketCache((m as { id: string }).id)),
      // The durable path checks the owner's key in SQL on every batch; the live cache is in memory and forgets it here.
      onApiKeyRevoked(this.bus, ({ key_id }) => this.forgetOwnerKey(key_id)),
    );
    // In the queue too, so a refresh heard meanwhile is applied after this first load, not under it.
    await this.serialised(async () => this.replaceSocketCache(await this.store.withSocketActionsAcrossTenants()));
    this.reloadTimer = setInterval(() => void this.periodicReload(), this.config.subscriptions.socketCacheRefreshMs);
    this.reloadTimer.unref();
    const ownerless = await this.store.countWithoutOwnerAcrossTenants();
    if (ownerless) {
      this.logger.warn(
        { count: ownerless },
        'workspace subscriptions saved before owners were recorded deliver nothing until they are saved again (POST /api/v1/subscriptions/:id)',
      );
    }
  }

  onApplicationShutdown(): void {
    this.closed = true;
    if (this.reloadTimer) clearInterval(this.reloadTimer);
    for (const off of this.unsubscribe.splice(0)) off();
  }

  // ---------------------------------------------------------------------------------------
  // CRUD

  /** A subscription as first saved by `caller` (the test endpoint's drafts use it with an empty id). */
  newRecord(
    caller: Principal,
    workspaceId: string,
    normalised: NormalisedSubscription,
    id: string,
  ): SubscriptionRecord {
    const now = isoNow();
    return {
      id,
      organisation_id: caller.organisation_id,
      workspace_id: workspaceId,
      ...normalised,
      issue: null,
      created_at: now,
      updated_at: now,
      owner: ownerOf(caller),
    };
  }

  async create(caller: Principal, workspaceId: string, dto: SaveSubscriptionDto): Promise<CreatedSubscriptionViewDto> {
    const record = this.newRecord(caller, workspaceId, await this.normalise(caller, dto), newId('wsub'));
    const secret = await this.db.transaction(async (m) => {
      await this.store.save(m, record, true);
      return this.syncEndpoint(m, record, undefined);
    });
    await this.changed(record.id);
    return { ...(await this.view(record)), ...(secret ? { signing_secret: secret } : {}) };
  }

  async replace(
    caller: Principal,
    workspaceId: string,
    id: string,
    dto: SaveSubscriptionDto,
  ): Promise<CreatedSubscriptionViewDto> {
    const existing = await this.require(caller, workspaceId, id);
    const normalised = await this.normalise(caller, dto, existing);
    const state = dto.state ?? (existing.state === 'blocked' ? 'blocked' : normalised.state);
    // Whoever replaces it becomes its owner: what it delivers follows that credential's rights from now on.
    const record: SubscriptionRecord = {
      ...existing,
      ...normalised,
      state,
      issue: state === 'on' ? null : existing.issue,
      updated_at: isoNow(),
      owner: ownerOf(caller),
    };
    const endpoint = await this.webhooks.getEndpoint(caller.organisation_id, id);
    // The engine may have blocked the endpoint on its own (410, failing too long); a replace that
    // does not name a state leaves that block in place, as it does a block set through /state.
    const endpointState = endpoint?.state === 'blocked' && dto.state === undefined ? 'blocked' : record.state;
    const secret = await this.db.transaction(async (m) => {
      await this.store.save(m, record, false);
      return this.syncEndpoint(
        m,
        record,
        endpoint && { secret: endpoint.secret, state: endpoint.state, next: endpointState },
      );
    });
    await this.changed(id);
    return { ...(await this.view(record)), ...(secret ? { signing_secret: secret } : {}) };
  }

  async get(caller: Principal, workspaceId: string, id: string): Promise<SubscriptionViewDto> {
    return this.view(await this.require(caller, workspaceId, id));
  }

  async list(caller: Principal, workspaceId: string): Promise<SubscriptionViewDto[]> {
    const records = await this.store.list(caller.organisation_id, workspaceId);
    const deadKeys = await this.apiKeys.unusableKeyIds(
      records.flatMap((r) => (r.owner.key_id ? [r.owner.key_id] : [])),
    );
    return Promise.all(records.map((r) => this.view(r, deadKeys)));
  }

  async delete(caller: Principal, workspaceId: string, id: string): Promise<{ success: boolean; id: string }> {
    await this.require(caller, workspaceId, id);
    await this.db.transaction(async (m) => {
      await this.store.deleteIn(m, caller.organisation_id, workspaceId, id);
      await this.webhooks.removeEndpoint(m, caller.organisation_id, id);
    });
    await this.changed(id);
    return { success: true, id };
  }

  async setState(
    caller: Principal,
    workspaceId: string,
    id: string,
    state: SubscriptionState,
    issue?: string,
  ): Promise<StateChangedViewDto> {
    const record = await this.require(caller, workspaceId, id);
    const at = isoNow();
    const nextIssue = state === 'on' ? null : (issue ?? null);
    await this.db.transaction((m) =>
      this.store.setState(m, caller.organisation_id, workspaceId, id, state, nextIssue, at),
    );
    const webhook = record.actions.some((a) => a.type === 'webhook');
    if (webhook) await this.webhooks.setState(caller.organisation_id, id, state, nextIssue ?? undefined);
    await this.changed(id);
    const view = await this.view({ ...record, state, issue: nextIssue, updated_at: at });
    // Turned back on, it says what it did not deliver, and resends none of it unasked (see `recover`).
    if (state !== 'on' || !webhook) return view;
    return { ...view, undelivered: await this.deliveries.undelivered(caller.organisation_id, id) };
  }

  /**
   * Requeues the webhook's failed (and on request blocked) deliveries since a time. It sends to
   * the receivers again, so it needs whoever may act for the owner, as rotating the secret does.
   */
  async recover(
    caller: Principal,
    workspaceId: string,
    id: string,
    dto: RecoverDeliveriesDto,
  ): Promise<RecoveredDeliveriesDto> {
    const record = await this.require(caller, workspaceId, id);
    if (!actsForOwner(caller, record.owner))
      throw new ForbiddenException(
        "Recovering sends to the subscription's receivers again: only its owner, an app or an admin credential may do it",
      );
    if (!record.actions.some((a) => a.type === 'webhook'))
      throw new ConflictException(`Subscription ${id} has no webhook action, so it has no deliveries to recover`);
    return { subscription_id: id, ...(await this.deliveries.recover(caller.organisation_id, id, dto)) };
  }

  /**
   * A new signing secret for the webhook action, shown once; the old one keeps signing beside it
   * for the rotation overlap (WebhooksService.rotateSecret). It changes what the receivers must
   * verify with, so only those who may act for the owner may rotate (as for a test `send`).
   */
  async rotateSecret(caller: Principal, workspaceId: string, id: string): Promise<RotatedSecretDto> {
    const record = await this.require(caller, workspaceId, id);
    if (!actsForOwner(caller, record.owner)) throw new RotateSecretForbiddenException();
    if (!record.actions.some((a) => a.type === 'webhook')) throw new NoWebhookSecretException(id);
    try {
      return await this.webhooks.rotateSecret(caller.organisation_id, id);
    } catch (err) {
      // Deleted, or its webhook action removed, meanwhile.
      if (err instanceof WebhookEndpointNotFoundException) throw new SubscriptionNotFoundException(id);
      throw err;
    }
  }

  async require(caller: Principal, workspaceId: string, id: string): Promise<SubscriptionRecord> {
    const record = await this.store.find(caller.organisation_id, workspaceId, id);
    if (!record) throw new SubscriptionNotFoundException(id);
    return record;
  }

  /** A saved subscription's compiled rules, from the same cache the dispatcher uses. */
  compiledFor(record: SubscriptionRecord): CompiledSubscription {
    return this.compiled.get(record);
  }

  /**
   * The engine may have blocked the webhook on its own (410, failing too long): that shows here.
   * So does an owner that makes an `on` subscription deliver nothing (unknown, without
   * `events:read`, its key revoked): `blocked` with an `issue` that says how to resume. Header
   * values of actions are masked (write-only).
   */
  async view(record: SubscriptionRecord, deadKeys?: Set<string>): Promise<SubscriptionViewDto> {
    let { state, issue } = record;
    if (state === 'on') {
      const keyId = record.owner.key_id;
      const revoked = keyId !== null && (deadKeys ?? (await this.apiKeys.unusableKeyIds([keyId]))).has(keyId);
      const problem = ownerIssue(record.owner, revoked);
      if (problem) ({ state, issue } = { state: 'blocked', issue: problem });
    }
    if (state === 'on' && record.actions.some((a) => a.type === 'webhook')) {
      const endpoint = await this.webhooks.getEndpoint(record.organisation_id, record.id);
      if (endpoint?.state === 'blocked') ({ state, issue } = { state: 'blocked', issue: endpoint.issue });
      else if (endpoint?.secret_unreadable) ({ state, issue } = { state: 'blocked', issue: SECRET_UNREADABLE_ISSUE });
    }
    return {
      id: record.id,
      workspace_id: record.workspace_id,
      template: record.template,
      rules: record.rules,
      resources: record.resources,
      actions: maskActions(record.actions),
      meta: record.meta,
      state,
      issue,
      rate_limit: record.rate_limit,
      created_at: record.created_at,
      updated_at: record.updated_at,
    };
  }

  /**
   * Validates a create/replace/draft payload into what is stored; every problem becomes a field
   * error. A replace (`existing`) may send the header mask back to keep a stored value.
   */
  async normalise(
    caller: Principal,
    dto: SaveSubscriptionDto,
    existing?: SubscriptionRecord,
  ): Promise<NormalisedSubscription> {
    const errors: FieldError[] = [];
    let rules: Rule[];
    let template: SubscriptionRecord['template'] = null;
    if (dto.template) {
      const expanded = expandTemplate(dto.template.id, dto.template.inputs, dto.template.topics);
      errors.push(...expanded.errors);
      rules = expanded.rules;
      template = { id: dto.template.id, inputs: dto.template.inputs, topics: dto.template.topics };
    } else {
      rules = (dto.rules ?? []).map((r) => ({ trigger: r.trigger, conditions: r.conditions }));
      let regexCost = 0;
      rules.forEach((rule, i) => {
        const trigger = parseTrigger(rule.trigger);
        const definition = this.catalog.get(trigger.type);
        if (!definition) {
          errors.push({
            field: `rules[${i}].trigger`,
            message: `unknown trigger ${rule.trigger}; the catalog has ${this.catalog.types().join(', ')}`,
          });
        } else if (trigger.version !== undefined && !definition.versions.includes(trigger.version)) {
          errors.push({
            field: `rules[${i}].trigger`,
            message: `${trigger.type} has versions ${definition.versions.join(', ')}`,
          });
        }
        try {
          regexCost += compileConditions(rule.conditions, `rules[${i}].conditions`).regexCost;
        } catch (err) {
          if (!(err instanceof InvalidConditionsError)) throw err;
          errors.push(err.toFieldError());
        }
      });
      if (regexCost > MAX_SUBSCRIPTION_REGEX_PROGRAM_SIZE) {
        errors.push({
          field: 'rules',
          message: `rules: the $regex patterns are too complex together: RE2 program size ${regexCost}, the limit for a subscription is ${MAX_SUBSCRIPTION_REGEX_PROGRAM_SIZE}`,
        });
      }
    }
    dto.resources.forEach((name, i) => {
      const resource = parseResource(name);
      if (!resource)
        errors.push({
          field: `resources[${i}]`,
          message: `resources[${i}] must be organisations/<id>, users/<id>, claims/<id> or channels/<id> (id may be *)`,
        });
      else if (resource.kind === 'organisations' && resource.id !== '*' && resource.id !== caller.organisation_id) {
        errors.push({
          field: `resources[${i}]`,
          message: `resources[${i}] must be in the workspace's organisation ${caller.organisation_id}`,
        });
      }
    });
    const given: Action[] = (dto.actions ?? []).map((a) => ({
      type: a.type,
      ...(a.url !== undefined ? { url: a.url } : {}),
      ...(a.headers !== undefined ? { headers: a.headers } : {}),
      ...(a.room !== undefined ? { room: a.room } : {}),
    }));
    const restored = restoreMaskedHeaders(given, existing?.actions);
    errors.push(...restored.errors);
    const actions = restored.actions;
    const webhooks = actions.filter((a) => a.type === 'webhook');
    if (webhooks.length > 1) errors.push({ field: 'actions', message: 'at most one webhook action per subscription' });
    for (const [i, a] of actions.entries()) {
      if (a.headers && !Object.values(a.headers).every((v) => typeof v === 'string'))
        errors.push({ field: `actions[${i}].headers`, message: 'header values must be strings' });
      if (a.headers && Object.keys(a.headers).some((n) => n.toLowerCase() === TEST_HEADER)) {
        errors.push({ field: `actions[${i}].headers`, message: `${TEST_HEADER} is set by Herald on test sends only` });
      }
      if (a.room !== undefined && !/^[A-Za-z0-9._:-]{1,64}$/.test(a.room))
        errors.push({
          field: `actions[${i}].room`,
          message: 'room must be 1-64 characters of letters, digits and ._:-',
        });
      if (a.type === 'webhook' && a.url) {
        try {
          await this.webhooks.assertDeliverableUrl(a.url);
        } catch (err) {
          errors.push({ field: `actions[${i}].url`, message: (err as Error).message });
        }
      }
    }
    if (errors.length)
      throw new ValidationFailedException(
        errors,
        `Invalid subscription: ${errors[0].message}${errors.length > 1 ? ` (and ${errors.length - 1} more)` : ''}`,
      );
    return {
      template,
      rules,
      resources: dto.resources,
      actions,
      meta: { title: dto.meta?.title ?? null },
      state: dto.state ?? 'on',
      rate_limit: dto.rate_limit ?? null,
    };
  }

  /**
   * Keeps the engine's endpoint in step with the webhook action and the subscription's state;
   * returns a newly made secret. An existing endpoint keeps its secret and moves to `existing.next`
   * when that differs from its state (turning it on clears its failure streak, turning it off
   * cancels what it still owes, as `POST /:id/state` does).
   */
  private async syncEndpoint(
    m: Tx,
    record: SubscriptionRecord,
    existing: { secret: string; state: SubscriptionState; next: SubscriptionState } | undefined,
  ): Promise<string | undefined> {
    const webhook = record.actions.find((a) => a.type === 'webhook');
    if (!webhook?.url) {
      if (existing) await this.webhooks.removeEndpoint(m, record.organisation_id, record.id);
      return undefined;
    }
    // An existing endpoint keeps its secret (saveEndpoint never changes it; only a rotation does).
    const secret = existing ? existing.secret : this.webhooks.generateSecret();
    await this.webhooks.saveEndpoint(m, {
      id: record.id,
      kind: WORKSPACE_WEBHOOK_KIND,
      organisation_id: record.organisation_id,
      workspace_id: record.workspace_id,
      url: webhook.url,
      secret,
      headers: webhook.headers ?? null,
      rate_limit_per_minute: record.rate_limit,
      owner_user_id: record.owner.kind === 'user' ? record.owner.user_id : null,
      ...(!existing
        ? { state: record.state }
        : existing.next !== existing.state
          ? { state: existing.next, issue: record.issue }
          : {}),
    });
    return existing ? undefined : secret;
  }

  // ---------------------------------------------------------------------------------------
  // Routing

  /** Durable: candidates come from the trigger index, one query per batch; off subscriptions are never evaluated. */
  /** The durable branch: webhook deliveries owed for these events (see WorkspaceSubscriptionWebhooksRouter). */
  async routeWebhooks(events: StoredEvent[], m: Tx): Promise<void> {
    const candidates = await this.store.dispatchCandidatesAcrossTenants(
      m,
      [...new Set(events.map((e) => e.organisation_id))],
      [...new Set(events.map((e) => e.type))],
      events.flatMap(eventSubjects),
    );
    const withWebhook = candidates.filter((s) => s.actions.some((a) => a.type === 'webhook'));
    if (!withWebhook.length) return;
    const requests: DeliveryRequest[] = [];
    const matchers = withWebhook.map((subscription) => ({ subscription, matcher: this.compiled.get(subscription) }));
    for (const event of events) {
      for (const { subscription, matcher } of matchers) {
        if (subscription.organisation_id !== event.organisation_id || !ownerReads(subscription.owner, event)) continue;
        const ruleIndex = firstMatchingRule(matcher, event);
        if (ruleIndex < 0) continue;
        const webhookIndex = subscription.actions.findIndex((a) => a.type === 'webhook');
        requests.push({
          endpoint_id: subscription.id,
          event,
          rule_index: ruleIndex,
          match_hash: matchHash(subscription.id, event.id),
          match_index: webhookIndex,
        });
      }
    }
    if (requests.length) await this.webhooks.enqueue(m, requests);
  }

  /** Live, on every node: socket actions emit the event into the workspace room (or a named room). */
  /** The live branch: workspace rooms of subscriptions with a socket action (see WorkspaceSubscriptionSocketsRouter). */
  socketRooms(event: StoredEvent): string[] {
    const targets: string[] = [];
    for (const { value: s, compiled } of this.socketSubscriptions.candidates(event)) {
      if (s.state !== 'on' || !ownerReads(s.owner, event) || firstMatchingRule(compiled, event) < 0) continue;
      for (const action of s.actions)
        if (action.type === 'socket') targets.push(rooms.workspace(s.organisation_id, s.workspace_id, action.room));
    }
    return targets;
  }

  /**
   * Every node refreshes the subscription's entry in its socket cache. This node's refresh is
   * awaited, so the save's answer comes after the node that took it emits by the new state (an
   * event published right after a save, to the same node, sees it); other nodes follow when the
   * bus reaches them, or at the next full reload if it does not.
   */
  private async changed(id: string): Promise<void> {
    // A distributed bus brings the message back to this node too: a second refresh, harmless.
    if (this.bus.distributed) this.bus.publish(CHANGED_TOPIC, { id });
    await this.refreshSocketCache(id);
  }

  /** Work on the socket cache, one at a time in call order. */
  private serialised(work: () => Promise<void>): Promise<void> {
    const run = this.cacheWork.then(work);
    this.cacheWork = run.catch(() => undefined);
    return run;
  }

  private refreshSocketCache(id: string): Promise<void> {
    return this.serialised(async () => {
      this.compiled.delete(id);
      let fresh: SubscriptionRecord[] | undefined;
      try {
        fresh = await this.store.withSocketActionsAcrossTenants(id);
      } catch (err) {
        this.logger.warn({ err, id }, 'could not refresh the socket subscription cache');
      }
      // Unreadable, it emits nothing rather than by a state that is known to have changed.
      this.socketSubscriptions.delete(id);
      for (const s of fresh ?? []) this.cacheSocketSubscription(s);
    });
  }

  /** The periodic full reload. A failed one keeps the cache as it is and says so once per failing streak. */
  private reloadSocketCache(): Promise<void> {
    return this.serialised(async () => {
      if (this.closed) return;
      try {
        this.replaceSocketCache(await this.store.withSocketActionsAcrossTenants());
        if (this.reloadFailing) this.logger.log('the socket subscription cache reloads again');
        this.reloadFailing = false;
      } catch (err) {
        if (this.closed) return;
        if (!this.reloadFailing)
          this.logger.warn({ err }, 'could not reload the socket subscription cache; keeping the one it has');
        this.reloadFailing = true;
      }
    });
  }

  /** Swaps in a cache of exactly `all`, keeping compiled forms whose rules and resources are unchanged. */
  private replaceSocketCache(all: SubscriptionRecord[]): void {
    const previous = this.socketSubscriptions;
    this.socketSubscriptions = new TriggerIndex();
    for (const s of all) {
      const before = previous.get(s.id);
      this.cacheSocketSubscription(
        s,
        before && compiledFrom(before.value) === compiledFrom(s) ? before.compiled : undefined,
      );
    }
  }

  private cacheSocketSubscription(s: SubscriptionRecord, compiled?: CompiledSubscription): void {
    if (s.owner.key_id && this.revokedOwnerKeys.has(s.owner.key_id)) return;
    if (!compiled) {
      compiled = compileSubscription(s);
      this.warnUncompilable(s.id, compiled);
    }
    this.socketSubscriptions.set(s.id, s.organisation_id, compiled, s);
  }

  /** Subscriptions saved with a key revoked anywhere in the cluster stop emitting on this node. */
  private forgetOwnerKey(keyId: string): void {
    if (this.revokedOwnerKeys.size >= REVOKED_OWNER_KEYS_REMEMBERED) this.revokedOwnerKeys.clear();
    this.revokedOwnerKeys.add(keyId);
    for (const [id, record] of [...this.socketSubscriptions.all()])
      if (record.owner.key_id === keyId) this.socketSubscriptions.delete(id);
  }

  /** Rules saved before a limit existed (a pattern RE2 refuses, conditions too deep) are kept but match nothing. */
  private warnUncompilable(id: string, compiled: CompiledSubscription): void {
    for (const [ruleIndex, rule] of compiled.rules.entries()) {
      if (rule.error)
        this.logger.warn({ id, ruleIndex, error: rule.error }, 'a stored rule no longer compiles; it matches nothing');
    }
  }
}
