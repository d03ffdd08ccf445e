/**
 * Schedules (API-v2 §5), pure: when a schedule's slots fall, and which of them run when its shard
 * looks at it at `now`. No clock, no I/O: the shard gives `now` and stores what this returns.
 *
 * Cron expressions and time zones are read by croner (zero dependencies, IANA zones through Intl),
 * never by hand. Its DST rules, checked in test/core/schedules.test.ts: a fixed-time expression
 * (`30 2 * * *`) whose time falls in a spring-forward gap runs at the first valid time after the
 * gap, and once (the first occurrence) when a fall-back repeats its time; an interval expression
 * (`*\/30 * * * *`) skips the times in a gap and runs at both occurrences of a repeated time.
 */
import { Cron } from "croner";
import { greatCircleKm, type LatLon } from "./geo-routing";

export const OVERLAP_MODES = ["allow", "skip"] as const;
export type OverlapMode = (typeof OVERLAP_MODES)[number];

export const CATCH_UP_MODES = ["none", "latest", "all"] as const;
export type CatchUpMode = (typeof CATCH_UP_MODES)[number];

/** `catchUp: "all"` runs at most this many missed slots of one schedule (the most recent ones). */
export const CATCH_UP_CAP = 100;

/**
 * A slot reached at most this late is on time, whatever `catchUp` says: an alarm is never exact,
 * and 1,000 schedules due in one second are fired over some hundreds of milliseconds.
 */
export const ON_TIME_GRACE_MS = 10_000;

/** The smallest `everyMs`: one second, as cron's finest field. */
export const MIN_EVERY_MS = 1000;

/** When a schedule's slots fall: a cron expression in a time zone, or a fixed interval from an anchor. */
export type Cadence =
  | { kind: "cron"; cron: string; timezone: string }
  | { kind: "every"; everyMs: number; anchor: number };

/** A cadence bounded by startAt (inclusive) and endAt (exclusive). */
export interface Timing {
  cadence: Cadence;
  startAt: number | null;
  endAt: number | null;
}

/** The schedule's state as the shard keeps it, what `decide` reads. */
export interface ScheduleState {
  timing: Timing;
  overlap: OverlapMode;
  catchUp: CatchUpMode;
  paused: boolean;
  /** Every slot at or before this time has been handled (run or skipped); slots after it have not. */
  cursor: number;
}

/** What to do at `now`: the slots to run (ascending), the new cursor and the next due time. */
export interface Decision {
  run: number[];
  /** Due slots passed over (missed beyond the grace, overlapping, paused, past the cap); a cron's count stops at MAX_COUNTED_SLOTS. */
  skipped: number;
  cursor: number;
  nextRunAt: number | null;
}

/** A cron expression with its time zone, or the reason it cannot be read. */
export function parseCron(
  cron: string,
  timezone: string,
): { ok: true; cron: Cron } | { ok: false; error: string } {
  const fields = cron.trim().split(/\s+/).length;
  if (fields !== 5 && fields !== 6) {
    return { ok: false, error: `a cron expression has 5 fields (or 6 with seconds first), got ${fields}` };
  }
  if (!isTimeZone(timezone)) {
    return {
      ok: false,
      error: `unknown time zone ${JSON.stringify(timezone)} (use an IANA name such as Europe/Paris)`,
    };
  }
  try {
    const parsed = new Cron(cron, { timezone, mode: "5-or-6-parts", paused: true });
    // An expression that can never match (30 February) has no next run: refuse it now.
    if (parsed.nextRun(new Date(0)) === null) {
      return { ok: false, error: "the cron expression never matches" };
    }
    return { ok: true, cron: parsed };
  } catch (error) {
    return { ok: false, error: error instanceof Error ? error.message : String(error) };
  }
}

/** Whether `timezone` is an IANA zone the runtime knows. */
export function isTimeZone(timezone: string): boolean {
  try {
    new Intl.DateTimeFormat("en", { timeZone: timezone });
    return true;
  } catch {
    return false;
  }
}

/** Parsed expressions by expression and zone: parsing costs more than finding the next run. */
const parsedCache = new Map<string, Cron>();

