import { type Principal, type Role, tenantOf } from "../../src/core/permissions";
import type { Decision, ScheduleSpec } from "../../src/core/schedules";
import type { PlaceBody } from "../../src/http/task-placement";

/** A schedule as its home shard keeps it. */
export interface ScheduleRecord {
  id: string;
  spec: ScheduleSpec;
  /** The token that last PUT it: its runs are submitted as that token (idempotency keys in its scope). */
  principal: Principal;
  paused: boolean;
  /** Every slot at or before this time has been handled (run or skipped). */
  cursor: number;
  nextRunAt: number | null;
  lastRunAt: number | null;
  lastTaskId: string | null;
  lastError: string | null;
  runs: number;
  skipped: number;
  createdAt: number;
  updatedAt: number;
}

/** A run decided and not yet stored as a task: submitted (again) until a task is stored or it gives up. */
export interface PendingRun {
  scheduleId: string;
  slot: number;
  body: PlaceBody;
  principal: Principal;
  createdAt: number;
  attempts: number;
  retryAt: number;
}

type ScheduleRow = {
  id: string;
  spec: string;
  token_id: string;
  role: Role;
  tenant: string;
  paused: number;
  cursor: number;
  next_run_at: number | null;
  last_run_at: number | null;
  last_task_id: string | null;
  last_error: string | null;
  runs: number;
  skipped: number;
  created_at: number;
  updated_at: number;
};

type RunRow = {
  schedule_id: string;
  slot: number;
  body: string;
  token_id: string;
  role: Role;
  tenant: string;
  created_at: number;
  attempts: number;
  retry_at: number;
};

