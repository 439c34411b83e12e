/** Room names of the default Socket.IO namespace. User ids are only unique within an organisation. */
export const rooms = {
  /** Every socket of an organisation. */
  organisation: (org: string) => `org:${org}`,
  /** Sockets that may see every event of the organisation (apps, `claims:read:org`). */
  organisationEvents: (org: string) => `org-events:${org}`,
  /** One user's sockets. */
  user: (org: string, user: string) => `user:${org}:${user}`,
  /** Sockets of a workspace, or of a named room inside it (joined with `auth: { rooms: [...] }`). */
  workspace: (org: string, workspace: string, room?: string) => (room ? `ws:${org}:${workspace}:room:${room}` : `ws:${org}:${workspace}`),
};

/** Room names a client may ask to join within its workspaces. */
export const NAMED_ROOM = /^[A-Za-z0-9._:-]{1,64}$/;
