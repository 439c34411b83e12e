/** Every scope Herald knows (docs/api-contracts.md "Credentials"). */
export const SCOPES = [
  'events:publish',
  'events:read',
  'claims:read:org',
  'users.read',
  'notifications:write',
  'subscriptions:write',
  'admin',
] as const;
export type Scope = (typeof SCOPES)[number];

export type PrincipalKind = 'user' | 'app';

/** Who is calling, whether the credential was an API key or a JWT. */
export interface Principal {
  kind: PrincipalKind;
  user_id?: string;
  organisation_id: string;
  workspace_ids: string[];
  scopes: string[];
  /** The install's operator key: may manage keys of every organisation. */
  operator: boolean;
  credential: 'api_key' | 'jwt';
  key_id?: string;
}

/** `admin` may do everything within its organisation; the operator key everything. */
export function hasScope(principal: Principal, scope: Scope): boolean {
  return principal.operator || principal.scopes.includes('admin') || principal.scopes.includes(scope);
}

/** App principals, and users holding `claims:read:org`, see the whole organisation. */
export function seesWholeOrganisation(principal: Principal): boolean {
  return principal.kind === 'app' || hasScope(principal, 'claims:read:org');
}

/**
 * The user a tenant list is narrowed to. Org-wide readers may ask for any user (or none); a
 * plain user sees only itself, and asking for someone else yields `null`: nothing to show.
 */
export function listableUser(principal: Principal, requested: string | undefined): string | undefined | null {
  if (seesWholeOrganisation(principal)) return requested;
  if (requested !== undefined && requested !== principal.user_id) return null;
  return principal.user_id;
}

/**
 * The log's read rule for one event: a reader that sees the whole organisation reads every event
 * of it; a plain user only the events about itself. Applied to requests and, with what was
 * recorded at subscribe time, to webhook subscribers.
 */
export function readsEvent(
  reader: { orgWide: boolean; user_id?: string | null },
  event: { user_id: string | null },
): boolean {
  return reader.orgWide || (event.user_id !== null && event.user_id === reader.user_id);
}

/** What a principal reads, in the form `readsEvent` takes: for matching events off the request path. */
export function readerOf(principal: Principal): { orgWide: boolean; user_id?: string | null } {
  return { orgWide: seesWholeOrganisation(principal), user_id: principal.user_id ?? null };
}

/**
 * The transport rule: receiving events on any channel (Socket.IO rooms, raw WebSockets, realtime
 * channels, workspace subscriptions) needs `events:read`, as reading them over REST does; which
 * events is then decided by `readsEvent`.
 */
export function receivesEvents(principal: Principal): boolean {
  return hasScope(principal, 'events:read');
}

/**
 * The producer rule: an app credential (or the operator) may publish about anyone in its
 * organisation; a user credential only about itself. Used by every path that appends events.
 */
export function producesFor(principal: Principal, userId: string | null | undefined): boolean {
  return principal.kind !== 'user' || !userId || userId === principal.user_id;
}

/**
 * Whose webhook deliveries a principal reads and resends in the delivery log: an app, an `admin`
 * or another org-wide reader those of the whole organisation (undefined); a user those of the
 * subscriptions it owns (its user id). null: a user credential without a user, which owns nothing.
 */
export function deliveryOwnerFilter(principal: Principal): string | undefined | null {
  if (seesWholeOrganisation(principal) || hasScope(principal, 'admin')) return undefined;
  return principal.user_id ?? null;
}

/** Acting on deliveries (resend) needs a write scope of either family that owns webhook subscriptions. */
export function managesWebhooks(principal: Principal): boolean {
  return hasScope(principal, 'subscriptions:write') || hasScope(principal, 'notifications:write');
}
