import { ConflictException, ForbiddenException, Inject, Injectable, NotFoundException } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../config';
import { Database } from '../database/database.service';
import { toEnvelope } from '../event-log/envelope';
import { EventLog } from '../event-log/event-log.service';
import { isoNow, toIso } from '../http/time';
import { DeliveryWorker } from './delivery-worker.service';
import { DeliveryStore } from './delivery.store';
import { EndpointStore } from './endpoint.store';
import { formatLogTime, historyCursor, LOG_TIME_EXAMPLE, parseLogTime } from './history-page';
import type { DeliveryAttempt, DeliveryLogEntry, DeliveryStatus, WebhookEndpoint } from './webhook.types';
import { SECRET_UNREADABLE_ISSUE } from './endpoint-health';
import { InvalidDeliveryQueryException } from './webhooks.exceptions';

/** Rows read and requeued per transaction while recovering. */
const RECOVER_BATCH = 500;
/** Most deliveries one recover call requeues; `more` tells the caller to ask again. */
export const RECOVER_MAX_PER_CALL = 10_000;
/** Most attempts a delivery's detail lists (the newest); `attempt_count` is the total. */
export const ATTEMPTS_SHOWN = 100;

export class DeliveryNotFoundException extends NotFoundException {
  constructor(id: string) {
    super(`Delivery ${id} not found`);
  }
}

/** A page of the delivery log API: newest first, `next_cursor` null on the last page. */
export interface DeliveryLogPage {
  entries: DeliveryLogEntry[];
  next_cursor: string | null;
}

/** What of an organisation's log a caller sees (see `deliveryScopeOf` in principal.ts). */
export interface DeliveryScope {
  /** Only deliveries of endpoints this user owns; undefined for a reader of the whole organisation. */
  owner_user_id?: string;
  /** Workspace subscriptions' deliveries only in these workspaces; undefined for all. */
  workspace_ids?: string[];
}

export interface DeliveryLogFilter extends DeliveryScope {
  organisation_id: string;
  endpoint_id?: string;
  event_id?: string;
  status?: DeliveryStatus;
  /** RFC 3339 date-times: log times at or after `since`, before `until`. */
  since?: string;
  until?: string;
  limit: number;
  /** `next_cursor` of the previous page. */
  cursor?: string;
}

export interface RecoverRequest {
  /** RFC 3339 date-time: deliveries logged at or after it. */
  since: string;
  until?: string;
  /** Also requeue deliveries that were `blocked` (never sent while the subscription was blocked). */
  include_blocked?: boolean;
}

/** What the owner of a subscription that is turned back on may want to recover. */
export interface Undelivered {
  failed: number;
  blocked: number;
}

/**
 * The delivery log as a client team operates it: one log of every webhook Herald sends, whoever
 * owns the endpoint, with each attempt; resending one delivery; recovering a subscription's
 * failed deliveries. A delivery made owed again keeps its id, which is the `webhook-id` receivers
 * dedupe on; its body is rebuilt from the event log, so an event past retention cannot be resent.
 * Owning modules decide who may act on which subscription; tenancy is enforced here too.
 */
