import { Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import { readsEvent } from '../core/auth/principal';
import { EventRouter, type DurableRouter, type LiveRouter } from '../core/bus/router-registry';
import type { Tx } from '../core/database/database.service';
import type { StoredEvent } from '../core/event-log/event.types';
import { RealtimeService } from '../core/gateway/realtime.service';
import { rooms } from '../core/gateway/rooms';
import { WebhooksService } from '../core/webhooks/webhooks.service';
import { ClaimSubscriptionStore, type ClaimSubscriber } from './claim-subscription.store';
import { NotificationStore, type NotificationRecord } from './notification.store';
import { statusChangedEventId, toDetail } from './notifications.service';

/**
 * Claim webhooks: each event of a claim is owed to that claim's active subscriptions whose
 * subscriber may read it (the read rule as recorded at subscribe time).
 */
@EventRouter('durable')
@Injectable()
export class ClaimWebhooksRouter implements DurableRouter {
  readonly name = 'claim-webhook-subscriptions';

  constructor(
    private readonly store: ClaimSubscriptionStore,
    private readonly webhooks: WebhooksService,
  ) {}

  async route(events: StoredEvent[], tx: Tx): Promise<void> {
    const withClaims = events.filter((e): e is typeof e & { claim_id: string } => Boolean(e.claim_id));
    if (!withClaims.length) return;
    const keys = new Set(withClaims.map((e) => `${e.organisation_id}\u0000${e.claim_id}`));
    const rows = await this.store.activeForClaimsIn(
      tx,
      [...new Set(withClaims.map((e) => e.organisation_id))],
      [...new Set(withClaims.map((e) => e.claim_id))],
    );
    const byClaim = new Map<string, ClaimSubscriber[]>();
    for (const row of rows) {
      const key = `${row.organisation_id}\u0000${row.claim_id}`;
      if (keys.has(key)) byClaim.set(key, [...(byClaim.get(key) ?? []), row]);
    }
    const requests = withClaims.flatMap((event) =>
      (byClaim.get(`${event.organisation_id}\u0000${event.claim_id}`) ?? [])
        .filter((row) => readsEvent({ orgWide: row.org_wide, user_id: row.user_id }, event))
        .map((row) => ({ endpoint_id: row.subscription_id, event })),
    );
    if (requests.length) await this.webhooks.enqueue(tx, requests);
  }
}

/** Most notifications one read looks up. */
const LOOKUP_BATCH = 500;
/**
 * Notifications waiting for their read on this node. Past this (the database is stalled) the
 * oldest are dropped: sockets are best effort, and the notification itself is stored.
 */
const MAX_PENDING = 10_000;

interface PendingNotification {
  organisation_id: string;
  notification_id: string;
  recipient_user_id: string;
}

/**
 * A `status_changed` event that a notification appended: its id is the one only that
 * notification's append can take (statusChangedEventId). Anyone with `events:publish` may send a
 * `status_changed` with any data, so the data alone proves nothing.
 */
function notificationOf(event: StoredEvent): PendingNotification | undefined {
  if (event.type !== 'status_changed' || !event.user_id) return undefined;
  const id = event.data.notification_id;
  if (typeof id !== 'string' || statusChangedEventId(id) !== event.id) return undefined;
  return { organisation_id: event.organisation_id, notification_id: id, recipient_user_id: event.user_id };
}

/**
 * The recipient's sockets on this node get a `notification` message (the notification as
 * GET /:id shows it) when the `status_changed` event of a notification reaches the node. It
 * rides the live path like every event, so a node that missed it on the bus still sends it when
 * it catches up from the log.
 *
 * The message is read from the notification row, not built from the event: a producer can also
 * publish under a fresh `evt_` id whose suffix names no notification, and only the row tells the
 * two apart. The reads are bounded: events that arrive together share one query per
 * organisation, one read runs at a time per node, and only events passing the id check read.
 */
@EventRouter('live')
@Injectable()
export class NotificationSocketsRouter implements LiveRouter, OnApplicationShutdown {
  readonly name = 'approval-notification-sockets';
  private readonly logger = new Logger('NotificationSockets');
  private pending: PendingNotification[] = [];
  private draining = false;
  private dropping = false;
  private closed = false;

  constructor(
    private readonly store: NotificationStore,
    private readonly realtime: RealtimeService,
  ) {}

  deliver(event: StoredEvent): void {
    const notification = notificationOf(event);
    if (!notification || this.closed) return;
    if (this.pending.length >= MAX_PENDING) {
      this.pending.shift();
      if (!this.dropping)
        this.logger.warn({ pending: MAX_PENDING }, 'notification look-ups are backed up; the oldest are not sent live');
      this.dropping = true;
    }
    this.pending.push(notification);
    if (this.draining) return;
    this.draining = true;
    // The events of one bus message are fanned out in one turn: wait for the rest to share the read.
    setImmediate(() => void this.drain());
  }

  private async drain(): Promise<void> {
    try {
      while (this.pending.length && !this.closed) {
        const batch = this.pending.splice(0, LOOKUP_BATCH);
        try {
          await this.send(batch);
          this.dropping = false;
        } catch (err) {
          this.logger.warn({ err, count: batch.length }, 'could not read notifications; they were not sent live');
        }
      }
    } finally {
      this.draining = false;
    }
  }

  private async send(batch: PendingNotification[]): Promise<void> {
    const idsByOrg = new Map<string, string[]>();
    for (const n of batch)
      idsByOrg.set(n.organisation_id, [...(idsByOrg.get(n.organisation_id) ?? []), n.notification_id]);
    const found = new Map<string, NotificationRecord>();
    for (const [org, ids] of idsByOrg) {
      for (const row of await this.store.findMany(org, [...new Set(ids)]))
        found.set(`${row.organisation_id}\u0000${row.notification_id}`, row);
    }
    for (const n of batch) {
      const row = found.get(`${n.organisation_id}\u0000${n.notification_id}`);
      // Deleted meanwhile: nothing to announce.
      if (!row || row.recipient_user_id !== n.recipient_user_id) continue;
      this.realtime.emitToRooms([rooms.user(row.organisation_id, row.recipient_user_id)], 'notification', {
        ...toDetail(row),
      });
    }
  }

  onApplicationShutdown(): void {
    this.closed = true;
    this.pending = [];
  }
}
