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
 * What of its organisation's webhook delivery log a principal reads: an app, an `admin` or
 * another org-wide reader every subscription's deliveries, a user those of the subscriptions it
 * owns (`owner_user_id`); deliveries of workspace subscriptions only in the principal's own
 * workspaces, as the workspace subscription API itself scopes them (the operator key: all).
 * null: a user credential without a user, which owns nothing.
 */
export function deliveryScopeOf(principal: Principal): { owner_user_id?: string; workspace_ids?: string[] } | null {
  const workspaces = principal.operator ? {} : { workspace_ids: principal.workspace_ids };
  if (seesWholeOrganisation(principal) || hasScope(principal, 'admin')) return workspaces;
  return principal.user_id ? { ...workspaces, owner_user_id: principal.user_id } : null;
}

/** Acting on deliveries (resend) needs a write scope of either API that owns webhook subscriptions. */
export function managesWebhooks(principal: Principal): boolean {
  return hasScope(principal, 'subscriptions:write') || hasScope(principal, 'notifications:write');
}

/**
 * Who may send a subscription's deliveries to its receivers again (resend): the rule of the API
 * that owns it. A workspace subscription's: `subscriptions:write` and its owning user, an app or
 * `admin` (as for rotating its secret or recovering it); a claim webhook's: `notifications:write`
 * and an org-wide reader or its own user (as for recovering it).
 */
export function resendsFor(
  principal: Principal,
  subscription: { workspace_id: string | null; owner_user_id: string | null },
): boolean {
  const own = principal.kind === 'user' && !!principal.user_id && subscription.owner_user_id === principal.user_id;
  if (subscription.workspace_id !== null)
    return (
      hasScope(principal, 'subscriptions:write') && (principal.kind === 'app' || hasScope(principal, 'admin') || own)
    );
  return hasScope(principal, 'notifications:write') && (seesWholeOrganisation(principal) || own);
}