function cronOf(cadence: Extract<Cadence, { kind: "cron" }>): Cron {
  const key = `${cadence.timezone} ${cadence.cron}`;
  let cron = parsedCache.get(key);
  if (cron === undefined) {
    const parsed = parseCron(cadence.cron, cadence.timezone);
    if (!parsed.ok) {
      throw new Error(`stored schedule has a bad cron expression: ${parsed.error}`);
    }
    if (parsedCache.size >= 1000) {
      parsedCache.clear();
    }
    cron = parsed.cron;
    parsedCache.set(key, cron);
  }
  return cron;
}

/** The first slot strictly after `t`, within startAt/endAt; null when there is none. */
export function nextSlotAfter(timing: Timing, t: number): number | null {
  const from = timing.startAt === null ? t : Math.max(t, timing.startAt - 1);
  let slot: number | null;
  const cadence = timing.cadence;
  if (cadence.kind === "every") {
    const k = from < cadence.anchor ? 0 : Math.floor((from - cadence.anchor) / cadence.everyMs) + 1;
    slot = cadence.anchor + k * cadence.everyMs;
  } else {
    slot = cronOf(cadence).nextRun(new Date(from))?.getTime() ?? null;
  }
  if (slot === null || (timing.endAt !== null && slot >= timing.endAt)) {
    return null;
  }
  return slot;
}

/**
 * The most recent `limit` slots in (after, upTo], ascending, and whether older ones in that range
 * were left out. Bounded work whatever the range (a schedule every second, down for a week).
 */
export function recentSlots(
  timing: Timing,
  after: number,
  upTo: number,
  limit: number,
): { slots: number[]; more: boolean } {
  const low = timing.startAt === null ? after : Math.max(after, timing.startAt - 1);
  const high = timing.endAt === null ? upTo : Math.min(upTo, timing.endAt - 1);
  if (high <= low || limit <= 0) {
    return { slots: [], more: false };
  }
  const cadence = timing.cadence;
  const slots: number[] = [];
  if (cadence.kind === "every") {
    if (high < cadence.anchor) {
      return { slots: [], more: false };
    }
    const last = Math.floor((high - cadence.anchor) / cadence.everyMs);
    for (let k = last; k >= 0 && slots.length <= limit; k--) {
      const slot = cadence.anchor + k * cadence.everyMs;
      if (slot <= low) {
        break;
      }
      slots.push(slot);
    }
  } else {
    // previousRuns looks before its reference: from high + 1, so a slot at `high` itself counts.
    for (const date of cronOf(cadence).previousRuns(limit + 1, new Date(high + 1))) {
      const slot = date.getTime();
      if (slot <= low) {
        break;
      }
      slots.push(slot);
    }
  }
  const more = slots.length > limit;
  return { slots: slots.slice(0, limit).reverse(), more };
}

/** Counting slots one by one stops here (a cron every second, down for a day): the count is then a floor. */
export const MAX_COUNTED_SLOTS = 1000;

/**
 * How many slots fall in (after, before): exact for an interval; for cron, counted one by one up to
 * MAX_COUNTED_SLOTS (bounded work).
 */
export function countSlotsBetween(timing: Timing, after: number, before: number): number {
  if (before <= after) {
    return 0;
  }
  const cadence = timing.cadence;
  if (cadence.kind === "every") {
    const first = nextSlotAfter(timing, after);
    if (first === null || first >= before) {
      return 0;
    }
    const last = before - 1;
    const capped = timing.endAt === null ? last : Math.min(last, timing.endAt - 1);
    return Math.floor((capped - first) / cadence.everyMs) + 1;
  }
  let n = 0;
  for (
    let t = nextSlotAfter(timing, after);
    t !== null && t < before && n < MAX_COUNTED_SLOTS;
    t = nextSlotAfter(timing, t)
  ) {
    n++;
  }
  return n;
}

