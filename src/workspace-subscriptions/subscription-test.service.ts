import { BadRequestException, ConflictException, ForbiddenException, Injectable } from '@nestjs/common';
import { ApiKeysService } from '../core/auth/api-keys.service';
import { hasScope, readerOf, readsEvent, receivesEvents, type Principal } from '../core/auth/principal';
import { toEnvelope, type EventEnvelope } from '../core/event-log/envelope';
import { EventLog } from '../core/event-log/event-log.service';
import type { StoredEvent } from '../core/event-log/event.types';
import type { TestEvent } from '../core/gateway/client-events';
import { RealtimeService } from '../core/gateway/realtime.service';
import { rooms } from '../core/gateway/rooms';
import { ValidationFailedException } from '../core/http/errors';
import { newId } from '../core/http/ids';
import { isoNow } from '../core/http/time';
import { SECRET_UNREADABLE_ISSUE } from '../core/webhooks/endpoint-health';
import { describeStatus } from '../core/webhooks/retry-policy';
import { isReservedHeader, signedRequest } from '../core/webhooks/webhook-request';
import { WebhookSender } from '../core/webhooks/webhook-sender';
import type { WebhookRequest } from '../core/webhooks/webhook.types';
import { WebhooksService } from '../core/webhooks/webhooks.service';
import { HEADER_VALUE_MASK, TEST_HEADER } from './action-headers';
import { SUBSCRIPTION_OR_DRAFT, type TestSubscriptionDto } from './dto/subscription.dto';
import type { FailedCondition } from './subscription-conditions';
import { actsForOwner, ownerReads } from './subscription-owner';
import { compileSubscription, eventSubjects, resourcesMatch, triggerMatches } from './subscription-rules';
import type { Action, SubscriptionRecord } from './subscription.store';
import { matchHash, SubscriptionsService } from './subscriptions.service';

const MATCH_SEARCH_PAGES = 20;

const THROWAWAY_SIGNATURE_NOTE =
  "webhook-signature here was made with a throwaway secret generated for this call, not the subscription's signing secret: it does not verify with it. Only mode send, by the subscription's owner, signs with the real secret.";
const NO_SECRET_NOTE =
  'There is no signing secret yet (a draft): this request was signed with a throwaway secret generated for this call.';

export class TestSendForbiddenException extends ForbiddenException {
  constructor() {
    super("mode send reaches the subscription's receivers: only its owner, an app or an admin credential may use it");
  }
}

/**
 * What a test puts on the wire: the envelope without `sequence` (a test never claims a place in
 * the log) and with `test: true`. The body is what the signature covers, so this marker, unlike
 * the `herald-test` header, cannot be stripped on the way.
 */
export function testPayload(envelope: EventEnvelope): TestEvent {
  const { sequence: _notInTheLog, ...rest } = envelope;
  return { ...rest, test: true };
}

/** The request as the response shows it: header values the action set are masked. */
function shown(request: WebhookRequest, action: Action): WebhookRequest {
  const headers = { ...request.headers };
  for (const name of Object.keys(action.headers ?? {})) {
    const lower = name.toLowerCase();
    if (lower !== TEST_HEADER && !isReservedHeader(lower) && lower in headers) headers[lower] = HEADER_VALUE_MASK;
  }
  return { ...request, headers };
}

interface RuleResult {
  index: number;
  trigger: string;
  matched: boolean;
  trigger_matched: boolean;
  resources_matched: boolean;
  /** The subscription's owner may read the event (docs/architecture.md "Rules that keep it correct"); a rule matches only then. */
  readable: boolean;
  failed_conditions: FailedCondition[];
}

interface ActionResult {
  index: number;
  type: 'webhook' | 'socket';
  request?: WebhookRequest;
  /** Which secret made `webhook-signature`: a throwaway one in previews and for drafts. */
  signed_with?: 'throwaway_secret' | 'subscription_secret';
  note?: string;
  emit?: { room: string; event: string; payload: unknown };
  response?: { status?: number; error?: string; duration_ms?: number };
  sent: boolean;
}

/**
 * POST /api/v2/subscriptions/test: run a subscription or a draft against one input and show,
 * rule by rule, what matched and why not, and the exact request each action sends. `send`
 * mode sends it once. Nothing here writes to the delivery log or the subscription's counts.
 *
 * The input is whatever the caller makes up, so nothing a test sends may pass for a real
 * delivery: requests carry `herald-test: true` and `"test": true` in the signed body, socket
 * messages `"test": true`, neither a log `sequence`. Previews are signed with a throwaway
 * secret (the real one would make this a signing oracle for any workspace member); `send` signs
 * with the real one and so is the owner's (or an app's, or an admin's). A rule matches only
 * events the subscription's owner may read, as it does live.
 */