@Injectable()
export class DeliveryOperations {
  constructor(
    private readonly db: Database,
    private readonly deliveries: DeliveryStore,
    private readonly endpoints: EndpointStore,
    private readonly events: EventLog,
    private readonly worker: DeliveryWorker,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /**
   * Newest first. Log times are unique per organisation, so the cursor (the last entry's time)
   * never skips or repeats an entry, whatever the filters, and entries logged meanwhile only
   * appear on a new first page.
   */
  async list(filter: DeliveryLogFilter): Promise<DeliveryLogPage> {
    const before = filter.cursor === undefined ? undefined : decodeCursor(filter.cursor);
    const entries = await this.deliveries.list({
      organisation_id: filter.organisation_id,
      owner_user_id: filter.owner_user_id,
      workspace_ids: filter.workspace_ids,
      endpoint_id: filter.endpoint_id,
      event_id: filter.event_id,
      status: filter.status,
      since: filter.since === undefined ? undefined : logTime('since', filter.since),
      until: filter.until === undefined ? undefined : logTime('until', filter.until),
      limit: filter.limit + 1,
      direction: 'before',
      datetime: before,
    });
    const more = entries.length > filter.limit;
    const page = more ? entries.slice(0, filter.limit) : entries;
    return { entries: page, next_cursor: more ? encodeCursor(page[page.length - 1].created_at) : null };
  }

  /** One delivery with its newest ATTEMPTS_SHOWN attempts, oldest first. */
  async get(
    organisationId: string,
    id: string,
    scope: DeliveryScope,
  ): Promise<{ entry: DeliveryLogEntry; attempts: DeliveryAttempt[] }> {
    const entry = await this.deliveries.findEntry(organisationId, id, scope);
    if (!entry) throw new DeliveryNotFoundException(id);
    return { entry, attempts: await this.deliveries.attempts(organisationId, id, ATTEMPTS_SHOWN) };
  }

  /**
   * Makes one final delivery (delivered, failed, blocked, rate limited, cancelled) owed again, due
   * now: the next attempt is logged as its own, under the same `webhook-id`, and a failure is
   * retried on the whole schedule again. The subscription must be `on`. `allowed` is the owning
   * API's rule for who may send to this subscription's receivers again (else 403).
   */
  async resend(
    organisationId: string,
    id: string,
    scope: DeliveryScope,
    allowed: (endpoint: WebhookEndpoint) => boolean,
  ): Promise<DeliveryLogEntry> {
    const entry = await this.deliveries.findEntry(organisationId, id, scope);
    if (!entry) throw new DeliveryNotFoundException(id);
    const endpoint = await this.endpoints.get(organisationId, entry.endpoint_id);
    if (endpoint && !allowed(endpoint))
      throw new ForbiddenException(
        "Resending sends to the subscription's receivers again: it needs whoever may recover that subscription",
      );
    if (entry.status === 'pending')
      throw new ConflictException(
        `Delivery ${id} is still owed: its next attempt is due at ${entry.next_attempt_at ?? 'once a worker takes it'}`,
      );
    assertSending(endpoint, entry.endpoint_id);
    const now = isoNow();
    const requeued = await this.db.transaction(async (m) => {
      const [event] = await this.events.findIn(m, organisationId, [entry.event_id]);
      if (!event || event.seq !== entry.event_seq)
        throw new ConflictException(
          `Event ${entry.event_id} is no longer in the log (past EVENT_RETENTION): delivery ${id} cannot be resent`,
        );
      return this.deliveries.requeue(
        m,
        organisationId,
        [{ id, body: JSON.stringify(toEnvelope(event)), next_attempt_at: now }],
        now,
      );
    });
    if (!requeued.length) throw new ConflictException(`Delivery ${id} was made owed again meanwhile`);
    this.worker.announce();
    return (await this.deliveries.findEntry(organisationId, id, scope))!;
  }

  /**
   * Requeues one subscription's failed deliveries (and blocked ones on request) logged in
   * [since, until), oldest first, due WEBHOOK_RECOVER_RATE per second from now: at most that many
   * a second compete with the subscription's fresh deliveries. Deliveries whose event is past
   * retention are skipped and stay as they were. The subscription must be `on`. One call requeues
   * at most RECOVER_MAX_PER_CALL (`more` then says to call again: what it requeued is no longer
   * failed, so the next call goes on from there).
   */
  async recover(
    organisationId: string,
    endpointId: string,
    request: RecoverRequest,
  ): Promise<{ queued: number; skipped: number; more: boolean }> {
    const since = logTime('since', request.since);
    const until = request.until === undefined ? undefined : logTime('until', request.until);
    assertSending(await this.endpoints.get(organisationId, endpointId), endpointId);
    const statuses: DeliveryStatus[] = request.include_blocked ? ['failed', 'blocked'] : ['failed'];
    const spacingMs = 1000 / this.config.webhooks.recoverPerSecond;
    const start = Date.now();
    let queued = 0;
    let skipped = 0;
    let after: string | undefined;
    for (;;) {
      const limit = Math.min(RECOVER_BATCH, RECOVER_MAX_PER_CALL - queued);
      const batch = await this.db.transaction(async (m) => {
        const rows = await this.deliveries.finalRowsOf(
          m,
          organisationId,
          endpointId,
          statuses,
          { since, until, after },
          limit,
        );
        const events = await this.events.findIn(
          m,
          organisationId,
          rows.map((r) => r.event_id),
        );
        const bodies = new Map(events.map((e) => [e.id, { seq: e.seq, body: JSON.stringify(toEnvelope(e)) }]));
        const now = isoNow();
        const owed = rows.flatMap((r) => {
          const event = bodies.get(r.event_id);
          if (!event || event.seq !== r.event_seq) return [];
          return [{ id: r.id, body: event.body }];
        });
        const done = await this.deliveries.requeue(
          m,
          organisationId,
          owed.map((r, i) => ({ ...r, next_attempt_at: toIso(start + Math.floor((queued + i) * spacingMs)) })),
          now,
        );
        // Rows another recover or a resend made owed meanwhile are neither queued nor skipped here.
        return {
          read: rows.length,
          requeued: done.length,
          gone: rows.length - owed.length,
          last: rows[rows.length - 1]?.created_at,
        };
      });
      queued += batch.requeued;
      skipped += batch.gone;
      if (queued >= RECOVER_MAX_PER_CALL) return this.recovered(queued, skipped, true);
      if (batch.read < limit) break;
      after = batch.last;
      // Let the rest of the server run between batches (SQLite answers synchronously).
      await new Promise((resolve) => setImmediate(resolve));
    }
    return this.recovered(queued, skipped, false);
  }

  private recovered(
    queued: number,
    skipped: number,
    more: boolean,
  ): { queued: number; skipped: number; more: boolean } {
    if (queued) this.worker.announce();
    return { queued, skipped, more };
  }

  /** The failed and blocked deliveries a subscription has in the log, for the answer to turning it back on. */
  undelivered(organisationId: string, endpointId: string): Promise<Undelivered> {
    return this.deliveries.undeliveredOf(organisationId, endpointId);
  }
}

function assertSending(endpoint: WebhookEndpoint | undefined, id: string): void {
  if (!endpoint) throw new ConflictException(`Subscription ${id} was removed: its deliveries cannot be sent again`);
  if (endpoint.secret_unreadable) throw new ConflictException(SECRET_UNREADABLE_ISSUE);
  if (endpoint.state !== 'on')
    throw new ConflictException(
      `Subscription ${id} is ${endpoint.state}: turn it on before resending or recovering its deliveries`,
    );
}

/** An RFC 3339 date-time as a log time (rounded down to the microsecond), or a 400 naming the field. */
function logTime(field: string, value: string): string {
  const micros = parseLogTime(value);
  if (micros === null)
    throw new InvalidDeliveryQueryException(`${field} must be an RFC 3339 date-time, e.g. ${LOG_TIME_EXAMPLE}`);
  return formatLogTime(micros);
}

function encodeCursor(createdAt: string): string {
  return Buffer.from(createdAt, 'utf8').toString('base64url');
}

function decodeCursor(cursor: string): string {
  const time = /^[A-Za-z0-9_-]{1,64}$/.test(cursor) ? Buffer.from(cursor, 'base64url').toString('utf8') : '';
  const exact = historyCursor(time, 'before');
  if (exact === null || exact !== time)
    throw new InvalidDeliveryQueryException('cursor must be the next_cursor of a previous page');
  return exact;
}