/**
 * Which due slots run at `now`. Every slot in (cursor, now] is handled exactly once, here: run or
 * skipped, and the cursor moves past them all, so no slot is ever run twice.
 *
 * - `catchUp: "none"`: the most recent due slot runs if it is on time (at most ON_TIME_GRACE_MS
 *   late); missed ones are skipped and the schedule goes on with its next future slot.
 * - `"latest"`: the most recent due slot runs, however late.
 * - `"all"`: every due slot runs, oldest first, at most CATCH_UP_CAP of them (the most recent).
 * - `overlap: "skip"` with the previous run unfinished (`running`): every due slot is skipped; and
 *   of several due at once, only the most recent runs (each would overlap the one before).
 * - paused: nothing runs; due slots are skipped (resuming does not replay a pause).
 */
export function decide(state: ScheduleState, now: number, running: boolean): Decision {
  const { timing } = state;
  const nextRunAt = nextSlotAfter(timing, Math.max(now, state.cursor));
  if (now <= state.cursor) {
    return { run: [], skipped: 0, cursor: state.cursor, nextRunAt: state.paused ? null : nextRunAt };
  }
  const limit = state.catchUp === "all" ? CATCH_UP_CAP : 1;
  const due = recentSlots(timing, state.cursor, now, limit);
  const cursor = now;
  const base = { cursor, nextRunAt: state.paused ? null : nextRunAt };
  // The due slots older than the ones looked at were left out: counted (bounded work).
  const extra = due.more ? countSlotsBetween(timing, state.cursor, due.slots[0]!) : 0;
  if (due.slots.length === 0) {
    return { run: [], skipped: 0, ...base };
  }
  if (state.paused || (state.overlap === "skip" && running)) {
    return { run: [], skipped: due.slots.length + extra, ...base };
  }
  let run = due.slots;
  if (state.catchUp === "none") {
    run = run.filter((slot) => now - slot <= ON_TIME_GRACE_MS);
  }
  if (state.overlap === "skip" && run.length > 1) {
    run = run.slice(-1);
  }
  return { run, skipped: due.slots.length - run.length + extra, ...base };
}

/** The idempotency key of a slot's task (API-v2 §5): the same slot can only ever store one task. */
export function slotKey(scheduleId: string, slot: number): string {
  return `schedule:${scheduleId}:${slot}`;
}

/**
 * Validates the timing fields of a schedule: exactly one of cron and everyMs, a readable cron in a
 * known zone, endAt after startAt, and at least one slot. Returns the problems by field.
 */
export function timingProblems(input: {
  cron?: string;
  timezone?: string;
  everyMs?: number;
  startAt?: number;
  endAt?: number;
}): { path: string; message: string }[] {
  const problems: { path: string; message: string }[] = [];
  if ((input.cron === undefined) === (input.everyMs === undefined)) {
    problems.push({ path: "cron", message: "give exactly one of cron and everyMs" });
  }
  if (input.timezone !== undefined && input.cron === undefined) {
    problems.push({ path: "timezone", message: "timezone applies to cron only" });
  }
  if (input.cron !== undefined) {
    const parsed = parseCron(input.cron, input.timezone ?? "UTC");
    if (!parsed.ok) {
      const zone = parsed.error.startsWith("unknown time zone");
      problems.push({ path: zone ? "timezone" : "cron", message: parsed.error });
    }
  }
  if (input.everyMs !== undefined && (!Number.isSafeInteger(input.everyMs) || input.everyMs < MIN_EVERY_MS)) {
    problems.push({ path: "everyMs", message: `everyMs must be a whole number ≥ ${MIN_EVERY_MS}` });
  }
  if (input.startAt !== undefined && input.endAt !== undefined && input.endAt <= input.startAt) {
    problems.push({ path: "endAt", message: "endAt must be after startAt" });
  }
  return problems;
}

/** The cadence of a valid input; an interval without startAt counts from `now` (first slot one interval later). */
export function cadenceOf(
  input: { cron?: string; timezone?: string; everyMs?: number; startAt?: number },
  now: number,
): Cadence {
  if (input.cron !== undefined) {
    return { kind: "cron", cron: input.cron.trim(), timezone: input.timezone ?? "UTC" };
  }
  const everyMs = input.everyMs!;
  return { kind: "every", everyMs, anchor: input.startAt ?? now + everyMs };
}

