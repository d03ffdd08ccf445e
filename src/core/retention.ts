import { isTerminal, type TaskStatus } from "./task-lifecycle";

/**
 * Retention: what finished work may be forgotten, and when the shard's alarm should look again.
 * Pure (no clock, no storage): the shard passes `now` and what its indexes say, and applies the plan.
 */

/** Rows one prune slice deletes at most: one short statement, so a pass never holds the object long. */
export const PRUNE_SLICE_ROWS = 500;

/** How soon the alarm comes back while rows are still due: requests queued meanwhile run first. */
export const PRUNE_RESUME_MS = 1;

/** The newest finish (or death) time that is due for pruning: rows at or before it may go. */
export function pruneCutoff(now: number, retentionMs: number): number {
  return now - retentionMs;
}

/** Whether a row finished (or died) at `at` is past its retention at `now`. */
export function isPastRetention(at: number, now: number, retentionMs: number): boolean {
  return at <= pruneCutoff(now, retentionMs);
}

/**
 * When the alarm should prune next, after a pass: soon when the last slice was full (more may be
 * due), else when the oldest row left comes of age (null: nothing finished is left to wait for).
 */
export function nextPruneAt(
  pass: { deleted: number; sliceRows: number; oldestLeft: number | null },
  now: number,
  retentionMs: number,
): number | null {
  if (pass.deleted >= pass.sliceRows) {
    return now + PRUNE_RESUME_MS;
  }
  if (pass.oldestLeft === null) {
    return null;
  }
  // Never in the past: a row already overdue (the shard was asleep) is due now.
  return Math.max(pass.oldestLeft + retentionMs, now);
}

/**
 * Why a task may not be erased on demand, or null: only a finished task goes (an unfinished one is
 * still owed an outcome; cancel it first).
 */
export function eraseRefusal(status: TaskStatus): "task_not_finished" | null {
  return isTerminal(status) ? null : "task_not_finished";
}
