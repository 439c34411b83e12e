/**
 * Each id is URI-encoded before it is joined with ':', so no id can smuggle a separator in and
 * two different (organisation, user, …) tuples never name the same room.
 */
const part = encodeURIComponent;

/** Room names of the default Socket.IO namespace. User ids are only unique within an organisation. */
export const rooms = {
  /** Every socket of an organisation. */
  organisation: (org: string) => `org:${part(org)}`,
  /** Sockets that may see every event of the organisation (apps, `claims:read:org`). */
  organisationEvents: (org: string) => `org-events:${part(org)}`,
  /** One user's sockets. */
  user: (org: string, user: string) => `user:${part(org)}:${part(user)}`,
  /** Sockets of a workspace, or of a named room inside it (joined with `auth: { rooms: [...] }`). */
  workspace: (org: string, workspace: string, room?: string) =>
    room ? `ws:${part(org)}:${part(workspace)}:room:${part(room)}` : `ws:${part(org)}:${part(workspace)}`,
};

/** Room names a client may ask to join within its workspaces. */
export const NAMED_ROOM = /^[A-Za-z0-9._:-]{1,64}$/;
