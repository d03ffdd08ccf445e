import type { Principal } from "../core/permissions";

/**
 * How long an edge isolate trusts what the coordinator said about a token hash. It is the
 * revocation bound: a revoked token keeps working at other isolates for at most this long (the
 * isolate that served the revocation forgets at once). Tested in test/integration/edge-auth.test.ts.
 */
export const AUTH_CACHE_TTL_MS = 2000;
/** Entries kept per isolate; past it the cache starts again (a flood of made-up tokens cannot grow it). */
export const AUTH_CACHE_MAX_ENTRIES = 10_000;

interface Entry {
  principal: Promise<Principal | null>;
  fetchedAt: number;
}

/**
 * A per-isolate cache of token hash → principal (or "unknown", so a flood of bad tokens does not
 * reach the coordinator either). Only hashes are kept, never secrets. Concurrent misses for one
 * hash share one coordinator call.
 */
export class AuthCache {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly lookup: (tokenHash: string) => Promise<Principal | null>,
    private readonly clock: () => number,
    private readonly ttlMs = AUTH_CACHE_TTL_MS,
  ) {}

  principal(tokenHash: string): Promise<Principal | null> {
    const now = this.clock();
    const cached = this.entries.get(tokenHash);
    if (cached && now - cached.fetchedAt < this.ttlMs) {
      return cached.principal;
    }
    if (this.entries.size >= AUTH_CACHE_MAX_ENTRIES) {
      this.entries.clear();
    }
    const principal = this.lookup(tokenHash);
    this.entries.set(tokenHash, { principal, fetchedAt: now });
    principal.catch(() => this.entries.delete(tokenHash));
    return principal;
  }

  /** What this isolate trusts about `tokenHash` now without asking: a fresh known principal, else null. */
  async trusted(tokenHash: string): Promise<Principal | null> {
    const cached = this.entries.get(tokenHash);
    if (!cached || this.clock() - cached.fetchedAt >= this.ttlMs) {
      return null;
    }
    return cached.principal.catch(() => null);
  }

  /** Forgets everything (this isolate served a revocation). */
  clear(): void {
    this.entries.clear();
  }
}
