/** Room names of the default Socket.IO namespace. User ids are only unique within an organisation. */
export const rooms = {
  /** Every socket of an organisation. */
  organisation: (org: string) => `org:${org}`,
  /** Sockets that may see every event of the organisation (apps, `claims:read:org`). */
  organisationEvents: (org: string) => `org-events:${org}`,
  /** One user's sockets. */
  user: (org: string, user: string) => `user:${org}:${user}`,
};
