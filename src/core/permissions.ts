/** The four roles of the contract. */
/** The token id of the bootstrap ADMIN_TOKEN (minted ids look like `tok-…`). */
export const ADMIN_TOKEN_ID = "admin";

export const ROLES = ["admin", "client", "node", "reader"] as const;
export type Role = (typeof ROLES)[number];

/**
 * Every operation the API offers, with the roles that may do it (admin may do everything).
 * One table, read by the coordinator when it authorizes a call and by the auth-matrix test.
 */
export const PERMISSIONS = {
  "tokens.create": [],
  "tokens.list": ["reader"],
  "tokens.revoke": [],
  "regions.put": [],
  "regions.delete": [],
  "regions.read": ["client", "reader"],
  "endpoints.put": [],
  "endpoints.delete": [],
  "endpoints.read": ["reader"],
  "nodes.register": ["node"],
  "nodes.act": ["node"],
  "nodes.read": ["reader"],
  "tasks.submit": ["client"],
  "tasks.read": ["client", "reader"],
  "tasks.cancel": ["client"],
  "tasks.retry": ["client"],
  "tasks.erase": [],
  "tasks.execute": ["node"],
  "elections.act": ["node"],
  "elections.read": ["node", "reader"],
  "owners.read": ["node", "reader"],
  "status.read": ["reader"],
  "events.read": ["reader"],
  "schedules.write": ["client"],
  "schedules.read": ["client", "reader"],
} as const satisfies Record<string, readonly Role[]>;

export type Operation = keyof typeof PERMISSIONS;

/** Whether `role` may perform `operation`. */
export function can(role: Role, operation: Operation): boolean {
  return role === "admin" || (PERMISSIONS[operation] as readonly Role[]).includes(role);
}

/**
 * Who is calling, as the Worker saw it: the bootstrap admin secret (checked at the edge against
 * `ADMIN_TOKEN`), or the SHA-256 hash of a minted token (looked up by the coordinator).
 */
export type Credential = { admin: true } | { tokenHash: string };

/** An authenticated caller. `tokenId` binds the nodes a token registers to it. */
export interface Principal {
  role: Role;
  tokenId: string;
}
