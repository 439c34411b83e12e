import {
  hasScope,
  readerOf,
  readsEvent,
  receivesEvents,
  type Principal,
  type PrincipalKind,
} from '../core/auth/principal';
import type { StoredEvent } from '../core/event-log/event.types';

/**
 * Who saved a subscription, as far as reading events goes: a subscription is another way of
 * reading the log, so it delivers (webhook and socket alike) only what its owner may read over
 * REST. Recorded from the credential on create and on every replace, so a replace by a credential
 * with other rights re-decides what the subscription sees.
 */
export interface SubscriptionOwner {
  /** null: saved before owners were recorded (migration 1763900800000); such a subscription reads nothing. */
  kind: PrincipalKind | null;
  user_id: string | null;
  /** The API key that saved it (null for a JWT): once revoked, the subscription delivers nothing. */
  key_id: string | null;
  /** An app, or a user holding `claims:read:org`: reads every event of the organisation. */
  org_wide: boolean;
  /** Held `events:read` (the transport rule): without it nothing is delivered. */
  can_read: boolean;
  /** When `key_id` expires, where the live cache loaded it (an expiry sends no message to hear). */
  key_expires_at?: string | null;
}

/** An owner nobody recorded: what rows saved before the owner columns existed read as. */
export const UNKNOWN_OWNER: SubscriptionOwner = {
  kind: null,
  user_id: null,
  key_id: null,
  org_wide: false,
  can_read: false,
};

export function ownerOf(principal: Principal): SubscriptionOwner {
  const reader = readerOf(principal);
  return {
    kind: principal.kind,
    user_id: reader.user_id ?? null,
    key_id: principal.credential === 'api_key' ? (principal.key_id ?? null) : null,
    org_wide: reader.orgWide,
    can_read: receivesEvents(principal),
  };
}

/** The read rule applied with what was recorded at save time (revocation is checked where the owner is loaded). */
export function ownerReads(owner: SubscriptionOwner, event: Pick<StoredEvent, 'user_id'>, now = Date.now()): boolean {
  if (owner.key_expires_at && Date.parse(owner.key_expires_at) <= now) return false;
  return (
    owner.kind !== null && owner.can_read && readsEvent({ orgWide: owner.org_wide, user_id: owner.user_id }, event)
  );
}

/**
 * Who may act for a saved subscription where acting reaches its receivers (a test `send`): the
 * user that owns it, or an app or `admin` credential of its organisation.
 */
export function actsForOwner(caller: Principal, owner: SubscriptionOwner): boolean {
  if (caller.kind === 'app' || hasScope(caller, 'admin')) return true;
  return caller.kind === 'user' && owner.kind === 'user' && Boolean(caller.user_id) && owner.user_id === caller.user_id;
}

/** Why a subscription that is on delivers nothing because of its owner, for the view's `issue`; undefined when it delivers. */
export function ownerIssue(owner: SubscriptionOwner, ownerKeyRevoked: boolean): string | undefined {
  if (owner.kind === null) {
    return 'Saved before Herald recorded who owns a subscription: it delivers nothing until a credential saves it again (POST /api/v1/subscriptions/:id)';
  }
  if (ownerKeyRevoked)
    return 'The API key that saved this subscription was revoked or has expired: it delivers nothing until another credential saves it again';
  if (!owner.can_read)
    return 'The credential that saved this subscription lacks events:read: it delivers nothing until a credential with events:read saves it again';
  return undefined;
}
