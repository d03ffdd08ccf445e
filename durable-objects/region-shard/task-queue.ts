import type { AllowList } from "../../src/core/placement";
import type { TaskRouting } from "../../src/core/task-commands";
import { TASK_STATUSES, type TaskState, type TaskStatus } from "../../src/core/task-lifecycle";

/** A task as stored, with the fields the contract shows. */
export interface TaskRecord extends TaskState {
  seq: number;
  id: string;
  type: string;
  payload: unknown;
  priority: number;
  region: string;
  timeoutMs: number;
  result: unknown;
  createdAt: number;
  updatedAt: number;
  idempotencyScope: string | null;
  idempotencyKey: string | null;
  requestHash: string | null;
  affinityKey: string | null;
  routing: TaskRouting;
  /** When the task's last attempt was leased (null before its first): the attempt's run time counts from it. */
  leasedAt: number | null;
  /** Its allow-list (`regions`, `fallback`), or null. */
  allow: AllowList | null;
  /** The task this one replays (a retry with reroute moved it here), or null. */
  retryOf: string | null;
  /** The task this one was replayed as in another region (or reserved to be), or null. */
  retriedAs: string | null;
  /** The schedule that submitted it (API-v2 §5), or null. */
  scheduleId: string | null;
  /** Its tenant (API-v2 §8): only that tenant's callers see it, only that tenant's nodes lease it. */
  tenant: string;
}

/** A task row as SQLite returns it; `parseTask` turns it into a record (and may throw on a corrupt row). */
export type TaskRow = {
  seq: number;
  id: string;
  type: string;
  payload: string;
  status: TaskStatus;
  priority: number;
  region: string;
  node_id: string | null;
  attempts: number;
  max_attempts: number;
  timeout_ms: number;
  result: string | null;
  last_error: string | null;
  created_at: number;
  updated_at: number;
  run_at: number;
  lease_token: string | null;
  lease_expires_at: number | null;
  idempotency_scope: string | null;
  idempotency_key: string | null;
  request_hash: string | null;
  affinity_key: string | null;
  routing: string;
  leased_at: number | null;
  allow_list: string | null;
  retry_of: string | null;
  retried_as: string | null;
  schedule_id: string | null;
  tenant: string;
};

export function parseTask(row: TaskRow): TaskRecord {
  return {
    seq: row.seq,
    id: row.id,
    type: row.type,
    payload: JSON.parse(row.payload),
    status: row.status,
    priority: row.priority,
    region: row.region,
    nodeId: row.node_id,
    attempts: row.attempts,
    maxAttempts: row.max_attempts,
    timeoutMs: row.timeout_ms,
    result: row.result === null ? null : JSON.parse(row.result),
    lastError: row.last_error,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    runAt: row.run_at,
    leaseToken: row.lease_token,
    leaseExpiresAt: row.lease_expires_at,
    idempotencyScope: row.idempotency_scope,
    idempotencyKey: row.idempotency_key,
    requestHash: row.request_hash,
    affinityKey: row.affinity_key,
    routing: JSON.parse(row.routing) as TaskRouting,
    leasedAt: row.leased_at,
    allow: row.allow_list === null ? null : (JSON.parse(row.allow_list) as AllowList),
    retryOf: row.retry_of,
    retriedAs: row.retried_as,
    scheduleId: row.schedule_id ?? null,
    tenant: row.tenant,
  };
}

type Counts = Record<TaskStatus, number>;
const zeroCounts = (): Counts => ({
  scheduled: 0,
  queued: 0,
  leased: 0,
  succeeded: 0,
  failed: 0,
  canceled: 0,
});

/** The columns a new task sets, in the order `flush` reads them from each row's JSON array. */
const NEW_TASK_COLUMNS = [
  "seq",
  "id",
  "type",
  "payload",
  "status",
  "priority",
  "region",
  "max_attempts",
  "timeout_ms",
  "created_at",
  "updated_at",
  "run_at",
  "idempotency_scope",
  "idempotency_key",
  "request_hash",
  "affinity_key",
  "routing",
  "allow_list",
  "retry_of",
  "schedule_id",
  "tenant",
] as const;

