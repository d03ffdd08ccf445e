import {
  emptyTaskMetrics,
  parseTaskMetrics,
  recordAttemptEnd,
  recordFailedAttempt,
  recordLease,
  type TaskMetrics,
  type TaskOutcome,
} from "../../src/core/task-metrics";

/** While the shard keeps counting, its counts are saved at most this often. */
export const METRICS_SAVE_EVERY_MS = 5000;

/** Once the shard has counted nothing for this long, everything is saved as final. */
export const METRICS_QUIET_MS = 2000;

/** What the `shard` table holds under the key 'metrics'. */
interface StoredMetrics {
  /** True when nothing was counted after this write (memory equals storage): see ShardMetrics. */
  final: boolean;
  tasks: TaskMetrics;
}

/**
 * A shard's task counters and histograms (src/core/task-metrics.ts), counted in memory where the
 * scheduler acts and saved without one SQL statement per task:
 *
 * - The first count after a final save is saved at the end of its call (it rides the call's commit),
 *   then at most every METRICS_SAVE_EVERY_MS while counts keep coming.
 * - Once nothing has been counted for METRICS_QUIET_MS (the alarm wakes the shard for it), all is
 *   saved and marked `final`: memory and storage agree. Eviction waits for a longer idle time, so an
 *   object evicted when idle restarts with its counters whole.
 * - A shard that restarts and finds its last save not final may have counted more than it saved (a
 *   crash, a deploy mid-work): it starts again from zero. A counter that dropped by the few counts
 *   lost would be read by Prometheus as a reset anyway, and `rate()` would then add the whole
 *   counter again; a real reset to zero is what `rate()` handles exactly.
 */
export class ShardMetrics {
  readonly tasks: TaskMetrics;
  /** Something was counted during the current call. */
  private dirty = false;
  /** Something counted is not in storage yet. */
  private unsaved = false;
  private storedFinal: boolean;
  private savedAt = Number.NEGATIVE_INFINITY;
  private lastCountAt = Number.NEGATIVE_INFINITY;

  constructor(private readonly sql: SqlStorage) {
    const row = sql.exec<{ value: string }>("SELECT value FROM shard WHERE key = 'metrics'").toArray()[0];
    const stored = row === undefined ? null : readStored(row.value);
    this.storedFinal = true;
    if (stored?.final) {
      this.tasks = stored.tasks;
    } else {
      this.tasks = emptyTaskMetrics();
      if (row !== undefined) {
        // A save that may have missed counts (or cannot be read): from zero, and storage says so.
        this.save(Number.NEGATIVE_INFINITY, true);
      }
    }
  }

  submitted(): void {
    this.tasks.submitted++;
    this.dirty = true;
  }

  leased(task: { runAt: number; createdAt: number }, now: number): void {
    recordLease(this.tasks, task, now);
    this.dirty = true;
  }

  /** An attempt ended (any way): its run time, when the attempt's lease time is known. */
  attemptEnded(leasedAt: number | null, now: number): void {
    if (leasedAt !== null) {
      recordAttemptEnd(this.tasks, leasedAt, now);
      this.dirty = true;
    }
  }

  failedAttempt(next: "scheduled" | "failed"): void {
    recordFailedAttempt(this.tasks, next);
    this.dirty = true;
  }

  completed(outcome: Exclude<TaskOutcome, "failed">): void {
    this.tasks.completed[outcome]++;
    this.dirty = true;
  }

  /** A row that could not be read was marked failed (Scheduler.eachRow). */
  quarantined(): void {
    this.tasks.completed.failed++;
    this.dirty = true;
  }

  leaseExpired(): void {
    this.tasks.leaseExpired++;
    this.dirty = true;
  }

  /**
   * At the end of every call and alarm: saves what the rules above say is due, and asks for the
   * alarm (`dueAt`) while a final save is owed. A few comparisons when there is nothing to do.
   */
  settle(now: number, dueAt: (at: number) => void): void {
    if (this.dirty) {
      this.dirty = false;
      this.unsaved = true;
      this.lastCountAt = now;
    }
    if (this.storedFinal && !this.unsaved) {
      return;
    }
    if (now - this.lastCountAt >= METRICS_QUIET_MS) {
      this.save(now, true);
      return;
    }
    if (this.unsaved && (this.storedFinal || now - this.savedAt >= METRICS_SAVE_EVERY_MS)) {
      this.save(now, false);
    }
    dueAt(this.lastCountAt + METRICS_QUIET_MS);
  }

  private save(now: number, final: boolean): void {
    const stored: StoredMetrics = { final, tasks: this.tasks };
    this.sql.exec(
      "INSERT INTO shard (key, value) VALUES ('metrics', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
      JSON.stringify(stored),
    );
    this.savedAt = now;
    this.storedFinal = final;
    this.unsaved = false;
  }
}

/** The stored row, or null when it cannot be read (it is then treated as a save that missed counts). */
function readStored(text: string): StoredMetrics | null {
  try {
    const value = JSON.parse(text) as { final?: unknown; tasks?: unknown };
    const tasks = parseTaskMetrics(value.tasks);
    return tasks === null ? null : { final: value.final === true, tasks };
  } catch {
    return null;
  }
}
