import { ApiError, type ErrorBody } from "../../src/core/errors";
import type { EventBody } from "../../src/core/events";
import { regionOfTaskId } from "../../src/core/ids";
import { type Principal, sees, tenantOf } from "../../src/core/permissions";
import {
  type Decision,
  decide,
  nextSlotAfter,
  runRetryAt,
  type ScheduleSpec,
  slotKey,
  specOf,
  timingOf,
} from "../../src/core/schedules";
import type { TaskStatus } from "../../src/core/task-lifecycle";
import type { PlaceBody, Placed } from "../../src/http/task-placement";
import type { PutScheduleInput } from "../../src/schemas/schedules";
import type { SubmitTaskInput } from "../../src/schemas/tasks";
import { type PendingRun, type ScheduleRecord, ScheduleTable } from "./schedule-table";
import type { TaskQueue } from "./task-queue";

export type { ScheduleRecord } from "./schedule-table";

/**
 * How a shard submits its schedules' runs: through the edge's own placement (placeTasks, built from
 * the shard's env), so a run is routed, refused and spilled over like any task, and claims its
 * slot's idempotency key in the token's key object. Tests give their own.
 */
export interface ScheduleLink {
  place(principal: Principal, bodies: PlaceBody[]): Promise<Placed[]>;
  /** A task's status in whatever shard holds it (null: unknown). */
  taskStatus(principal: Principal, taskId: string): Promise<TaskStatus | null>;
}

/** At most this many schedules are decided per alarm pass; more are taken by the next pass, at once. */
const MAX_DUE_PER_PASS = 2000;
/** At most this many runs are submitted per call to placement (one key claim, one call per region). */
const MAX_RUNS_PER_SUBMIT = 1000;

const LIVE: ReadonlySet<TaskStatus> = new Set(["scheduled", "queued", "leased"]);

/** A schedule as the contract shows it. */
export function scheduleView(s: ScheduleRecord, region: string) {
  return {
    id: s.id,
    cron: s.spec.cron,
    timezone: s.spec.timezone,
    everyMs: s.spec.everyMs,
    task: s.spec.task as Record<string, unknown>,
    overlap: s.spec.overlap,
    catchUp: s.spec.catchUp,
    startAt: s.spec.startAt,
    endAt: s.spec.endAt,
    paused: s.paused,
    region,
    nextRunAt: s.nextRunAt,
    lastRunAt: s.lastRunAt,
    lastTaskId: s.lastTaskId,
    lastError: s.lastError,
    runs: s.runs,
    skipped: s.skipped,
    createdAt: s.createdAt,
    updatedAt: s.updatedAt,
  };
}

export type ScheduleView = ReturnType<typeof scheduleView>;

/**
 * The schedules whose home is this shard's region: kept in its SQLite, fired from its alarm. A due
 * slot is decided by the core (src/core/schedules.ts) and written as a pending run in the same commit
 * that moves the schedule's cursor; the run is then submitted with the slot's idempotency key and
 * deleted once a task is stored. A restart in between submits it again: the key makes it the same
 * task. So each slot stores at most one task, and the cursor never lets a slot be decided twice.
 */
export class ShardSchedules {
  readonly table: ScheduleTable;
  /** Runs being submitted now (`id:slot`): an overlapping alarm or trigger leaves them alone. */
  private readonly submitting = new Set<string>();

  constructor(
    sql: SqlStorage,
    private readonly tasks: TaskQueue,
    /** Null while the shard serves no region (it cannot route without its deployment). */
    private readonly link: () => ScheduleLink | null,
    private readonly region: () => string | null,
    private readonly dueAt: (at: number) => void,
    private readonly transaction: <T>(fn: () => T) => T,
    private readonly logError: (id: string, error: unknown) => void,
    /** Told of each run stored (`schedule.fired`, GET /v1/events). */
    private readonly record: (event: EventBody) => void = () => {},
  ) {
    this.table = new ScheduleTable(sql);
  }

  private view(s: ScheduleRecord) {
    return scheduleView(s, this.region() ?? "");
  }

  /**
   * Refuses a caller of another tenant than schedule `id`'s: 404 for a read or an action on it, as if
   * it did not exist; 409 for a PUT, which would otherwise replace it (schedule ids are one namespace).
   */
  checkTenant(principal: Principal, id: string, put: boolean): void {
    const s = this.table.get(id);
    if (s !== null && !sees(principal, tenantOf(s.principal))) {
      if (put) {
        throw ApiError.of("conflict", `schedule id ${id} is taken: choose another`);
      }
      throw ApiError.of("not_found", `no schedule ${id}`);
    }
  }

  private existing(id: string): ScheduleRecord {
    const s = this.table.get(id);
    if (s === null) {
      throw ApiError.of("not_found", `no schedule ${id}`);
    }
    return s;
  }

