import { DurableObject } from "cloudflare:workers";
import { claimDecision, type KeyRecord } from "../src/core/admission";
import { isPastRetention, PRUNE_SLICE_ROWS, pruneCutoff } from "../src/core/retention";
import { objectConfig } from "./call-gate";
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
  // v2: retention. Keys older than TASK_RETENTION_MS are pruned, oldest first.
  `
  CREATE INDEX keys_claimed ON keys(claimed_at);
  `,
];

/** A slice of the oldest keys past their retention (one statement, bounded). */
const PRUNE_KEYS = `DELETE FROM keys WHERE key IN (
  SELECT key FROM keys WHERE claimed_at <= ? ORDER BY claimed_at LIMIT ?)`;

/**
 * A claim asked for: the key, the body's hash, and the id the task will have if it is new (null: only
 * look, the task cannot be stored now).
 */
/** Claims in one call above this many are read and written in one statement each (`claimMany`). */
const BATCH_CLAIM_FROM = 16;

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
  /** TASK_RETENTION_MS: a key is honoured this long after it was claimed (at least 24 h). */
  private retentionMs: number;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.retentionMs = objectConfig(env).taskRetentionMs;
    ctx.blockConcurrencyWhile(async () => migrate(ctx.storage, MIGRATIONS));
  }

  /**
   * The object as it would start with another TASK_RETENTION_MS, its keys kept: the simulation gives
   * it each run's, as it gives the shards theirs (test/lib/sim-sut.ts). Called inside the object only.
   */
  async restartWith(settings: { retentionMs: number }): Promise<void> {
    this.retentionMs = settings.retentionMs;
  }

  /**
   * Deletes one slice of keys past their retention. Run on every claim: a token that submits keeps
   * its key table bounded by what it claimed within the retention (plus one slice a call).
   */
  private prune(now: number): number {
    return this.sql.exec(PRUNE_KEYS, pruneCutoff(now, this.retentionMs), PRUNE_SLICE_ROWS).rowsWritten;
  }

  /**
   * The key's record while it is honoured. A key past its retention reads as absent even before a
   * prune slice reaches it: its task may be pruned already, and the key must not point at nothing.
   * (A key is claimed before its task finishes, so it always expires no later than the task.)
   */
  private record(key: string, now: number): KeyRecord | null {
    const row = this.sql
      .exec<{ request_hash: string; task_id: string; claimed_at: number }>(
        "SELECT request_hash, task_id, claimed_at FROM keys WHERE key = ?",
        key,
      )
      .toArray()[0];
    if (!row || isPastRetention(row.claimed_at, now, this.retentionMs)) {
      return null;
    }
    return { requestHash: row.request_hash, taskId: row.task_id, claimedAt: row.claimed_at };
  }

  /** For each key: new (now recorded with its task id), a mismatch, or the task it already names. */
  async claim(claims: ClaimInput[], now: number): Promise<ClaimResult[]> {
    this.prune(now);
    if (claims.length > BATCH_CLAIM_FROM) {
      return this.claimMany(claims, now);
    }
    return claims.map((claim) => {
      const decision = claimDecision(this.record(claim.key, now), claim.requestHash);
      if (decision.kind === "new" && claim.taskId !== null) {
        // REPLACE: an expired record a prune slice has not reached yet gives way to the new claim.
        this.sql.exec(
          "INSERT OR REPLACE INTO keys (key, request_hash, task_id, claimed_at) VALUES (?, ?, ?, ?)",
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
   * `claim` for a large batch (a schedule storm: 1,000 runs at once) in two statements instead of
   * two per key: each statement costs the object about 20 µs whatever it does (docs/BENCHMARKS.md).
   * Same decisions, in order: a key repeated within the batch sees the record its first claim made.
   */
  private claimMany(claims: ClaimInput[], now: number): ClaimResult[] {
    const records = new Map<string, KeyRecord>();
    for (const row of this.sql.exec<{
      key: string;
      request_hash: string;
      task_id: string;
      claimed_at: number;
    }>(
      "SELECT key, request_hash, task_id, claimed_at FROM keys WHERE key IN (SELECT value FROM json_each(?))",
      JSON.stringify(claims.map((c) => c.key)),
    )) {
      if (!isPastRetention(row.claimed_at, now, this.retentionMs)) {
        records.set(row.key, {
          requestHash: row.request_hash,
          taskId: row.task_id,
          claimedAt: row.claimed_at,
        });
      }
    }
    const inserts: [string, string, string, number][] = [];
    const decisions = claims.map((claim) => {
      const decision = claimDecision(records.get(claim.key) ?? null, claim.requestHash);
      if (decision.kind === "new" && claim.taskId !== null) {
        inserts.push([claim.key, claim.requestHash, claim.taskId, now]);
        records.set(claim.key, { requestHash: claim.requestHash, taskId: claim.taskId, claimedAt: now });
      }
      return decision;
    });
    if (inserts.length > 0) {
      // REPLACE: an expired record a prune slice has not reached yet gives way to the new claim.
      this.sql.exec(
        `INSERT OR REPLACE INTO keys (key, request_hash, task_id, claimed_at)
           SELECT value->>0, value->>1, value->>2, value->>3 FROM json_each(?)`,
        JSON.stringify(inserts),
      );
    }
    return decisions;
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

  /** How many keys are stored (for tests and the retention checks). */
  async size(): Promise<number> {
    return this.sql.exec<{ n: number }>("SELECT count(*) AS n FROM keys").one().n;
  }

  /**
   * Forgets keys whose task was stored nowhere (no region could take it), or was erased on demand,
   * if they still name it.
   */
  async release(claims: { key: string; taskId: string }[]): Promise<void> {
    for (const { key, taskId } of claims) {
      this.sql.exec("DELETE FROM keys WHERE key = ? AND task_id = ?", key, taskId);
    }
  }
}