const REGION = NEW_TASK_COLUMNS.indexOf("region");
const STATUS = NEW_TASK_COLUMNS.indexOf("status");
const TENANT = NEW_TASK_COLUMNS.indexOf("tenant");

/** One new task, one bound parameter per column. */
const INSERT_TASK = `INSERT INTO tasks (${NEW_TASK_COLUMNS.join(", ")})
  VALUES (${NEW_TASK_COLUMNS.map(() => "?").join(", ")})`;

/**
 * Any number of new tasks in one statement: each row is a JSON array, so the statement binds one
 * parameter (a Durable Object allows 100 per statement). Reading the JSON costs more than binding
 * one row's values, so a single task takes INSERT_TASK.
 */
const INSERT_TASKS = `INSERT INTO tasks (${NEW_TASK_COLUMNS.join(", ")})
  SELECT ${NEW_TASK_COLUMNS.map((_, i) => `value->>${i}`).join(", ")} FROM json_each(?)`;

/**
 * The task table. Every write goes through `insert` or `save`, which keep the per-region counts by
 * status in memory (they are derived: rebuilt from the table when the object starts).
 *
 * New tasks are written in bulk: `insert` numbers a task and holds it, and `flush` stores every
 * held task in one statement. Each SQL statement costs the Durable Object about 20 µs whatever it
 * does (docs/BENCHMARKS.md), which made a 100-task batch pay for 100 inserts. Every other access
 * goes through `db`, which flushes first, so no query ever misses a held task; the shard
 * flushes at the end of every call, before its answer leaves.
 */
export class TaskQueue {
  private readonly counts = new Map<string, Counts>();
  /** Stored tasks by tenant (derived, like `counts`): the TENANT_MAX_TASKS quota reads it. */
  private readonly byTenant = new Map<string, number>();
  /** Tasks numbered by `insert` and not yet written, as rows in NEW_TASK_COLUMNS order. */
  private held: unknown[][] = [];
  private nextSeq: number;

  constructor(private readonly sql: SqlStorage) {
    for (const row of sql.exec<{ region: string; status: TaskStatus; n: number }>(
      "SELECT region, status, count(*) AS n FROM tasks GROUP BY region, status",
    )) {
      this.countsOf(row.region)[row.status] = row.n;
    }
    for (const row of sql.exec<{ tenant: string; n: number }>(
      "SELECT tenant, count(*) AS n FROM tasks GROUP BY tenant",
    )) {
      this.byTenant.set(row.tenant, row.n);
    }
    // Sequence numbers are the table's rowids, handed out here so that a held task has its own.
    this.nextSeq = sql.exec<{ seq: number }>("SELECT coalesce(max(seq), 0) + 1 AS seq FROM tasks").one().seq;
  }

  /** The table, with every held task written. */
  private get db(): SqlStorage {
    this.flush();
    return this.sql;
  }

  /** Writes every task held by `insert`, in one statement. */
  flush(): void {
    if (this.held.length === 0) {
      return;
    }
    const rows = this.held;
    this.held = [];
    try {
      if (rows.length === 1) {
        this.sql.exec(INSERT_TASK, ...rows[0]!);
      } else {
        this.sql.exec(INSERT_TASKS, JSON.stringify(rows));
      }
    } catch (error) {
      // Nothing was written (one statement): the counts go back to what the table holds.
      for (const row of rows) {
        this.countsOf(row[REGION] as string)[row[STATUS] as TaskStatus]--;
        this.countTenant(row[TENANT] as string, -1);
      }
      throw error;
    }
  }

  private countsOf(region: string): Counts {
    let counts = this.counts.get(region);
    if (!counts) {
      counts = zeroCounts();
      this.counts.set(region, counts);
    }
    return counts;
  }