  /** Creates or replaces a schedule; slots up to `now` never run (a replacement starts afresh). */
  put(
    principal: Principal,
    id: string,
    input: PutScheduleInput,
    origin: { lat: number; lon: number } | null,
    now: number,
  ): { schedule: ScheduleView; created: boolean } {
    const previous = this.table.get(id);
    const spec = specOf<SubmitTaskInput>(input, origin, now);
    const record: ScheduleRecord = {
      id,
      spec,
      principal,
      paused: input.paused,
      cursor: now,
      nextRunAt: input.paused ? null : nextSlotAfter(timingOf(spec), now),
      lastRunAt: previous?.lastRunAt ?? null,
      lastTaskId: previous?.lastTaskId ?? null,
      lastError: null,
      runs: previous?.runs ?? 0,
      skipped: previous?.skipped ?? 0,
      createdAt: previous?.createdAt ?? now,
      updatedAt: now,
    };
    this.table.save(record);
    this.planAlarm();
    return { schedule: this.view(record), created: previous === null };
  }

  get(id: string) {
    return this.view(this.existing(id));
  }

  /** A page of the schedules `principal` sees (a global admin: every tenant's). */
  list(principal: Principal, limit: number, after?: string) {
    return this.table.list(principal.tenant, limit, after).map((s) => this.view(s));
  }

  /** No slot runs while paused (they are skipped, not kept for later). */
  pause(id: string, now: number) {
    const s = this.existing(id);
    const next = { ...s, paused: true, nextRunAt: null, updatedAt: now };
    this.table.save(next);
    return this.view(next);
  }

  /** Runs again from the next slot after `now`; slots that fell while paused do not run. */
  resume(id: string, now: number) {
    const s = this.existing(id);
    if (!s.paused) {
      return this.view(s);
    }
    const next = {
      ...s,
      paused: false,
      cursor: Math.max(s.cursor, now),
      nextRunAt: nextSlotAfter(timingOf(s.spec), Math.max(s.cursor, now)),
      updatedAt: now,
    };
    this.table.save(next);
    this.planAlarm();
    return this.view(next);
  }

  remove(id: string): void {
    if (!this.table.delete(id)) {
      throw ApiError.of("not_found", `no schedule ${id}`);
    }
  }

  /**
   * One run now, outside the cadence (whatever `overlap` and `paused` say): its slot is `now`. The
   * run is recorded before it is submitted; a refusal is the answer (it is not tried again).
   */
  async trigger(id: string, now: number) {
    const s = this.existing(id);
    const link = this.requireLink();
    const run = this.runOf(s, now, now);
    this.table.addRun(run);
    const key = runKey(run);
    this.submitting.add(key);
    let placed: Placed;
    try {
      placed = (await this.submit(link, run.principal, [run]))[0]!;
    } finally {
      this.submitting.delete(key);
    }
    if ("error" in placed) {
      this.table.removeRun(run);
      throw new ApiError(placed.error);
    }
    this.settleRun(run, placed, now);
    return this.view(this.existing(id));
  }

  /**
   * The alarm's pass: decides every due schedule (one commit for all of them), then submits every
   * pending run whose time has come, and plans the next pass.
   */
  async fire(now: number): Promise<void> {
    const link = this.link();
    if (link === null) {
      return;
    }
    const due = this.table.due(now, MAX_DUE_PER_PASS);
    // overlap "skip" needs to know whether the last run is finished; it may live in another shard.
    const running = new Map<string, boolean>();
    await Promise.all(
      due
        .filter((s) => s.spec.overlap === "skip")
        .map(async (s) => running.set(s.id, await this.isRunning(s, link))),
    );
    const reread = running.size > 0; // a call may have changed a schedule during those awaits
    this.transaction(() => {
      const decided: { id: string; decision: Decision; runs: PendingRun[] }[] = [];
      for (const found of due) {
        const s = reread ? this.table.get(found.id) : found;
        if (s === null || s.nextRunAt === null || s.nextRunAt > now) {
          continue;
        }
        try {
          const decision = decide(
            {
              timing: timingOf(s.spec),
              overlap: s.spec.overlap,
              catchUp: s.spec.catchUp,
              paused: s.paused,
              cursor: s.cursor,
            },
            now,
            running.get(s.id) ?? false,
          );
          decided.push({ id: s.id, decision, runs: decision.run.map((slot) => this.runOf(s, slot, now)) });
        } catch (error) {
          // One bad schedule must not stop the others: it stops, with the reason shown.
          this.logError(s.id, error);
          this.table.save({ ...s, nextRunAt: null, lastError: `stopped: ${String(error)}`.slice(0, 1000) });
        }
      }
      this.table.applyDecisions(decided);
    });
    if (due.length === MAX_DUE_PER_PASS) {
      this.dueAt(now);
    }
    await this.submitPending(now, link);
    this.planAlarm();
  }

