import { Inject, Injectable, Logger } from '@nestjs/common';
import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import { APP_CONFIG, type AppConfig } from '../config';
import { Database, type Tx } from '../database/database.service';
import { toEnvelope } from '../event-log/envelope';
import type { StoredEvent } from '../event-log/event.types';
import { newId } from '../http/ids';
import { isoNow, toIso } from '../http/time';
import { AfterCommit } from './after-commit';
import { DeliveryWorker } from './delivery-worker.service';
import { DeliveryStore, type NewDelivery } from './delivery.store';
import { EndpointStore } from './endpoint.store';
import { NOT_SENT_BLOCKED } from './endpoint-health';
import { historyCursor, LOG_TIME_EXAMPLE } from './history-page';
import { describeStatus } from './retry-policy';
import { urlProblem } from './ssrf-guard';
import { generateSecret, signedRequest } from './webhook-request';
import { WebhookMetrics } from './webhook-metrics';
import { WebhookSender } from './webhook-sender';
import type {
  DeliveryAttempt,
  DeliveryLogEntry,
  DeliveryRequest,
  EndpointState,
  EnqueuedDelivery,
  ListDeliveriesQuery,
  SaveEndpoint,
  SendOnceResult,
  WebhookEndpoint,
  WebhookRequest,
} from './webhook.types';
import {
  InvalidDeliveryQueryException,
  UndeliverableWebhookUrlException,
  WebhookEndpointNotFoundException,
} from './webhooks.exceptions';

/** What pending deliveries become when their endpoint stops sending. */
const SETTLE_ON: Partial<Record<EndpointState, { status: 'blocked' | 'cancelled'; error: string }>> = {
  blocked: { status: 'blocked', error: NOT_SENT_BLOCKED },
  off: { status: 'cancelled', error: 'Subscription was turned off before delivery' },
};

/**
 * The webhook engine's interface for the modules that own subscriptions (002, 003): they keep
 * their own tables and register one endpoint per subscription here; their durable routers decide
 * which events reach which endpoint and call `enqueue` inside the dispatcher's transaction, so a
 * delivery can never be lost between the log and the queue. Blocking rules live here, in one place.
 */
@Injectable()
export class WebhooksService {
  private readonly logger = new Logger('Webhooks');
  /**
   * Per-endpoint rate limits, counted in memory: `enqueue` only runs in the active dispatcher,
   * and exactly one node's dispatcher is active at a time. When that role moves to another node
   * the counts start afresh there, which at worst lets one extra minute's allowance through.
   */
  private readonly limiters = new Map<number, RateLimiterMemory>();