  /** Counts by status, of one region or of all. */
  depth(region?: string): Counts {
    if (region !== undefined) {
      return { ...this.countsOf(region) };
    }
    const total = zeroCounts();
    for (const counts of this.counts.values()) {
      for (const status of TASK_STATUSES) {
        total[status] += counts[status];
      }
    }
    return total;
  }

  /**
   * Counts by status of one tenant's tasks in the shard: a query over the tenant's index, not the
   * counts in memory (those are per region; a status read is rare enough to pay for it).
   */
  tenantDepth(tenant: string): Counts {
    const counts = zeroCounts();
    for (const row of this.db.exec<{ status: TaskStatus; n: number }>(
      "SELECT status, count(*) AS n FROM tasks WHERE tenant = ? GROUP BY status",
      tenant,
    )) {
      counts[row.status] = row.n;
    }
    return counts;
  }

  /** Whether any task is unfinished. */
  hasLiveTasks(): boolean {
    const c = this.depth();
    return c.scheduled + c.queued + c.leased > 0;
  }

  /** Numbers a new task and holds it for the next `flush` (its counts change at once). */
  insert(task: Omit<TaskRecord, "seq">): TaskRecord {
    const seq = this.nextSeq++;
    this.held.push([
      seq,
      task.id,
      task.type,
      JSON.stringify(task.payload ?? null),
      task.status,
      task.priority,
      task.region,
      task.maxAttempts,
      task.timeoutMs,
      task.createdAt,
      task.updatedAt,
      task.runAt,
      task.idempotencyScope,
      task.idempotencyKey,
      task.requestHash,
      task.affinityKey,
      JSON.stringify(task.routing),
      task.allow === null ? null : JSON.stringify(task.allow),
      task.retryOf,
      task.scheduleId,
      task.tenant,
    ]);
    this.countsOf(task.region)[task.status]++;
    this.countTenant(task.tenant, 1);
    return { ...task, seq };
  }

  /** Writes the mutable fields of `next` (a changed copy of `previous`). */
  save(previous: TaskRecord, next: TaskRecord): void {
    this.db.exec(
      `UPDATE tasks SET status = ?, node_id = ?, attempts = ?, result = ?, last_error = ?, updated_at = ?, run_at = ?,
         lease_token = ?, lease_expires_at = ?, leased_at = ? WHERE id = ?`,
      next.status,
      next.nodeId,
      next.attempts,
      next.result === undefined || next.result === null ? null : JSON.stringify(next.result),
      next.lastError,
      next.updatedAt,
      next.runAt,
      next.leaseToken,
      next.leaseExpiresAt,
      next.leasedAt,
      next.id,
    );
    if (previous.status !== next.status) {
      this.countsOf(previous.region)[previous.status]--;
      this.countsOf(next.region)[next.status]++;
    }
  }

  /**
   * Writes a replayed task (a retry): its mutable fields as `save` does, and its routing (a reroute
   * explains its new placement) and its `retriedAs` (cleared when a stale reservation is taken over).
   */
  replay(previous: TaskRecord, next: TaskRecord): void {
    this.save(previous, next);
    this.db.exec(
      "UPDATE tasks SET routing = ?, retried_as = ? WHERE id = ?",
      JSON.stringify(next.routing),
      next.retriedAs,
      next.id,
    );
  }

  /** Records (or clears) the task a finished task is being replayed as in another region. */
  setRetriedAs(task: TaskRecord, retriedAs: string | null, now: number): void {
    this.db.exec("UPDATE tasks SET retried_as = ?, updated_at = ? WHERE id = ?", retriedAs, now, task.id);
  }

  /** Rows deleted by retention: their counts go too. */
  forgotten(rows: Iterable<{ region: string; status: TaskStatus; tenant: string }>): void {
    for (const row of rows) {
      this.countsOf(row.region)[row.status]--;
      this.countTenant(row.tenant, -1);
    }
  }

