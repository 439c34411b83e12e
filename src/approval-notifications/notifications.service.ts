import { ConflictException, ForbiddenException, Injectable, NotFoundException } from '@nestjs/common';
import { listableUser, producesFor, seesWholeOrganisation, type Principal } from '../core/auth/principal';
import { EventLog } from '../core/event-log/event-log.service';
import type { NewEvent } from '../core/event-log/event.types';
import { newId } from '../core/http/ids';
import { pageOf, pageOffset, type Page } from '../core/http/pagination';
import { isoNow } from '../core/http/time';
import type {
  DeletedNotificationDto,
  ListNotificationsQueryDto,
  MarkedReadDto,
  NotificationDetailDto,
  NotificationSummaryDto,
  NotifyStatusChangeDto,
  SentNotificationDto,
} from './dto/notification.dto';
import { buildNotificationPayload, claimEventFor } from './notification-payload';
import { NotificationStore, type NotificationRecord } from './notification.store';

export class NotificationNotFoundException extends NotFoundException {
  constructor(id: string) {
    super(`Notification ${id} not found`);
  }
}

const NOTIFICATION_PREFIX = 'notif_';

/**
 * The id of the `status_changed` event a notification appends: `evt_` and the notification id's
 * own ULID. Event ids are unique within an organisation, so once the notification exists no
 * producer can publish another event under this id; that, and the notification row, are how the
 * live router tells the notification's event from a `status_changed` anyone with
 * `events:publish` can send (whose data they choose freely).
 */
export function statusChangedEventId(notificationId: string): string | undefined {
  if (!notificationId.startsWith(NOTIFICATION_PREFIX)) return undefined;
  return `evt_${notificationId.slice(NOTIFICATION_PREFIX.length)}`;
}

function toSummary(n: NotificationRecord): NotificationSummaryDto {
  return {
    notification_id: n.notification_id,
    claim_id: n.claim_id,
    recipient_user_id: n.recipient_user_id,
    new_status: n.new_status,
    comment: n.comment,
    read: n.read,
    sent_at: n.sent_at,
  };
}

/** The notification as GET /:id shows it, and as the recipient's sockets receive it (`notification`). */
export function toDetail(n: NotificationRecord): NotificationDetailDto {
  return { ...toSummary(n), payload: n.payload };
}

@Injectable()
export class NotificationsService {
  constructor(
    private readonly store: NotificationStore,
    private readonly log: EventLog,
  ) {}

  /**
   * notifyStatusChange: the notification (with its built payload) and its events commit in one
   * transaction. Everything else follows from the log: the recipient's sockets get the
   * `notification` message from NotificationSocketsRouter when the `status_changed` event
   * reaches their node, channels, WebSocket clients and webhooks get the events.
   */
  async notify(caller: Principal, dto: NotifyStatusChangeDto): Promise<SentNotificationDto> {
    // Its events are about the recipient, so the producer rule of POST /api/v1/events applies.
    if (!producesFor(caller, dto.recipient_user_id)) {
      throw new ForbiddenException('A user credential may only send notifications to its own user');
    }
    const now = isoNow();
    const notification: NotificationRecord = {
      notification_id: newId('notif'),
      organisation_id: caller.organisation_id,
      claim_id: dto.claim_id,
      recipient_user_id: dto.recipient_user_id,
      new_status: dto.new_status,
      comment: dto.comment ?? null,
      amount: dto.amount ?? null,
      currency: dto.currency ?? null,
      payload: buildNotificationPayload({
        status: dto.new_status,
        comment: dto.comment,
        amount: dto.amount,
        currency: dto.currency,
        claim_id: dto.claim_id,
      }),
      read: false,
      sent_at: now,
      updated_at: now,
    };
    const data = {
      notification_id: notification.notification_id,
      claim_id: dto.claim_id,
      new_status: dto.new_status,
      recipient_user_id: dto.recipient_user_id,
      ...(dto.comment !== undefined ? { comment: dto.comment } : {}),
      ...(dto.amount !== undefined ? { amount: dto.amount, currency: dto.currency } : {}),
    };
    const event = (type: string, id?: string): NewEvent => ({
      ...(id ? { id } : {}),
      type,
      version: '1',
      organisation_id: caller.organisation_id,
      user_id: dto.recipient_user_id,
      claim_id: dto.claim_id,
      data,
      occurred_at: now,
    });
    const mapped = claimEventFor(dto.new_status);
    await this.log.append(
      [event('status_changed', statusChangedEventId(notification.notification_id)), ...(mapped ? [event(mapped)] : [])],
      async (m, [statusChanged]) => {
        // Only a producer that guessed this ULID before it was drawn gets here; the row must not
        // stand beside an event that is not its own.
        if (!statusChanged.created) throw new ConflictException('Notification id collided with an event id; retry');
        await this.store.insertIn(m, notification);
      },
    );
    return {
      notification_id: notification.notification_id,
      claim_id: notification.claim_id,
      recipient_user_id: notification.recipient_user_id,
      new_status: notification.new_status,
      sent_at: notification.sent_at,
    };
  }

  async list(caller: Principal, query: ListNotificationsQueryDto): Promise<Page<NotificationSummaryDto>> {
    const recipient = listableUser(caller, query.recipient_user_id);
    if (recipient === null) return pageOf([], query, 0);
    const { rows, total } = await this.store.list(
      caller.organisation_id,
      { recipient_user_id: recipient, claim_id: query.claim_id, read: query.read },
      pageOffset(query),
      query.limit,
    );
    return pageOf(rows.map(toSummary), query, total);
  }

  async get(caller: Principal, id: string): Promise<NotificationDetailDto> {
    return toDetail(await this.visible(caller, id));
  }

  async markRead(caller: Principal, id: string, read: boolean): Promise<MarkedReadDto> {
    await this.visible(caller, id);
    const at = isoNow();
    await this.store.setRead(caller.organisation_id, id, read, at);
    return { notification_id: id, read, updated_at: at };
  }

  async delete(caller: Principal, id: string): Promise<DeletedNotificationDto> {
    await this.visible(caller, id);
    await this.store.delete(caller.organisation_id, id);
    return { deleted: true, notification_id: id };
  }

  private async visible(caller: Principal, id: string): Promise<NotificationRecord> {
    const n = await this.store.find(caller.organisation_id, id);
    if (!n || (!seesWholeOrganisation(caller) && n.recipient_user_id !== caller.user_id))
      throw new NotificationNotFoundException(id);
    return n;
  }
}
