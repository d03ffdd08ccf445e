import type { Role } from "../../src/core/permissions";

export interface TokenRecord {
  id: string;
  role: Role;
  label: string | null;
  /** Its tenant; null only for a global admin. */
  tenant: string | null;
  createdAt: number;
}

/**
 * Minted bearer tokens, stored only as SHA-256 hashes (the secret is shown once). Kept in memory by
 * hash, so authorizing a call costs no query; a revocation deletes both at once.
 */
export class TokenStore {
  private readonly byHash = new Map<string, TokenRecord>();

  constructor(private readonly sql: SqlStorage) {
    for (const row of sql.exec<{
      id: string;
      hash: string;
      role: Role;
      label: string | null;
      tenant: string | null;
      created_at: number;
    }>("SELECT id, hash, role, label, tenant, created_at FROM tokens")) {
      this.byHash.set(row.hash, {
        id: row.id,
        role: row.role,
        label: row.label,
        tenant: row.tenant,
        createdAt: row.created_at,
      });
    }
  }

  /** Whether a token with this id exists (not revoked). */
  hasId(id: string): boolean {
    for (const token of this.byHash.values()) {
      if (token.id === id) {
        return true;
      }
    }
    return false;
  }

  lookup(hash: string): TokenRecord | undefined {
    return this.byHash.get(hash);
  }

  create(token: TokenRecord, hash: string): void {
    this.sql.exec(
      "INSERT INTO tokens (id, hash, role, label, tenant, created_at) VALUES (?, ?, ?, ?, ?, ?)",
      token.id,
      hash,
      token.role,
      token.label,
      token.tenant,
      token.createdAt,
    );
    this.byHash.set(hash, token);
  }

  /** Every token `tenant` holds (null: every token). */
  list(tenant: string | null): TokenRecord[] {
    return [...this.byHash.values()]
      .filter((token) => tenant === null || token.tenant === tenant)
      .sort((a, b) => a.createdAt - b.createdAt || a.id.localeCompare(b.id));
  }

  /** The token revoked, or null when there is no such token in `tenant` (null: in any tenant). */
  revoke(id: string, tenant: string | null): TokenRecord | null {
    for (const [hash, token] of this.byHash) {
      if (token.id === id && (tenant === null || token.tenant === tenant)) {
        this.sql.exec("DELETE FROM tokens WHERE id = ?", id);
        this.byHash.delete(hash);
        return token;
      }
    }
    return null;
  }
}