  /** How many tasks `tenant` has stored here (held ones included). */
  storedBy(tenant: string): number {
    return this.byTenant.get(tenant) ?? 0;
  }

  private countTenant(tenant: string, delta: number): void {
    const n = (this.byTenant.get(tenant) ?? 0) + delta;
    if (n > 0) {
      this.byTenant.set(tenant, n);
    } else {
      this.byTenant.delete(tenant);
    }
  }

  /** Erases a task on demand (the caller checked that it finished): payload and result go with the row. */
  erase(task: TaskRecord): void {
    if (this.db.exec("DELETE FROM tasks WHERE id = ?", task.id).rowsWritten > 0) {
      this.forgotten([task]);
    }
  }

  get(id: string): TaskRecord | null {
    const row = this.db.exec<TaskRow>("SELECT * FROM tasks WHERE id = ?", id).toArray()[0];
    return row ? parseTask(row) : null;
  }

  /**
   * The best runnable tasks of `tenant` in the region, highest priority first, oldest first within a
   * priority: `limit` of them after the first `skip`.
   */
  runnable(tenant: string, limit: number, skip = 0): TaskRecord[] {
    return this.db
      .exec<TaskRow>(
        "SELECT * FROM tasks WHERE tenant = ? AND status = 'queued' ORDER BY priority DESC, seq LIMIT ? OFFSET ?",
        tenant,
        limit,
        skip,
      )
      .toArray()
      .map(parseTask);
  }

  /** Scheduled tasks whose time has come. */
  due(now: number, limit: number): TaskRow[] {
    return this.db
      .exec<TaskRow>(
        "SELECT * FROM tasks WHERE status = 'scheduled' AND run_at <= ? ORDER BY run_at LIMIT ?",
        now,
        limit,
      )
      .toArray();
  }

  /** Leased tasks whose lease has run out. */
  expired(now: number, limit: number): TaskRow[] {
    return this.db
      .exec<TaskRow>(
        "SELECT * FROM tasks WHERE status = 'leased' AND lease_expires_at <= ? ORDER BY lease_expires_at LIMIT ?",
        now,
        limit,
      )
      .toArray();
  }

  heldBy(nodeId: string): TaskRow[] {
    return this.db
      .exec<TaskRow>("SELECT * FROM tasks WHERE status = 'leased' AND node_id = ?", nodeId)
      .toArray();
  }

  /**
   * Takes a row that cannot be read out of circulation: it is marked failed with the reason, so the
   * alarm does not trip over it again. Works on the raw columns only.
   */
  quarantine(row: TaskRow, reason: string, now: number): void {
    this.db.exec(
      "UPDATE tasks SET status = 'failed', last_error = ?, lease_token = NULL, lease_expires_at = NULL, updated_at = ? WHERE id = ?",
      `unreadable task row: ${reason}`.slice(0, 1000),
      now,
      row.id,
    );
    this.countsOf(row.region)[row.status]--;
    this.countsOf(row.region).failed++;
  }

  /** In-flight counts per node, to rebuild node loads when the object starts. */
  inFlightByNode(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const row of this.db.exec<{ node_id: string; n: number }>(
      "SELECT node_id, count(*) AS n FROM tasks WHERE status = 'leased' GROUP BY node_id",
    )) {
      counts.set(row.node_id, row.n);
    }
    return counts;
  }

  /** The earliest due time of a scheduled task or a lease, for the alarm. */
  nextDeadline(): number | null {
    const run = this.db
      .exec<{ t: number | null }>("SELECT min(run_at) AS t FROM tasks WHERE status = 'scheduled'")
      .one().t;
    const lease = this.db
      .exec<{ t: number | null }>("SELECT min(lease_expires_at) AS t FROM tasks WHERE status = 'leased'")
      .one().t;
    if (run === null) {
      return lease;
    }
    return lease === null ? run : Math.min(run, lease);
  }
}