  constructor(
    private readonly db: Database,
    private readonly endpoints: EndpointStore,
    private readonly deliveries: DeliveryStore,
    private readonly sender: WebhookSender,
    private readonly worker: DeliveryWorker,
    private readonly metrics: WebhookMetrics,
    private readonly afterCommit: AfterCommit,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /** A new Standard Webhooks signing secret (`whsec_…`), shown to the subscriber once. */
  generateSecret(): string {
    return generateSecret();
  }

  /** The subscribe-time SSRF check; the same check runs again on every connection. */
  async assertDeliverableUrl(url: string): Promise<void> {
    const problem = await urlProblem(url, this.config.webhooks.allowPrivate);
    if (problem) throw new UndeliverableWebhookUrlException(problem);
  }

  // ---------------------------------------------------------------------------------------
  // Endpoints

  /** Creates or replaces the endpoint of subscription `e.id`, in the caller's transaction. */
  async saveEndpoint(tx: Tx, e: SaveEndpoint): Promise<void> {
    const now = isoNow();
    const existing = await this.endpoints.findInOrganisation(tx, e.organisation_id, e.id);
    if (!existing) {
      await this.endpoints.insert(tx, { ...e, state: e.state ?? 'on' }, now);
      return;
    }
    await this.endpoints.update(tx, e, now);
    if (e.state !== undefined) await this.changeState(tx, e.organisation_id, e.id, e.state, e.issue ?? null, now);
  }

  /** The endpoint of subscription `id`, if it belongs to the organisation. */
  getEndpoint(organisationId: string, id: string): Promise<WebhookEndpoint | undefined> {
    return this.endpoints.get(organisationId, id);
  }

  /** Turning an endpoint on clears its failure streak and issue; blocking or turning it off settles what it still owes. */
  async setState(organisationId: string, id: string, state: EndpointState, issue?: string): Promise<WebhookEndpoint> {
    await this.db.transaction(async (m) => {
      if (!(await this.endpoints.findInOrganisation(m, organisationId, id)))
        throw new WebhookEndpointNotFoundException(id);
      await this.changeState(m, organisationId, id, state, issue ?? null, isoNow());
    });
    return (await this.endpoints.get(organisationId, id))!;
  }

  /**
   * A new signing secret for the endpoint of subscription `id`, returned to be shown once. The
   * secret it replaces keeps signing beside it until `previous_secret_expires_at`
   * (WEBHOOK_SECRET_ROTATION_OVERLAP; with 0 it stops at once), so a receiver can switch secrets
   * without dropping a delivery. One previous secret is kept: rotating again during an overlap
   * drops the older one, and a retry after the overlap is signed with the new secret only.
   */
  async rotateSecret(
    organisationId: string,
    id: string,
  ): Promise<{ subscription_id: string; signing_secret: string; previous_secret_expires_at: string }> {
    const secret = generateSecret();
    const now = Date.now();
    const overlapMs = this.config.webhooks.secretRotationOverlapMs;
    const expiresAt = toIso(now + overlapMs);
    await this.db.transaction(async (m) => {
      // Locked, so two rotations at once cannot both move the same secret aside and lose one.
      const endpoint = await this.endpoints.lockInOrganisation(m, organisationId, id);
      if (!endpoint) throw new WebhookEndpointNotFoundException(id);
      // A secret the store could not open reads as empty: there is nothing to keep signing with.
      const previous = overlapMs > 0 && endpoint.secret ? { secret: endpoint.secret, until: expiresAt } : null;
      await this.endpoints.setSecrets(m, organisationId, id, secret, previous, toIso(now));
      // Deliveries kept while no key opened the old secret are due again now that there is one.
      if (endpoint.secret_unreadable) await this.deliveries.dueAgain(m, organisationId, id, toIso(now));
    });
    this.worker.announce();
    return { subscription_id: id, signing_secret: secret, previous_secret_expires_at: expiresAt };
  }

  /** Removes the endpoint; deliveries it still owes are cancelled and never sent. */
  async removeEndpoint(tx: Tx, organisationId: string, id: string): Promise<void> {
    const now = isoNow();
    await this.endpoints.delete(tx, organisationId, id);
    // Rows in flight right now are settled by the worker when it finds the endpoint gone.
    await this.deliveries.settle(
      tx,
      { organisation_id: organisationId, endpoint_id: id, now },
      'cancelled',
      'Subscription was removed before delivery',
      now,
    );
  }

  private async changeState(
    tx: Tx,
    organisationId: string,
    id: string,
    state: EndpointState,
    issue: string | null,
    now: string,
  ): Promise<void> {
    await this.endpoints.setState(tx, organisationId, id, state, issue, now);
    const settle = SETTLE_ON[state];
    if (settle)
      await this.deliveries.settle(
        tx,
        { organisation_id: organisationId, endpoint_id: id, now },
        settle.status,
        issue ?? settle.error,
        now,
      );
  }

  // ---------------------------------------------------------------------------------------
  // Deliveries

  /**
   * Records deliveries inside the dispatcher's transaction. An endpoint that is off (or gone)
   * records nothing; a blocked one gets a `blocked` log row; one over its per-minute limit a
   * `rate_limited` row; otherwise the delivery is pending and due at once.
   */
  async enqueue(tx: Tx, requests: DeliveryRequest[]): Promise<EnqueuedDelivery[]> {
    if (!requests.length) return [];
    // The dispatcher routes every tenant's events; each endpoint's organisation is checked below.
    const endpoints = await this.endpoints.findAcrossTenants(
      tx,
      requests.map((r) => r.endpoint_id),
    );
    const now = isoNow();
    const rows: NewDelivery[] = [];
    for (const r of requests) {
      const endpoint = endpoints.get(r.endpoint_id);
      if (!endpoint || endpoint.state === 'off') continue;
      if (endpoint.organisation_id !== r.event.organisation_id) {
        // A router bug must not leak one organisation's events to another's receiver.
        this.logger.error(
          { endpoint: endpoint.id, event: r.event.id },
          'refused to enqueue an event for an endpoint of another organisation',
        );
        continue;
      }
      let status: NewDelivery['status'] = 'pending';
      let error: string | null = null;
      if (endpoint.state === 'blocked') {
        status = 'blocked';
        error = endpoint.issue ?? NOT_SENT_BLOCKED;
      } else if (!(await this.withinRateLimit(endpoint))) {
        status = 'rate_limited';
        error = `Over the subscription's limit of ${endpoint.rate_limit_per_minute} deliveries per minute; not sent`;
      }
      rows.push({
        id: newId('dlv'),
        endpoint_id: endpoint.id,
        organisation_id: endpoint.organisation_id,
        workspace_id: endpoint.workspace_id,
        event_id: r.event.id,
        event_seq: r.event.seq,
        rule_index: r.rule_index ?? null,
        match_hash: r.match_hash ?? null,
        match_index: r.match_index ?? null,
        body: status === 'pending' ? JSON.stringify(toEnvelope(r.event)) : null,
        status,
        error,
        created_at: now,
      });
    }
    await this.deliveries.insert(tx, rows);
    this.afterCommit.run(tx, () => {
      if (rows.some((r) => r.status === 'pending')) this.worker.announce();
      // Counted per endpoint kind, like the worker's final statuses.
      for (const r of rows)
        if (r.status === 'blocked' || r.status === 'rate_limited')
          this.metrics.settled(r.status, 1, endpoints.get(r.endpoint_id)?.kind ?? 'unknown');
    });
    return rows.map((r) => ({ id: r.id, endpoint_id: r.endpoint_id, status: r.status }));
  }

  private async withinRateLimit(endpoint: WebhookEndpoint): Promise<boolean> {
    const perMinute = endpoint.rate_limit_per_minute;
    if (!perMinute || perMinute <= 0) return true;
    let limiter = this.limiters.get(perMinute);
    if (!limiter) {
      limiter = new RateLimiterMemory({ points: perMinute, duration: 60, keyPrefix: `webhooks-${perMinute}` });
      this.limiters.set(perMinute, limiter);
    }
    try {
      await limiter.consume(endpoint.id);
      return true;
    } catch (res) {
      if (res instanceof RateLimiterRes) return false;
      throw res;
    }
  }

  /** The request a delivery of `event` would send, exactly (signature included), for previews. */
  buildRequest(
    endpoint: Pick<WebhookEndpoint, 'url' | 'secret' | 'headers'>,
    event: StoredEvent,
    deliveryId: string,
    at: Date = new Date(),
  ): WebhookRequest {
    return signedRequest(endpoint, deliveryId, JSON.stringify(toEnvelope(event)), at);
  }

  /** Signs and sends one request through the delivery path (SSRF guard, timeouts) and records nothing. */
  async sendOnce(
    endpoint: Pick<WebhookEndpoint, 'url' | 'secret' | 'headers'>,
    event: StoredEvent,
  ): Promise<SendOnceResult> {
    const request = this.buildRequest(endpoint, event, newId('dlv'));
    const result = await this.sender.send(request);
    const ok = result.status !== undefined && result.status >= 200 && result.status < 300;
    const error = result.error ?? (ok || result.status === undefined ? undefined : describeStatus(result.status));
    return {
      ...(result.status !== undefined ? { status: result.status } : {}),
      ...(error ? { error } : {}),
      duration_ms: result.duration_ms,
      request,
    };
  }

  /**
   * A page of the delivery log, scoped to an organisation (and workspace or endpoint). `before`
   * (default) is newest first, older than `datetime`; `after` oldest first, newer than it.
   * Entry times are unique (history-page.ts), so every page holds exactly `limit` entries but the
   * last, and the last entry's `created_at` is the next page's cursor.
   */
  async listDeliveries(query: ListDeliveriesQuery): Promise<DeliveryLogEntry[]> {
    if (!Number.isInteger(query.limit) || query.limit < 1)
      throw new InvalidDeliveryQueryException('limit must be a positive integer');
    const direction = query.direction ?? 'before';
    let datetime: string | undefined;
    if (query.datetime !== undefined) {
      // Stored times compare as text in one fixed-width form; the cursor is brought to it.
      datetime = historyCursor(query.datetime, direction) ?? undefined;
      if (datetime === undefined)
        throw new InvalidDeliveryQueryException(`datetime must be an RFC 3339 date-time, e.g. ${LOG_TIME_EXAMPLE}`);
    }
    return this.deliveries.list({ ...query, direction, datetime });
  }

  /** Every try of one delivery, oldest first. */
  listAttempts(organisationId: string, deliveryId: string): Promise<DeliveryAttempt[]> {
    return this.deliveries.attempts(organisationId, deliveryId);
  }
}
