import { DurableObject } from "cloudflare:workers";
import { claimDecision, type KeyRecord } from "../src/core/admission";
import { migrate } from "./migrate";

const MIGRATIONS = [
  `
  CREATE TABLE keys (
    key TEXT PRIMARY KEY,
    request_hash TEXT NOT NULL,
    task_id TEXT NOT NULL,
    claimed_at INTEGER NOT NULL
  );
  `,
];

/**
 * A claim asked for: the key, the body's hash, and the id the task will have if it is new (null: only
 * look, the task cannot be stored now).
 */
export interface ClaimInput {
  key: string;
  requestHash: string;
  taskId: string | null;
}

export type ClaimResult = ReturnType<typeof claimDecision>;

/**
 * One token's idempotency keys (one object per token), so a key means one task wherever it was
 * routed. The record names the id the task was (or is about to be) stored under; the task itself
 * lives in its region's shard. Every method is one transaction over a few rows.
 */
export class IdempotencyKeys extends DurableObject<Env> {
  private readonly sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    ctx.blockConcurrencyWhile(async () => migrate(ctx.storage, MIGRATIONS));
  }

  private record(key: string): KeyRecord | null {
    const row = this.sql
      .exec<{ request_hash: string; task_id: string; claimed_at: number }>(
        "SELECT request_hash, task_id, claimed_at FROM keys WHERE key = ?",
        key,
      )
      .toArray()[0];
    return row ? { requestHash: row.request_hash, taskId: row.task_id, claimedAt: row.claimed_at } : null;
  }

  /** For each key: new (now recorded with its task id), a mismatch, or the task it already names. */
  async claim(claims: ClaimInput[], now: number): Promise<ClaimResult[]> {
    return claims.map((claim) => {
      const decision = claimDecision(this.record(claim.key), claim.requestHash);
      if (decision.kind === "new" && claim.taskId !== null) {
        this.sql.exec(
          "INSERT INTO keys (key, request_hash, task_id, claimed_at) VALUES (?, ?, ?, ?)",
          claim.key,
          claim.requestHash,
          claim.taskId,
          now,
        );
      }
      return decision;
    });
  }

  /**
   * Points a key at another id, if it still names `from`: the task is being offered to another
   * region (its id names the region), or a stale claim is taken over. False when it names another.
   */
  async rebind(moves: { key: string; from: string; to: string }[], now: number): Promise<boolean[]> {
    return moves.map(
      ({ key, from, to }) =>
        this.sql.exec(
          "UPDATE keys SET task_id = ?, claimed_at = ? WHERE key = ? AND task_id = ?",
          to,
          now,
          key,
          from,
        ).rowsWritten > 0,
    );
  }

  /** Forgets keys whose task was stored nowhere (no region could take it), if they still name it. */
  async release(claims: { key: string; taskId: string }[]): Promise<void> {
    for (const { key, taskId } of claims) {
      this.sql.exec("DELETE FROM keys WHERE key = ? AND task_id = ?", key, taskId);
    }
  }
}