/** What a schedule is, as stored (the PUT body, read): `T` is the task body each run submits. */
export interface ScheduleSpec<T = Record<string, unknown>> {
  cron: string | null;
  timezone: string | null;
  everyMs: number | null;
  /** The first slot of an interval schedule (startAt, or one interval after the PUT); null for cron. */
  anchor: number | null;
  task: T;
  overlap: OverlapMode;
  catchUp: CatchUpMode;
  startAt: number | null;
  endAt: number | null;
  /** Where the PUT came from (the caller's location): runs are routed as if submitted from there. */
  origin: { lat: number; lon: number } | null;
}

/** The stored spec of a valid PUT body at `now`. */
export function specOf<T>(
  input: {
    cron?: string;
    timezone?: string;
    everyMs?: number;
    task: T;
    overlap: OverlapMode;
    catchUp: CatchUpMode;
    startAt?: number;
    endAt?: number;
  },
  origin: { lat: number; lon: number } | null,
  now: number,
): ScheduleSpec<T> {
  const cadence = cadenceOf(input, now);
  return {
    cron: cadence.kind === "cron" ? cadence.cron : null,
    timezone: cadence.kind === "cron" ? cadence.timezone : null,
    everyMs: cadence.kind === "every" ? cadence.everyMs : null,
    anchor: cadence.kind === "every" ? cadence.anchor : null,
    task: input.task,
    overlap: input.overlap,
    catchUp: input.catchUp,
    startAt: input.startAt ?? null,
    endAt: input.endAt ?? null,
    origin,
  };
}

/** The timing of a stored spec. */
export function timingOf(spec: ScheduleSpec<unknown>): Timing {
  const cadence: Cadence =
    spec.cron !== null
      ? { kind: "cron", cron: spec.cron, timezone: spec.timezone ?? "UTC" }
      : { kind: "every", everyMs: spec.everyMs!, anchor: spec.anchor! };
  return { cadence, startAt: spec.startAt, endAt: spec.endAt };
}

/** A decided run is submitted again for this long when no region can take it now; then it is given up. */
export const RUN_RETRY_WINDOW_MS = 10 * 60_000;

/** Error codes after which a run's submit is tried again (the task may be storable later). */
const RETRYABLE = new Set(["no_healthy_region", "unavailable", "internal", "rate_limited"]);

/**
 * When to submit a run again after its submit failed with `code` (attempts so far, when it was
 * decided), or null to give it up: back-off 1 s, 2 s, 4 s ... at most 30 s, within RUN_RETRY_WINDOW_MS.
 */
export function runRetryAt(code: string, attempts: number, decidedAt: number, now: number): number | null {
  if (!RETRYABLE.has(code) || now - decidedAt >= RUN_RETRY_WINDOW_MS) {
    return null;
  }
  return now + Math.min(30_000, 1000 * 2 ** Math.min(attempts, 5));
}

/**
 * The region whose shard keeps and fires a new schedule: the task's pinned region; else the region
 * nearest to where its tasks come from (the task's `location`, else the PUT's caller); else one
 * picked by the schedule's id (FNV-1a), so schedules without a place spread over the regions. Health
 * does not matter: a shard fires while its region exists, and runs are routed like any task.
 */
export function homeRegion(
  id: string,
  pinned: string | undefined,
  from: LatLon | null,
  regions: readonly { id: string; lat: number; lon: number }[],
): string | null {
  if (pinned !== undefined) {
    return pinned;
  }
  if (regions.length === 0) {
    return null;
  }
  if (from !== null) {
    let best = regions[0]!;
    for (const region of regions) {
      if (greatCircleKm(from, region) < greatCircleKm(from, best)) {
        best = region;
      }
    }
    return best.id;
  }
  const sorted = [...regions].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  let hash = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) {
    hash = Math.imul(hash ^ id.charCodeAt(i), 0x01000193) >>> 0;
  }
  return sorted[hash % sorted.length]!.id;
}
