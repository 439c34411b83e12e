import { BadRequestException, Injectable } from '@nestjs/common';
import type { Principal } from '../core/auth/principal';
import { toEnvelope } from '../core/event-log/envelope';
import { EventLog } from '../core/event-log/event-log.service';
import type { StoredEvent } from '../core/event-log/event.types';
import { RealtimeService } from '../core/gateway/realtime.service';
import { rooms } from '../core/gateway/rooms';
import { ValidationFailedException } from '../core/http/errors';
import { newId } from '../core/http/ids';
import { isoNow } from '../core/http/time';
import { WebhooksService } from '../core/webhooks/webhooks.service';
import type { TestSubscriptionDto } from './dto/subscription.dto';
import type { FailedCondition } from './subscription-conditions';
import { compileSubscription, eventSubjects, resourcesMatch, triggerMatches } from './subscription-rules';
import type { SubscriptionRecord } from './subscription.store';
import { matchHash, SubscriptionsService } from './subscriptions.service';

const MATCH_SEARCH_PAGES = 20;

interface RuleResult {
  index: number;
  trigger: string;
  matched: boolean;
  trigger_matched: boolean;
  resources_matched: boolean;
  failed_conditions: FailedCondition[];
}

interface ActionResult {
  index: number;
  type: 'webhook' | 'socket';
  request?: { url: string; method: string; headers: Record<string, string>; body: string };
  emit?: { room: string; event: string; payload: unknown };
  response?: { status?: number; error?: string; duration_ms?: number };
  sent: boolean;
}

/**
 * POST /api/v2/subscriptions/test: run a subscription or a draft against one input and show,
 * rule by rule, what matched and why not, and the exact request each action sends. `send`
 * mode sends it once. Nothing here writes to the delivery log or the subscription's counts.
 */
@Injectable()
export class SubscriptionTestService {
  constructor(
    private readonly subscriptions: SubscriptionsService,
    private readonly webhooks: WebhooksService,
    private readonly log: EventLog,
    private readonly realtime: RealtimeService,
  ) {}

  async run(caller: Principal, workspaceId: string, dto: TestSubscriptionDto) {
    const subscription = await this.resolveSubscription(caller, workspaceId, dto);
    const event = await this.resolveInput(caller, workspaceId, subscription, dto);
    const envelope = toEnvelope(event);
    if (dto.ruleIndex !== undefined && dto.ruleIndex >= subscription.rules.length) {
      throw new ValidationFailedException([{ field: 'ruleIndex', message: `ruleIndex must be below ${subscription.rules.length}` }]);
    }
    // A draft was compiled when normalise validated it; compiling it again is cheap and keeps drafts out of the cache.
    const compiled = subscription.id ? this.subscriptions.compiledFor(subscription) : compileSubscription(subscription);
    const resourcesMatched = resourcesMatch(compiled.resources, eventSubjects(event));
    const rules: RuleResult[] = compiled.rules
      .map((rule, index) => ({ rule, index }))
      .filter(({ index }) => dto.ruleIndex === undefined || dto.ruleIndex === index)
      .map(({ rule, index }) => {
        const triggerMatched = triggerMatches(rule.trigger, event);
        const conditionsMatched = rule.conditions.matches(envelope);
        return {
          index,
          trigger: subscription.rules[index].trigger,
          matched: triggerMatched && resourcesMatched && conditionsMatched,
          trigger_matched: triggerMatched,
          resources_matched: resourcesMatched,
          failed_conditions: conditionsMatched ? [] : rule.conditions.explain(envelope),
        };
      });
    const matched = rules.some((r) => r.matched);
    const mode = dto.mode ?? 'preview';
    const actions: ActionResult[] = [];
    if (matched) {
      const endpoint = subscription.id ? await this.webhooks.getEndpoint(subscription.id) : undefined;
      for (const [index, action] of subscription.actions.entries()) {
        if (action.type === 'webhook' && action.url) {
          // A draft has no secret yet: its preview is signed with a throwaway one.
          const target = { url: action.url, secret: endpoint?.secret ?? this.webhooks.generateSecret(), headers: action.headers ?? {} };
          if (mode === 'send') {
            const result = await this.webhooks.sendOnce(target, event);
            actions.push({ index, type: 'webhook', request: result.request, response: { status: result.status, error: result.error, duration_ms: result.duration_ms }, sent: true });
          } else {
            actions.push({ index, type: 'webhook', request: this.webhooks.buildRequest(target, event, newId('dlv')), sent: false });
          }
        } else if (action.type === 'socket') {
          const room = rooms.workspace(caller.organisation_id, workspaceId, action.room);
          if (mode === 'send') this.realtime.emitToRooms([room], event.type, envelope);
          actions.push({ index, type: 'socket', emit: { room, event: event.type, payload: envelope }, sent: mode === 'send' });
        }
      }
    }
    return { subscription_id: subscription.id || null, mode, matched, input: envelope, rules, actions };
  }

