import {
  ForbiddenException,
  Injectable,
  NotFoundException,
  OnApplicationBootstrap,
  OnApplicationShutdown,
} from '@nestjs/common';
import { listableUser, producesFor, seesWholeOrganisation, type Principal } from '../core/auth/principal';
import { EventBus, type Unsubscribe } from '../core/bus/event-bus';
import { EventLog } from '../core/event-log/event-log.service';
import type { NewEvent } from '../core/event-log/event.types';
import { RealtimeService } from '../core/gateway/realtime.service';
import { rooms } from '../core/gateway/rooms';
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

const NOTIFICATION_TOPIC = 'approval.notification';

interface NotificationMessage {
  organisation_id: string;
  recipient_user_id: string;
  notification: NotificationDetailDto;
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

function toDetail(n: NotificationRecord): NotificationDetailDto {
  return { ...toSummary(n), payload: n.payload };
}

@Injectable()
export class NotificationsService implements OnApplicationBootstrap, OnApplicationShutdown {
  private unsubscribe?: Unsubscribe;

  constructor(
    private readonly store: NotificationStore,
    private readonly log: EventLog,
    private readonly bus: EventBus,
    private readonly realtime: RealtimeService,
  ) {}

  onApplicationBootstrap(): void {
    // Every node hands the message to the recipient's sockets it holds.
    this.unsubscribe = this.bus.on(NOTIFICATION_TOPIC, (raw) => {
      const m = raw as NotificationMessage;
      this.realtime.emitToRooms([rooms.user(m.organisation_id, m.recipient_user_id)], 'notification', {
        ...m.notification,
      });
    });
  }

  onApplicationShutdown(): void {
    this.unsubscribe?.();
  }

  /**
   * notifyStatusChange: the notification (with its built payload) and its events commit in one
   * transaction; the recipient's sockets hear of it at once, everything else through the log.
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
    const event = (type: string): NewEvent => ({
      type,
      version: '1',
      organisation_id: caller.organisation_id,
      user_id: dto.recipient_user_id,
      claim_id: dto.claim_id,
      data,
      occurred_at: now,
    });
    const mapped = claimEventFor(dto.new_status);
    await this.log.append([event('status_changed'), ...(mapped ? [event(mapped)] : [])], (m) =>
      this.store.insertIn(m, notification),
    );
    this.bus.publish(NOTIFICATION_TOPIC, {
      organisation_id: notification.organisation_id,
      recipient_user_id: notification.recipient_user_id,
      notification: toDetail(notification),
    } satisfies NotificationMessage);
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
