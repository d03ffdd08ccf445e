import {
  emptyTaskMetrics,
  parseTaskMetrics,
  recordAttemptEnd,
  recordFailedAttempt,
  recordLease,
  type TaskMetrics,
  type TaskOutcome,
} from "../../src/core/task-metrics";

/** Unsaved counts are written at most this often while the shard works, and this long after it stops. */
export const METRICS_PERSIST_MS = 5000;

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
 * - The first count after a quiet spell is saved at the end of its call (it rides the call's commit),
 *   then at most every METRICS_PERSIST_MS, and once more METRICS_PERSIST_MS after the last count (the
 *   alarm wakes the shard for it). A shard idle that long has saved everything, so eviction (which
 *   waits for a longer idle time) loses nothing.
 * - That last write is marked `final`. A shard that restarts and finds its last write not final may
 *   have counted more than it saved (a crash, a deploy mid-work): it starts again from zero. A counter
 *   that dropped by the few counts lost would be read by Prometheus as a reset anyway, and `rate()`
 *   would then add the whole counter again; a real reset to zero is what `rate()` handles exactly.
 */
export class ShardMetrics {
  readonly tasks: TaskMetrics;
  private dirty = false;
  private storedFinal: boolean;
  private savedAt = Number.NEGATIVE_INFINITY;

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

  submitted(count = 1): void {
    this.tasks.submitted += count;
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
   * alarm (`dueAt`) when a save is owed later. A few comparisons when there is nothing to do.
   */
  settle(now: number, dueAt: (at: number) => void): void {
    if (this.dirty) {
      if (this.storedFinal || now - this.savedAt >= METRICS_PERSIST_MS) {
        this.save(now, false);
        this.dirty = false;
        dueAt(now + METRICS_PERSIST_MS);
      } else {
        dueAt(this.savedAt + METRICS_PERSIST_MS);
      }
    } else if (!this.storedFinal) {
      if (now - this.savedAt >= METRICS_PERSIST_MS) {
        this.save(now, true);
      } else {
        dueAt(this.savedAt + METRICS_PERSIST_MS);
      }
    }
  }

  private save(now: number, final: boolean): void {
    const stored: StoredMetrics = { final, tasks: this.tasks };
    this.sql.exec(
      "INSERT INTO shard (key, value) VALUES ('metrics', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
      JSON.stringify(stored),
    );
    this.savedAt = now;
    this.storedFinal = final;
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