  private async resolveSubscription(caller: Principal, workspaceId: string, dto: TestSubscriptionDto): Promise<SubscriptionRecord> {
    if (dto.subscription !== undefined && dto.draft !== undefined) throw new BadRequestException('Give either subscription or draft, not both');
    if (dto.subscription !== undefined) return this.subscriptions.require(caller, workspaceId, dto.subscription);
    if (!dto.draft) throw new ValidationFailedException([{ field: 'subscription', message: 'subscription or draft is required' }]);
    const normalised = await this.subscriptions.normalise(caller, dto.draft);
    const now = isoNow();
    return { id: '', organisation_id: caller.organisation_id, workspace_id: workspaceId, ...normalised, issue: null, created_at: now, updated_at: now };
  }

  private async resolveInput(caller: Principal, workspaceId: string, subscription: SubscriptionRecord, dto: TestSubscriptionDto): Promise<StoredEvent> {
    if (dto.input) return this.toTestEvent(caller, dto.input, 'input');
    const match = dto.test?.match;
    if (match) {
      if (!subscription.id) throw new ValidationFailedException([{ field: 'test.match.hash', message: 'a past match needs an existing subscription' }]);
      return this.findPastMatch(caller, workspaceId, subscription.id, match.hash);
    }
    const source = dto.test?.source;
    if (source !== undefined) {
      const items = Array.isArray(source) ? source : [source];
      const item = items[dto.test?.itemIndex ?? 0];
      if (!item || typeof item !== 'object') throw new ValidationFailedException([{ field: 'test.itemIndex', message: `test.source has no item at index ${dto.test?.itemIndex ?? 0}` }]);
      return this.toTestEvent(caller, item as Record<string, unknown>, 'test.source');
    }
    throw new ValidationFailedException([{ field: 'input', message: 'give input, test.source, or test.match.hash' }]);
  }

  private async findPastMatch(caller: Principal, workspaceId: string, subscriptionId: string, hash: string): Promise<StoredEvent> {
    let datetime: string | undefined;
    for (let page = 0; page < MATCH_SEARCH_PAGES; page++) {
      const entries = await this.webhooks.listDeliveries({ organisation_id: caller.organisation_id, workspace_id: workspaceId, endpoint_id: subscriptionId, limit: 500, direction: 'before', datetime });
      const found = entries.find((e) => e.match_hash === hash);
      if (found) {
        const [event] = await this.log.readAfter(found.event_seq - 1, { organisation_id: caller.organisation_id }, 1);
        if (event?.seq === found.event_seq && matchHash(subscriptionId, event.id) === hash) return event;
        throw new ValidationFailedException([{ field: 'test.match.hash', message: 'the matched event is past retention' }]);
      }
      if (!entries.length) break;
      datetime = entries[entries.length - 1].created_at;
    }
    throw new ValidationFailedException([{ field: 'test.match.hash', message: `no past match ${hash} for this subscription` }]);
  }

  /** Accepts an event-shaped object (`type`, `data`, `user_id`…) or an envelope (`specversion`, `userid`…). */
  private toTestEvent(caller: Principal, raw: Record<string, unknown>, field: string): StoredEvent {
    const str = (v: unknown) => (typeof v === 'string' && v ? v : null);
    const type = str(raw.type);
    if (!type) throw new ValidationFailedException([{ field: `${field}.type`, message: `${field}.type is required: an event type` }]);
    const data = raw.data && typeof raw.data === 'object' && !Array.isArray(raw.data) ? (raw.data as Record<string, unknown>) : {};
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
