import type { ShardPush, Watcher } from "../messages";

/** How long the alarm waits before it tells a shard again that did not take a revocation. */
export const REVOCATION_RETRY_MS = 1000;

type RevocationRow = { token_id: string; deployment: string; region: string };

/**
 * Revoked tokens the region shards must hear of (their channels close, their nodes die). Every
 * shard is told when the revocation commits; a row stays until a shard has taken it at or after
 * `settle_after`, the moment every edge has forgotten the token (AUTH_CACHE_TTL_MS): a channel
 * opened or a node registered through an edge that still trusted the token is ended by that second
 * push, and a shard that could not be reached is told again by the alarm until it answers.
 */
export class RevocationOutbox {
  constructor(private readonly sql: SqlStorage) {}

  /** Records a revocation for every region's shard (call it in the write that revokes). */
  add(tokenId: string, deployment: string, regions: string[], settleAfter: number): void {
    for (const region of regions) {
      this.sql.exec(
        `INSERT INTO revocations (token_id, deployment, region, settle_after) VALUES (?, ?, ?, ?)
         ON CONFLICT(token_id, region) DO UPDATE SET settle_after = excluded.settle_after`,
        tokenId,
        deployment,
        region,
        settleAfter,
      );
    }
  }

  /**
   * Pushes every revocation due by `now`, each shard on its own; a row is dropped once its shard took
   * it. Returns how many are left to retry (their shard did not answer).
   */
  async deliver(now: number, push: (shard: Watcher, message: ShardPush) => Promise<void>): Promise<number> {
    const rows = this.sql
      .exec<RevocationRow>(
        "SELECT token_id, deployment, region FROM revocations WHERE settle_after <= ?",
        now,
      )
      .toArray();
    const outcomes = await Promise.allSettled(
      rows.map(async (row) => {
        await push(
          { deployment: row.deployment, region: row.region },
          { kind: "token_revoked", tokenId: row.token_id },
        );
        this.sql.exec("DELETE FROM revocations WHERE token_id = ? AND region = ?", row.token_id, row.region);
      }),
    );
    const failed = outcomes.filter((o) => o.status === "rejected");
    for (const outcome of failed) {
      console.warn("revocation push failed; the alarm retries", outcome.reason);
    }
    return failed.length;
  }

  /** When the next revocation not yet due at `now` is due, or null. */
  nextDueAfter(now: number): number | null {
    return this.sql
      .exec<{ t: number | null }>(
        "SELECT min(settle_after) AS t FROM revocations WHERE settle_after > ?",
        now,
      )
      .one().t;
  }
}
