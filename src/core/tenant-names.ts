/**
 * Names that are per tenant (elections) stored in one namespace: the key of `name` in `tenant`.
 * `default`'s names are their own keys, so everything stored before tenants keeps its key; another
 * tenant's are prefixed `tenant/`, which no name may contain (`^[a-z0-9][a-z0-9._:-]*$`).
 */
import { DEFAULT_TENANT } from "./permissions";

const SEPARATOR = "/";

/** The stored key of `name` in `tenant`. */
export function scopedName(tenant: string, name: string): string {
  return tenant === DEFAULT_TENANT ? name : `${tenant}${SEPARATOR}${name}`;
}

/** The tenant and the name a stored key holds. */
export function splitScoped(key: string): { tenant: string; name: string } {
  const at = key.indexOf(SEPARATOR);
  return at < 0
    ? { tenant: DEFAULT_TENANT, name: key }
    : { tenant: key.slice(0, at), name: key.slice(at + SEPARATOR.length) };
}

/**
 * How `viewer` is shown a stored key: its own tenant's by name; a global viewer (null) sees every
 * key as stored (`tenant/name`, or a bare name for `default`).
 */
export function shownName(viewer: string | null, key: string): string {
  return viewer === null ? key : splitScoped(key).name;
}

/**
 * The SQL condition (on column `column`) and its arguments that keep `tenant`'s keys only (null:
 * every key). Ranges, not LIKE, so an index on the column serves them: `tenant/` up to `tenant0`
 * ('0' follows '/' in ASCII).
 */
export function tenantKeyRange(column: string, tenant: string | null): { clause: string; args: string[] } {
  if (tenant === null) {
    return { clause: "1 = 1", args: [] };
  }
  if (tenant === DEFAULT_TENANT) {
    return { clause: `instr(${column}, '${SEPARATOR}') = 0`, args: [] };
  }
  return { clause: `${column} >= ? AND ${column} < ?`, args: [`${tenant}${SEPARATOR}`, `${tenant}0`] };
}
