import {
  emptyHistogram,
  type Histogram,
  isCount,
  observe,
  parseHistogram,
  TASK_SECONDS_BUCKETS,
} from "./histogram";

/**
 * What a region shard counts about the work it schedules, for `/metrics`. Pure: the shard calls
 * these functions where the scheduler acts, with times it was given (ms); nothing here reads a
 * clock. Counters are updated in place: they run on the task hot path, once per task event.
 */

/** How a task ended (its terminal status). */
export const TASK_OUTCOMES = ["succeeded", "failed", "canceled"] as const;
export type TaskOutcome = (typeof TASK_OUTCOMES)[number];

export interface TaskMetrics {
  /** Tasks stored by the shard. */
  submitted: number;
  /** Tasks that reached a terminal status, by which. */
  completed: Record<TaskOutcome, number>;
  /** Failed attempts that were scheduled to run again (whatever failed them: a node, a lease, a node death). */
  retries: number;
  /** Leases that ran out before their holder reported (each is also a retry or a failure). */
  leaseExpired: number;
  /** Seconds from a task becoming runnable (stored, or its delay or back-off due) to its lease. */
  dispatch: Histogram;
  /** Seconds from a lease to the end of that attempt (an outcome, an expiry, a node death, a cancel). */
  run: Histogram;
}

export function emptyTaskMetrics(): TaskMetrics {
  return {
    submitted: 0,
    completed: { succeeded: 0, failed: 0, canceled: 0 },
    retries: 0,
    leaseExpired: 0,
    dispatch: emptyHistogram(TASK_SECONDS_BUCKETS),
    run: emptyHistogram(TASK_SECONDS_BUCKETS),
  };
}

/**
 * A lease was granted at `now` to a task runnable since `runAt` (its delay or back-off) and stored
 * at `createdAt`. A task submitted with a `runAt` in the past was runnable only once stored, so the
 * later of the two counts: the dispatch time is the scheduler's, never the client's.
 */
export function recordLease(metrics: TaskMetrics, task: { runAt: number; createdAt: number }, now: number) {
  observe(metrics.dispatch, (now - Math.max(task.runAt, task.createdAt)) / 1000);
}

/** An attempt leased at `leasedAt` ended at `now` (its outcome, an expiry, its node's death, a cancel). */
export function recordAttemptEnd(metrics: TaskMetrics, leasedAt: number, now: number) {
  observe(metrics.run, (now - leasedAt) / 1000);
}

/** A failed attempt's fate: scheduled again (a retry), or the task failed for good. */
export function recordFailedAttempt(metrics: TaskMetrics, next: "scheduled" | "failed") {
  if (next === "scheduled") {
    metrics.retries++;
  } else {
    metrics.completed.failed++;
  }
}

/**
 * The counters as stored or received, validated; null when the value is not a TaskMetrics of this
 * version (malformed, or histograms saved under other buckets), so the caller starts from zero.
 */
export function parseTaskMetrics(value: unknown): TaskMetrics | null {
  if (typeof value !== "object" || value === null) {
    return null;
  }
  const v = value as Record<string, unknown>;
  const completed = v.completed as Record<string, unknown> | undefined;
  const dispatch = parseHistogram(v.dispatch, TASK_SECONDS_BUCKETS);
  const run = parseHistogram(v.run, TASK_SECONDS_BUCKETS);
  if (
    !isCount(v.submitted) ||
    !isCount(v.retries) ||
    !isCount(v.leaseExpired) ||
    typeof completed !== "object" ||
    completed === null ||
    !TASK_OUTCOMES.every((o) => isCount(completed[o])) ||
    dispatch === null ||
    run === null
  ) {
    return null;
  }
  return {
    submitted: v.submitted,
    completed: {
      succeeded: completed.succeeded as number,
      failed: completed.failed as number,
      canceled: completed.canceled as number,
    },
    retries: v.retries,
    leaseExpired: v.leaseExpired,
    dispatch,
    run,
  };
}
