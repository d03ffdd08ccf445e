import { ApiError } from "./errors";
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

/** The tenant of every v1 token and task, and of tokens minted without one (API-v2 §8). */
export const DEFAULT_TENANT = "default";

/**
 * An authenticated caller. `tokenId` binds the nodes a token registers to it. `tenant` scopes what
 * it sees and acts on; null only for a global admin (the bootstrap ADMIN_TOKEN, or an admin token
 * minted without a tenant), which sees every tenant.
 */
export interface Principal {
  role: Role;
  tokenId: string;
  tenant: string | null;
}

/** How a global admin's null tenant travels in a header (never an identifier: those start with [a-z0-9]). */
export const GLOBAL_TENANT_HEADER = "*";

/** Whether `principal` may see an object of `tenant`: a global admin sees all, anyone else only their own. */
export function sees(principal: Principal, tenant: string): boolean {
  return principal.tenant === null || principal.tenant === tenant;
}

/** The tenant an object created by `principal` belongs to (a global admin creates in `default`). */
export function tenantOf(principal: Principal): string {
  return principal.tenant ?? DEFAULT_TENANT;
}

/**
 * The tenant of a token `principal` mints (an admin: tokens.create is admin-only). A tenant admin
 * mints only in its own tenant (403 naming another); a global admin names any tenant, and without
 * one mints a global admin, or a token of `default` for the other roles.
 */
export function mintedTenant(principal: Principal, role: Role, requested: string | undefined): string | null {
  if (principal.tenant !== null) {
    if (requested !== undefined && requested !== principal.tenant) {
      throw ApiError.of("forbidden", `an admin of tenant ${principal.tenant} mints only in that tenant`);
    }
    return principal.tenant;
  }
  return requested ?? (role === "admin" ? null : DEFAULT_TENANT);
}
