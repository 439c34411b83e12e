import type { Principal } from '../core/auth/principal';
import { actsForOwner, ownerIssue, ownerOf, ownerReads, UNKNOWN_OWNER } from './subscription-owner';

const principal = (over: Partial<Principal>): Principal => ({
  kind: 'user',
  user_id: 'usr_a',
  organisation_id: 'org_1',
  workspace_ids: ['ws_1'],
  scopes: ['events:read', 'subscriptions:write'],
  operator: false,
  credential: 'api_key',
  key_id: 'key_a',
  ...over,
});
const about = (user_id: string | null) => ({ user_id });

describe('subscription owner', () => {
  it('records a plain user as narrowed to itself, with its key', () => {
    expect(ownerOf(principal({}))).toEqual({
      kind: 'user',
      user_id: 'usr_a',
      key_id: 'key_a',
      org_wide: false,
      can_read: true,
    });
  });

  it('records apps and claims:read:org holders as organisation-wide, a JWT without a key, and a missing events:read', () => {
    expect(ownerOf(principal({ kind: 'app', user_id: undefined, key_id: 'key_app' }))).toMatchObject({
      kind: 'app',
      user_id: null,
      org_wide: true,
      can_read: true,
    });
    expect(ownerOf(principal({ scopes: ['events:read', 'claims:read:org'] }))).toMatchObject({ org_wide: true });
    expect(ownerOf(principal({ credential: 'jwt', key_id: undefined }))).toMatchObject({ key_id: null });
    expect(ownerOf(principal({ scopes: ['subscriptions:write'] }))).toMatchObject({ can_read: false });
    expect(ownerOf(principal({ scopes: ['admin'] }))).toMatchObject({ org_wide: true, can_read: true });
  });

  it('reads as the log does: own events for a plain user, all for org-wide, nothing without events:read or an owner', () => {
    const user = ownerOf(principal({}));
    expect(ownerReads(user, about('usr_a'))).toBe(true);
    expect(ownerReads(user, about('usr_b'))).toBe(false);
    expect(ownerReads(user, about(null))).toBe(false);
    const app = ownerOf(principal({ kind: 'app', user_id: undefined }));
    expect(ownerReads(app, about('usr_b'))).toBe(true);
    expect(ownerReads(app, about(null))).toBe(true);
    expect(ownerReads({ ...app, can_read: false }, about('usr_b'))).toBe(false);
    expect(ownerReads({ ...user, can_read: false }, about('usr_a'))).toBe(false);
    expect(ownerReads(UNKNOWN_OWNER, about(null))).toBe(false);
    expect(ownerReads({ ...UNKNOWN_OWNER, org_wide: true, can_read: true }, about('usr_a'))).toBe(false);
  });

  it('lets the owning user, apps and admins act for a subscription, no other user', () => {
    const owner = ownerOf(principal({}));
    expect(actsForOwner(principal({ key_id: 'another_key_of_a' }), owner)).toBe(true);
    expect(actsForOwner(principal({ user_id: 'usr_b' }), owner)).toBe(false);
    expect(actsForOwner(principal({ kind: 'app', user_id: undefined }), owner)).toBe(true);
    expect(actsForOwner(principal({ user_id: 'usr_b', scopes: ['admin'] }), owner)).toBe(true);
    expect(actsForOwner(principal({ user_id: 'usr_b' }), UNKNOWN_OWNER)).toBe(false);
    expect(actsForOwner(principal({ user_id: 'usr_a' }), { ...owner, kind: 'app', user_id: null })).toBe(false);
  });

  it('names why an owner delivers nothing', () => {
    expect(ownerIssue(ownerOf(principal({})), false)).toBeUndefined();
    expect(ownerIssue(UNKNOWN_OWNER, false)).toContain('saves it again');
    expect(ownerIssue(ownerOf(principal({})), true)).toContain('revoked');
    expect(ownerIssue(ownerOf(principal({ scopes: ['subscriptions:write'] })), false)).toContain('events:read');
  });
});
