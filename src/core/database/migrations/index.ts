import { ApiKeys1763900000000 } from './1763900000000-api-keys';
import { EventLog1763900100000 } from './1763900100000-event-log';
import { RealtimeChannels1763900200000 } from './1763900200000-realtime-channels';
import { Webhooks1763900300000 } from './1763900300000-webhooks';
import { ApprovalNotifications1763900400000 } from './1763900400000-approval-notifications';
import { WorkspaceSubscriptions1763900500000 } from './1763900500000-workspace-subscriptions';
import { ClaimSubscriptionVisibility1763900600000 } from './1763900600000-claim-subscription-visibility';
import { WebhookClaimFairness1763900700000 } from './1763900700000-webhook-claim-fairness';
import { WorkspaceSubscriptionOwners1763900800000 } from './1763900800000-workspace-subscription-owners';
import { ApiKeyExpiry1763900900000 } from './1763900900000-api-key-expiry';
import { DeliveryLogTimes1763901000000 } from './1763901000000-delivery-log-times';
import { ChannelAwaitingClient1763901100000 } from './1763901100000-channel-awaiting-client';
import { ExplicitEventSeqs1763901200000 } from './1763901200000-explicit-event-seqs';
import { DispatcherLease1763901300000 } from './1763901300000-dispatcher-lease';
import { EndpointSecretRotation1763901400000 } from './1763901400000-endpoint-secret-rotation';
import { DeliveryOperations1763901500000 } from './1763901500000-delivery-operations';
import { AppendFunction1763901600000 } from './1763901600000-append-function';

/** Every migration, oldest first. New ones are appended here. */
export const MIGRATIONS = [
  ApiKeys1763900000000,
  EventLog1763900100000,
  RealtimeChannels1763900200000,
  Webhooks1763900300000,
  ApprovalNotifications1763900400000,
  WorkspaceSubscriptions1763900500000,
  ClaimSubscriptionVisibility1763900600000,
  WebhookClaimFairness1763900700000,
  WorkspaceSubscriptionOwners1763900800000,
  ApiKeyExpiry1763900900000,
  DeliveryLogTimes1763901000000,
  ChannelAwaitingClient1763901100000,
  ExplicitEventSeqs1763901200000,
  DispatcherLease1763901300000,
  EndpointSecretRotation1763901400000,
  DeliveryOperations1763901500000,
  AppendFunction1763901600000,
];