  /** Sets the alarm for the next slot or run to submit again. */
  planAlarm(): void {
    const at = this.table.nextDue();
    if (at !== null) {
      this.dueAt(at);
    }
  }

  private requireLink(): ScheduleLink {
    const link = this.link();
    if (link === null) {
      throw ApiError.of("not_found", "this region no longer exists");
    }
    return link;
  }

  /** Whether the schedule's previous run is unfinished: decided and not yet stored, or its task is live. */
  private async isRunning(s: ScheduleRecord, link: ScheduleLink): Promise<boolean> {
    if (this.table.hasPendingRun(s.id)) {
      return true;
    }
    if (s.lastTaskId === null) {
      return false;
    }
    if (regionOfTaskId(s.lastTaskId) === this.region()) {
      const task = this.tasks.get(s.lastTaskId);
      return task !== null && LIVE.has(task.status);
    }
    try {
      const status = await link.taskStatus(s.principal, s.lastTaskId);
      return status !== null && LIVE.has(status);
    } catch (error) {
      this.logError(s.id, error);
      return false; // unknown: the run goes ahead (a skipped slot is lost for good)
    }
  }

  /** The run of one slot: the schedule's task with the slot's idempotency key and the schedule's id. */
  private runOf(s: ScheduleRecord, slot: number, now: number): PendingRun {
    const task = s.spec.task as SubmitTaskInput;
    return {
      scheduleId: s.id,
      slot,
      body: { ...task, idempotencyKey: slotKey(s.id, slot), scheduleId: s.id },
      principal: s.principal,
      createdAt: now,
      attempts: 0,
      retryAt: now,
    };
  }

  /** Submits the pending runs whose time has come, a batch per token, and records each outcome. */
  private async submitPending(now: number, link: ScheduleLink): Promise<void> {
    const runs = this.table
      .pendingRuns(now, MAX_RUNS_PER_SUBMIT)
      .filter((r) => !this.submitting.has(runKey(r)));
    const byToken = new Map<string, PendingRun[]>();
    for (const run of runs) {
      const group = byToken.get(run.principal.tokenId) ?? [];
      group.push(run);
      byToken.set(run.principal.tokenId, group);
    }
    await Promise.all(
      [...byToken.values()].map(async (group) => {
        for (const run of group) {
          this.submitting.add(runKey(run));
        }
        let placed: Placed[];
        try {
          placed = await this.submit(link, group[0]!.principal, group);
        } finally {
          for (const run of group) {
            this.submitting.delete(runKey(run));
          }
        }
        this.transaction(() => {
          group.forEach((run, i) => {
            this.settleRun(run, placed[i]!, now);
          });
        });
      }),
    );
  }

  /** Places runs; a failure of placement itself counts as a retryable error for each. */
  private async submit(link: ScheduleLink, principal: Principal, runs: PendingRun[]): Promise<Placed[]> {
    try {
      return await link.place(
        principal,
        runs.map((r) => r.body),
      );
    } catch (error) {
      const body: ErrorBody = {
        code: "internal",
        message: `could not submit: ${String(error)}`.slice(0, 500),
      };
      return runs.map(() => ({ error: body }));
    }
  }

  /** A run's submit answered: its task is the schedule's last, or it is tried again, or given up (with the reason shown). */
  private settleRun(run: PendingRun, placed: Placed, now: number): void {
    const s = this.table.get(run.scheduleId);
    if ("task" in placed) {
      this.table.removeRun(run);
      this.record({
        type: "schedule.fired",
        tenant: tenantOf(run.principal),
        at: now,
        scheduleId: run.scheduleId,
        slot: run.slot,
        taskId: placed.task.id,
        region: placed.task.region,
      });
      if (s !== null) {
        const newest = s.lastRunAt === null || run.slot >= s.lastRunAt;
        this.table.save({
          ...s,
          lastRunAt: newest ? run.slot : s.lastRunAt,
          lastTaskId: newest ? placed.task.id : s.lastTaskId,
          lastError: null,
          // Once per run: the pending row goes in this same commit (a repeat after a restart finds
          // the task stored before, created: false, and still counts here once).
          runs: s.runs + 1,
        });
      }
      return;
    }
    const retryAt = runRetryAt(placed.error.code, run.attempts, run.createdAt, now);
    const at = new Date(run.slot).toISOString();
    if (retryAt !== null && s !== null) {
      this.table.retryRun(run, retryAt);
      this.dueAt(retryAt);
      const lastError = `run of ${at}: ${placed.error.message} (trying again)`.slice(0, 1000);
      this.table.save({ ...s, lastError });
      return;
    }
    this.table.removeRun(run);
    if (s !== null) {
      this.table.save({ ...s, lastError: `run of ${at}: ${placed.error.message}`.slice(0, 1000) });
    }
  }
}

function runKey(run: PendingRun): string {
  return `${run.scheduleId}:${run.slot}`;
}

export type { ScheduleSpec };
