import { Injectable } from '@nestjs/common';
import { EventRouter, type DurableRouter, type LiveRouter } from '../core/bus/router-registry';
import type { Tx } from '../core/database/database.service';
import type { StoredEvent } from '../core/event-log/event.types';
import { SubscriptionsService } from './subscriptions.service';

/** Webhook deliveries owed to workspace subscriptions whose rules match and whose owner may read the event. */
@EventRouter('durable')
@Injectable()
export class WorkspaceSubscriptionWebhooksRouter implements DurableRouter {
  readonly name = 'workspace-subscription-webhooks';

  constructor(private readonly subscriptions: SubscriptionsService) {}

  route(events: StoredEvent[], tx: Tx): Promise<void> {
    return this.subscriptions.routeWebhooks(events, tx);
  }
}

/** Workspace rooms of subscriptions with a socket action, from the in-memory cache of those subscriptions. */
@EventRouter('live')
@Injectable()
export class WorkspaceSubscriptionSocketsRouter implements LiveRouter {
  readonly name = 'workspace-subscription-sockets';

  constructor(private readonly subscriptions: SubscriptionsService) {}

  rooms(event: StoredEvent): string[] {
    return this.subscriptions.socketRooms(event);
  }
}