@Injectable()
export class SubscriptionTestService {
  constructor(
    private readonly subscriptions: SubscriptionsService,
    private readonly apiKeys: ApiKeysService,
    private readonly webhooks: WebhooksService,
    private readonly sender: WebhookSender,
    private readonly log: EventLog,
    private readonly realtime: RealtimeService,
  ) {}

  async run(caller: Principal, workspaceId: string, dto: TestSubscriptionDto) {
    const mode = dto.mode ?? 'preview';
    const subscription = await this.resolveSubscription(caller, workspaceId, dto);
    if (mode === 'send' && (!hasScope(caller, 'subscriptions:write') || !actsForOwner(caller, subscription.owner)))
      throw new TestSendForbiddenException();
    const event = await this.resolveInput(caller, workspaceId, subscription, dto);
    const envelope = toEnvelope(event);
    if (dto.ruleIndex !== undefined && dto.ruleIndex >= subscription.rules.length) {
      throw new ValidationFailedException([
        { field: 'ruleIndex', message: `ruleIndex must be below ${subscription.rules.length}` },
      ]);
    }
    // A draft was compiled when normalise validated it; compiling it again is cheap and keeps drafts out of the cache.
    const compiled = subscription.id ? this.subscriptions.compiledFor(subscription) : compileSubscription(subscription);
    const resourcesMatched = resourcesMatch(compiled.resources, eventSubjects(event));
    const ownerKey = subscription.owner.key_id;
    // A draft's owner is the caller, whose key just authenticated.
    const ownerKeyDead = Boolean(
      subscription.id && ownerKey && (await this.apiKeys.unusableKeyIds([ownerKey])).has(ownerKey),
    );
    const readable = !ownerKeyDead && ownerReads(subscription.owner, event);
    const rules: RuleResult[] = compiled.rules
      .map((rule, index) => ({ rule, index }))
      .filter(({ index }) => dto.ruleIndex === undefined || dto.ruleIndex === index)
      .map(({ rule, index }) => {
        const triggerMatched = triggerMatches(rule.trigger, event);
        const conditionsMatched = rule.conditions.matches(envelope);
        return {
          index,
          trigger: subscription.rules[index].trigger,
          matched: triggerMatched && resourcesMatched && conditionsMatched && readable,
          trigger_matched: triggerMatched,
          resources_matched: resourcesMatched,
          readable,
          failed_conditions: conditionsMatched ? [] : rule.conditions.explain(envelope),
        };
      });
    const matched = rules.some((r) => r.matched);
    const actions: ActionResult[] = [];
    if (matched) {
      const payload = testPayload(envelope);
      const body = JSON.stringify(payload);
      const endpoint =
        subscription.id && mode === 'send'
          ? await this.webhooks.getEndpoint(caller.organisation_id, subscription.id)
          : undefined;
      if (endpoint?.secret_unreadable) throw new ConflictException(SECRET_UNREADABLE_ISSUE);
      for (const [index, action] of subscription.actions.entries()) {
        if (action.type === 'webhook' && action.url) {
          actions.push(
            await this.webhookAction(index, action, body, mode === 'send' ? { secret: endpoint?.secret } : undefined),
          );
        } else if (action.type === 'socket') {
          const room = rooms.workspace(caller.organisation_id, workspaceId, action.room);
          if (mode === 'send') this.realtime.emitEventToRooms([room], payload);
          actions.push({ index, type: 'socket', emit: { room, event: event.type, payload }, sent: mode === 'send' });
        }
      }
    }
    return { subscription_id: subscription.id || null, mode, matched, input: envelope, rules, actions };
  }

  /** Previews (`send` undefined) are signed with a throwaway secret; a send with the subscription's own (a draft has none). */
  private async webhookAction(
    index: number,
    action: Action,
    body: string,
    send: { secret?: string } | undefined,
  ): Promise<ActionResult> {
    const secret = send?.secret ?? this.webhooks.generateSecret();
    const signing = send?.secret
      ? { signed_with: 'subscription_secret' as const }
      : { signed_with: 'throwaway_secret' as const, note: send ? NO_SECRET_NOTE : THROWAWAY_SIGNATURE_NOTE };
    const request = signedRequest(
      { url: action.url!, secret, headers: { ...action.headers, [TEST_HEADER]: 'true' } },
      newId('dlv'),
      body,
      new Date(),
    );
    if (!send) return { index, type: 'webhook', request: shown(request, action), ...signing, sent: false };
    const result = await this.sender.send(request);
    const ok = result.status !== undefined && result.status >= 200 && result.status < 300;
    const error = result.error ?? (ok || result.status === undefined ? undefined : describeStatus(result.status));
    return {
      index,
      type: 'webhook',
      request: shown(request, action),
      ...signing,
      response: { status: result.status, error, duration_ms: result.duration_ms },
      sent: true,
    };
  }