function parseSchedule(row: ScheduleRow): ScheduleRecord {
  return {
    id: row.id,
    spec: JSON.parse(row.spec) as ScheduleSpec,
    principal: { tokenId: row.token_id, role: row.role, tenant: row.tenant },
    paused: row.paused === 1,
    cursor: row.cursor,
    nextRunAt: row.next_run_at,
    lastRunAt: row.last_run_at,
    lastTaskId: row.last_task_id,
    lastError: row.last_error,
    runs: row.runs,
    skipped: row.skipped,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

function parseRun(row: RunRow): PendingRun {
  return {
    scheduleId: row.schedule_id,
    slot: row.slot,
    body: JSON.parse(row.body) as PlaceBody,
    principal: { tokenId: row.token_id, role: row.role, tenant: row.tenant },
    createdAt: row.created_at,
    attempts: row.attempts,
    retryAt: row.retry_at,
  };
}

/** The shard's schedules and their pending runs (SQL only; decisions come from src/core/schedules.ts). */
export class ScheduleTable {
  constructor(private readonly sql: SqlStorage) {}

  get(id: string): ScheduleRecord | null {
    const row = this.sql.exec<ScheduleRow>("SELECT * FROM schedules WHERE id = ?", id).toArray()[0];
    return row ? parseSchedule(row) : null;
  }

  /** Writes a schedule, new or changed. */
  save(s: ScheduleRecord): void {
    this.sql.exec(
      `INSERT INTO schedules (id, spec, token_id, role, tenant, paused, cursor, next_run_at, last_run_at, last_task_id,
         last_error, runs, skipped, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT(id) DO UPDATE SET spec = excluded.spec, token_id = excluded.token_id, role = excluded.role,
         tenant = excluded.tenant,
         paused = excluded.paused, cursor = excluded.cursor, next_run_at = excluded.next_run_at,
         last_run_at = excluded.last_run_at, last_task_id = excluded.last_task_id, last_error = excluded.last_error,
         runs = excluded.runs, skipped = excluded.skipped, updated_at = excluded.updated_at`,
      s.id,
      JSON.stringify(s.spec),
      s.principal.tokenId,
      s.principal.role,
      tenantOf(s.principal),
      s.paused ? 1 : 0,
      s.cursor,
      s.nextRunAt,
      s.lastRunAt,
      s.lastTaskId,
      s.lastError,
      s.runs,
      s.skipped,
      s.createdAt,
      s.updatedAt,
    );
  }

  /** Deletes a schedule and its runs not yet stored (they will not run). Whether it existed. */
  delete(id: string): boolean {
    this.sql.exec("DELETE FROM schedule_runs WHERE schedule_id = ?", id);
    return this.sql.exec("DELETE FROM schedules WHERE id = ?", id).rowsWritten > 0;
  }

  count(): number {
    return this.sql.exec<{ n: number }>("SELECT count(*) AS n FROM schedules").one().n;
  }

  /** A page of `tenant`'s schedules (null: every tenant's) by id, after the cursor (an id). */
  list(tenant: string | null, limit: number, after?: string): ScheduleRecord[] {
    return this.sql
      .exec<ScheduleRow>(
        "SELECT * FROM schedules WHERE (? IS NULL OR tenant = ?) AND id > ? ORDER BY id LIMIT ?",
        tenant,
        tenant,
        after ?? "",
        limit,
      )
      .toArray()
      .map(parseSchedule);
  }

  /** Schedules whose next slot has come. */
  due(now: number, limit: number): ScheduleRecord[] {
    return this.sql
      .exec<ScheduleRow>(
        "SELECT * FROM schedules WHERE next_run_at IS NOT NULL AND next_run_at <= ? ORDER BY next_run_at LIMIT ?",
        now,
        limit,
      )
      .toArray()
      .map(parseSchedule);
  }

  /**
   * Decisions of the core applied, in two statements whatever their number (each statement costs
   * the object about 20 µs; a storm decides 1,000 schedules at once): each cursor moves, and each
   * slot to run becomes a pending run.
   */
  applyDecisions(decided: { id: string; decision: Decision; runs: PendingRun[] }[]): void {
    if (decided.length === 0) {
      return;
    }
    this.sql.exec(
      `UPDATE schedules SET cursor = value->>1, next_run_at = value->>2, skipped = skipped + value->>3
         FROM json_each(?) WHERE schedules.id = value->>0`,
      JSON.stringify(decided.map(({ id, decision: d }) => [id, d.cursor, d.nextRunAt, d.skipped])),
    );
    const runs = decided.flatMap((d) => d.runs);
    if (runs.length > 0) {
      this.sql.exec(
        `INSERT INTO schedule_runs (schedule_id, slot, body, token_id, role, created_at, attempts, retry_at, tenant)
           SELECT value->>0, value->>1, value->>2, value->>3, value->>4, value->>5, value->>6, value->>7, value->>8
           FROM json_each(?) WHERE true ON CONFLICT DO NOTHING`,
        JSON.stringify(
          runs.map((r) => [
            r.scheduleId,
            r.slot,
            JSON.stringify(r.body),
            r.principal.tokenId,
            r.principal.role,
            r.createdAt,
            r.attempts,
            r.retryAt,
            tenantOf(r.principal),
          ]),
        ),
      );
    }
  }

  addRun(run: PendingRun): void {
    this.sql.exec(
      `INSERT INTO schedule_runs (schedule_id, slot, body, token_id, role, created_at, attempts, retry_at, tenant)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
      run.scheduleId,
      run.slot,
      JSON.stringify(run.body),
      run.principal.tokenId,
      run.principal.role,
      run.createdAt,
      run.attempts,
      run.retryAt,
      tenantOf(run.principal),
    );
  }

  /** Runs due for a (new) submit. */
  pendingRuns(now: number, limit: number): PendingRun[] {
    return this.sql
      .exec<RunRow>(
        "SELECT * FROM schedule_runs WHERE retry_at <= ? ORDER BY retry_at, slot LIMIT ?",
        now,
        limit,
      )
      .toArray()
      .map(parseRun);
  }

  /** Whether a run of the schedule is decided and not yet stored. */
  hasPendingRun(id: string): boolean {
    return (
      this.sql.exec("SELECT 1 FROM schedule_runs WHERE schedule_id = ? LIMIT 1", id).toArray().length > 0
    );
  }

  removeRun(run: PendingRun): void {
    this.sql.exec("DELETE FROM schedule_runs WHERE schedule_id = ? AND slot = ?", run.scheduleId, run.slot);
  }

  retryRun(run: PendingRun, retryAt: number): void {
    this.sql.exec(
      "UPDATE schedule_runs SET attempts = attempts + 1, retry_at = ? WHERE schedule_id = ? AND slot = ?",
      retryAt,
      run.scheduleId,
      run.slot,
    );
  }

  /** The earliest time the alarm must look at schedules: a slot, or a run to submit again. */
  nextDue(): number | null {
    const slot = this.sql
      .exec<{ t: number | null }>("SELECT min(next_run_at) AS t FROM schedules WHERE next_run_at IS NOT NULL")
      .one().t;
    const run = this.sql.exec<{ t: number | null }>("SELECT min(retry_at) AS t FROM schedule_runs").one().t;
    if (slot === null) {
      return run;
    }
    return run === null ? slot : Math.min(slot, run);
  }
}