  private async resolveSubscription(
    caller: Principal,
    workspaceId: string,
    dto: TestSubscriptionDto,
  ): Promise<SubscriptionRecord> {
    if (dto.subscription !== undefined && dto.draft !== undefined)
      throw new BadRequestException('Give either subscription or draft, not both');
    if (dto.subscription !== undefined) return this.subscriptions.require(caller, workspaceId, dto.subscription);
    if (!dto.draft) throw new ValidationFailedException([{ field: 'subscription', message: SUBSCRIPTION_OR_DRAFT }]);
    return this.subscriptions.newRecord(caller, workspaceId, await this.subscriptions.normalise(caller, dto.draft), '');
  }

  private async resolveInput(
    caller: Principal,
    workspaceId: string,
    subscription: SubscriptionRecord,
    dto: TestSubscriptionDto,
  ): Promise<StoredEvent> {
    if (dto.input) return this.toTestEvent(caller, dto.input, 'input');
    const match = dto.test?.match;
    if (match) {
      if (!subscription.id)
        throw new ValidationFailedException([
          { field: 'test.match.hash', message: 'a past match needs an existing subscription' },
        ]);
      return this.findPastMatch(caller, workspaceId, subscription.id, match.hash);
    }
    const source = dto.test?.source;
    if (source !== undefined) {
      const items = Array.isArray(source) ? source : [source];
      const item = items[dto.test?.itemIndex ?? 0];
      if (!item || typeof item !== 'object')
        throw new ValidationFailedException([
          { field: 'test.itemIndex', message: `test.source has no item at index ${dto.test?.itemIndex ?? 0}` },
        ]);
      return this.toTestEvent(caller, item as Record<string, unknown>, 'test.source');
    }
    throw new ValidationFailedException([{ field: 'input', message: 'give input, test.source, or test.match.hash' }]);
  }

  /**
   * A past match hands back the event itself, so it follows the read rule: a caller that may not
   * read the event over REST gets the same answer as for a hash that never matched.
   */
  private async findPastMatch(
    caller: Principal,
    workspaceId: string,
    subscriptionId: string,
    hash: string,
  ): Promise<StoredEvent> {
    const notFound = new ValidationFailedException([
      { field: 'test.match.hash', message: `no past match ${hash} for this subscription` },
    ]);
    let datetime: string | undefined;
    for (let page = 0; page < MATCH_SEARCH_PAGES; page++) {
      const entries = await this.webhooks.listDeliveries({
        organisation_id: caller.organisation_id,
        workspace_id: workspaceId,
        endpoint_id: subscriptionId,
        limit: 500,
        direction: 'before',
        datetime,
      });
      const found = entries.find((e) => e.match_hash === hash);
      if (found) {
        const [event] = await this.log.readAfter(found.event_seq - 1, { organisation_id: caller.organisation_id }, 1);
        if (event?.seq === found.event_seq && matchHash(subscriptionId, event.id) === hash) {
          if (!receivesEvents(caller) || !readsEvent(readerOf(caller), event)) throw notFound;
          return event;
        }
        throw new ValidationFailedException([
          { field: 'test.match.hash', message: 'the matched event is past retention' },
        ]);
      }
      if (!entries.length) break;
      datetime = entries[entries.length - 1].created_at;
    }
    throw notFound;
  }

  /** Accepts an event-shaped object (`type`, `data`, `user_id`…) or an envelope (`specversion`, `userid`…). */
  private toTestEvent(caller: Principal, raw: Record<string, unknown>, field: string): StoredEvent {
    const str = (v: unknown) => (typeof v === 'string' && v ? v : null);
    const type = str(raw.type);
    if (!type)
      throw new ValidationFailedException([
        { field: `${field}.type`, message: `${field}.type is required: an event type` },
      ]);
    const data =
      raw.data && typeof raw.data === 'object' && !Array.isArray(raw.data) ? (raw.data as Record<string, unknown>) : {};
    const now = isoNow();
    return {
      seq: Number(raw.sequence ?? raw.seq ?? 0) || 0,
      id: str(raw.id) ?? 'evt_test',
      type,
      version: str(raw.version) ?? str(raw.typeversion) ?? '1',
      organisation_id: caller.organisation_id,
      user_id: str(raw.user_id) ?? str(raw.userid),
      claim_id: str(raw.claim_id) ?? str(raw.claimid),
      channel_id: str(raw.channel_id) ?? str(raw.channelid),
      data,
      occurred_at: str(raw.occurred_at) ?? str(raw.time) ?? now,
      received_at: now,
    };
  }
}
