import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  CATCH_UP_CAP,
  type CatchUpMode,
  decide,
  homeRegion,
  nextSlotAfter,
  ON_TIME_GRACE_MS,
  type OverlapMode,
  RUN_RETRY_WINDOW_MS,
  recentSlots,
  runRetryAt,
  type ScheduleState,
  slotKey,
  type Timing,
  timingProblems,
} from "../../src/core/schedules";

const iso = (t: number | null) => (t === null ? null : new Date(t).toISOString());
const at = (text: string) => Date.parse(text);
const cron = (
  expression: string,
  timezone = "UTC",
  startAt: number | null = null,
  endAt: number | null = null,
): Timing => ({
  cadence: { kind: "cron", cron: expression, timezone },
  startAt,
  endAt,
});
const every = (
  everyMs: number,
  anchor: number,
  startAt: number | null = null,
  endAt: number | null = null,
): Timing => ({
  cadence: { kind: "every", everyMs, anchor },
  startAt,
  endAt,
});

/** The first `n` slots after `from`, as ISO strings. */
function slots(timing: Timing, from: string, n: number): (string | null)[] {
  const out: (string | null)[] = [];
  let t: number | null = at(from);
  for (let i = 0; i < n && t !== null; i++) {
    t = nextSlotAfter(timing, t);
    out.push(iso(t));
  }
  return out;
}

describe("schedule slots (src/core/schedules.ts, croner)", () => {
  // Europe/Paris: 2026-03-29 02:00 CET → 03:00 CEST (gap); 2026-10-25 03:00 CEST → 02:00 CET (repeat).
  it("Europe/Paris spring forward: a fixed time in the gap runs at the gap's end; an interval skips the gap", () => {
    expect(slots(cron("30 2 * * *", "Europe/Paris"), "2026-03-28T12:00:00Z", 3)).toEqual([
      "2026-03-29T01:00:00.000Z", // 03:00 CEST, the first valid time after 02:30 that does not exist
      "2026-03-30T00:30:00.000Z", // 02:30 CEST
      "2026-03-31T00:30:00.000Z",
    ]);
    expect(slots(cron("*/30 * * * *", "Europe/Paris"), "2026-03-29T00:00:00Z", 3)).toEqual([
      "2026-03-29T00:30:00.000Z", // 01:30 CET
      "2026-03-29T01:00:00.000Z", // 03:00 CEST: 02:00 and 02:30 never happened
      "2026-03-29T01:30:00.000Z",
    ]);
  });

  it("Europe/Paris fall back: a fixed time runs once; an interval runs at both occurrences", () => {
    expect(slots(cron("30 2 * * *", "Europe/Paris"), "2026-10-24T12:00:00Z", 2)).toEqual([
      "2026-10-25T00:30:00.000Z", // 02:30 CEST, the first occurrence only
      "2026-10-26T01:30:00.000Z", // 02:30 CET the next day
    ]);
    expect(slots(cron("*/30 * * * *", "Europe/Paris"), "2026-10-25T00:00:00Z", 4)).toEqual([
      "2026-10-25T00:30:00.000Z", // 02:30 CEST
      "2026-10-25T01:00:00.000Z", // 02:00 CET (again)
      "2026-10-25T01:30:00.000Z", // 02:30 CET (again)
      "2026-10-25T02:00:00.000Z", // 03:00 CET
    ]);
  });

  // America/New_York: 2026-03-08 02:00 EST → 03:00 EDT; 2026-11-01 02:00 EDT → 01:00 EST.
  it("America/New_York spring forward and fall back", () => {
    expect(slots(cron("30 2 * * *", "America/New_York"), "2026-03-07T12:00:00Z", 2)).toEqual([
      "2026-03-08T07:00:00.000Z", // 03:00 EDT
      "2026-03-09T06:30:00.000Z", // 02:30 EDT
    ]);
    expect(slots(cron("30 1 * * *", "America/New_York"), "2026-10-31T12:00:00Z", 2)).toEqual([
      "2026-11-01T05:30:00.000Z", // 01:30 EDT, once
      "2026-11-02T06:30:00.000Z", // 01:30 EST
    ]);
    expect(slots(cron("0,30 1 * * *", "America/New_York"), "2026-11-01T05:00:00Z", 4)).toEqual([
      "2026-11-01T05:30:00.000Z", // 01:30 EDT
      "2026-11-01T06:00:00.000Z", // 01:00 EST (a list is not a fixed time: both occurrences)
      "2026-11-01T06:30:00.000Z", // 01:30 EST
      "2026-11-02T06:00:00.000Z",
    ]);
  });

  it("an interval is elapsed time, whatever the zone's clock does", () => {
    const anchor = at("2026-03-29T00:30:00Z");
    expect(slots(every(3_600_000, anchor), "2026-03-29T00:00:00Z", 3)).toEqual([
      "2026-03-29T00:30:00.000Z",
      "2026-03-29T01:30:00.000Z",
      "2026-03-29T02:30:00.000Z",
    ]);
  });

  it("leap days: 29 February runs only in leap years; the last day of February is the 28th or the 29th", () => {
    expect(slots(cron("0 12 29 2 *"), "2025-01-01T00:00:00Z", 3)).toEqual([
      "2028-02-29T12:00:00.000Z",
      "2032-02-29T12:00:00.000Z",
      "2036-02-29T12:00:00.000Z",
    ]);
    expect(slots(cron("0 0 L 2 *", "Europe/Paris"), "2027-01-01T00:00:00Z", 2)).toEqual([
      "2027-02-27T23:00:00.000Z", // 28 February 2027, midnight in Paris
      "2028-02-28T23:00:00.000Z", // 29 February 2028
    ]);
    // Daily at noon across 28 February → 29 February → 1 March 2028.
    expect(slots(cron("0 12 * * *"), "2028-02-28T00:00:00Z", 3)).toEqual([
      "2028-02-28T12:00:00.000Z",
      "2028-02-29T12:00:00.000Z",
      "2028-03-01T12:00:00.000Z",
    ]);
    expect(slots(every(86_400_000, at("2028-02-28T12:00:00Z")), "2028-02-28T00:00:00Z", 3)).toEqual([
      "2028-02-28T12:00:00.000Z",
      "2028-02-29T12:00:00.000Z",
      "2028-03-01T12:00:00.000Z",
    ]);
  });

  it("6 fields read seconds first", () => {
    expect(slots(cron("*/15 * * * * *"), "2026-01-01T00:00:00Z", 3)).toEqual([
      "2026-01-01T00:00:15.000Z",
      "2026-01-01T00:00:30.000Z",
      "2026-01-01T00:00:45.000Z",
    ]);
  });

  it("startAt is inclusive, endAt exclusive", () => {
    const startAt = at("2026-01-01T00:05:00Z");
    const endAt = at("2026-01-01T00:15:00Z");
    expect(slots(cron("*/5 * * * *", "UTC", startAt, endAt), "2026-01-01T00:00:00Z", 3)).toEqual([
      "2026-01-01T00:05:00.000Z",
      "2026-01-01T00:10:00.000Z",
      null,
    ]);
    expect(slots(every(5 * 60_000, startAt, startAt, endAt), "2026-01-01T00:00:00Z", 3)).toEqual([
      "2026-01-01T00:05:00.000Z",
      "2026-01-01T00:10:00.000Z",
      null,
    ]);
  });

  it("recentSlots gives the most recent ones, bounded, and says whether older ones were left out", () => {
    const t = every(1000, 1000);
    expect(recentSlots(t, 0, 10_500, 3)).toEqual({ slots: [8000, 9000, 10_000], more: true });
    expect(recentSlots(t, 7000, 10_000, 3)).toEqual({ slots: [8000, 9000, 10_000], more: false });
    expect(recentSlots(cron("* * * * *"), 0, 180_000, 2)).toEqual({ slots: [120_000, 180_000], more: true });
    // A week of every-second slots costs no more than the limit.
    expect(recentSlots(t, 0, 7 * 86_400_000, 5).slots).toHaveLength(5);
  });
});

describe("validating a schedule's timing", () => {
  const paths = (input: Parameters<typeof timingProblems>[0]) => timingProblems(input).map((p) => p.path);
  it("needs exactly one of cron and everyMs, a readable cron, a known zone, and endAt after startAt", () => {
    expect(paths({ cron: "*/5 * * * *" })).toEqual([]);
    expect(paths({ cron: "0 9 * * 1-5", timezone: "Europe/Paris" })).toEqual([]);
    expect(paths({ everyMs: 1000, startAt: 1, endAt: 2 })).toEqual([]);
    expect(paths({})).toEqual(["cron"]);
    expect(paths({ cron: "* * * * *", everyMs: 5000 })).toEqual(["cron"]);
    expect(paths({ cron: "61 * * * *" })).toEqual(["cron"]);
    expect(paths({ cron: "* * * *" })).toEqual(["cron"]);
    expect(paths({ cron: "* * * * * * *" })).toEqual(["cron"]);
    expect(paths({ cron: "0 0 31 2 *" })).toEqual(["cron"]); // never matches
    expect(paths({ cron: "* * * * *", timezone: "Europe/Atlantis" })).toEqual(["timezone"]);
    expect(paths({ everyMs: 5000, timezone: "UTC" })).toEqual(["timezone"]);
    expect(paths({ everyMs: 999 })).toEqual(["everyMs"]);
    expect(paths({ everyMs: 5000, startAt: 10, endAt: 10 })).toEqual(["endAt"]);
  });
});

const state = (timing: Timing, over: Partial<ScheduleState> = {}): ScheduleState => ({
  timing,
  overlap: "allow",
  catchUp: "none",
  paused: false,
  cursor: 0,
  ...over,
});

describe("deciding which slots run", () => {
  const minute = every(60_000, 60_000); // slots at 1, 2, 3 ... minutes
  it("runs the slot that has come, on time or a little late, and moves past it", () => {
    expect(decide(state(minute), 60_000, false)).toEqual({
      run: [60_000],
      skipped: 0,
      cursor: 60_000,
      nextRunAt: 120_000,
    });
    expect(decide(state(minute), 60_000 + ON_TIME_GRACE_MS, false).run).toEqual([60_000]);
    expect(decide(state(minute, { cursor: 60_000 }), 60_500, false)).toEqual({
      run: [],
      skipped: 0,
      cursor: 60_500,
      nextRunAt: 120_000,
    });
  });

  it("after downtime: none skips them all, latest runs the newest, all runs each", () => {
    const now = 10 * 60_000 + 30_000; // ten slots missed, the newest 30 s ago
    expect(decide(state(minute, { catchUp: "none" }), now, false)).toMatchObject({
      run: [],
      skipped: 10,
      nextRunAt: 660_000,
    });
    expect(decide(state(minute, { catchUp: "latest" }), now, false)).toMatchObject({
      run: [600_000],
      skipped: 9,
      nextRunAt: 660_000,
    });
    expect(decide(state(minute, { catchUp: "all" }), now, false)).toMatchObject({
      run: Array.from({ length: 10 }, (_, i) => (i + 1) * 60_000),
      skipped: 0,
    });
    const capped = decide(state(every(1000, 1000), { catchUp: "all" }), 1_000_000, false);
    expect(capped.run).toHaveLength(CATCH_UP_CAP);
    expect(capped.run.at(-1)).toBe(1_000_000);
    expect(capped.skipped).toBe(1000 - CATCH_UP_CAP);
  });

  it("overlap skip: nothing runs while the last run is unfinished; of several due, only the newest", () => {
    expect(decide(state(minute, { overlap: "skip" }), 60_000, true)).toMatchObject({
      run: [],
      skipped: 1,
      cursor: 60_000,
    });
    expect(decide(state(minute, { overlap: "skip", catchUp: "all" }), 300_000, false).run).toEqual([300_000]);
    expect(decide(state(minute, { overlap: "allow" }), 60_000, true).run).toEqual([60_000]);
  });

  it("paused: due slots are skipped and there is no next run", () => {
    expect(decide(state(minute, { paused: true }), 120_000, false)).toMatchObject({
      run: [],
      skipped: 2,
      nextRunAt: null,
    });
  });

  it("past endAt: nothing more", () => {
    const ended = every(60_000, 60_000, null, 120_000);
    expect(decide(state(ended), 60_000, false)).toEqual({
      run: [60_000],
      skipped: 0,
      cursor: 60_000,
      nextRunAt: null,
    });
  });
});

// ---- properties, against a brute-force model of the slots ----

const CRONS = ["* * * * *", "*/7 * * * *", "0 */3 * * *", "30 2 * * *", "*/20 * 1-3 * * *", "0,30 1,2 * * *"];
const ZONES = ["UTC", "Europe/Paris", "America/New_York", "Australia/Lord_Howe"];
const DAY = 86_400_000;

const timingArb: fc.Arbitrary<Timing> = fc.oneof(
  fc
    .record({ expression: fc.constantFrom(...CRONS), zone: fc.constantFrom(...ZONES) })
    .map(({ expression, zone }) => cron(expression, zone)),
  fc
    .record({
      everyMs: fc.integer({ min: 1000, max: 3 * 3_600_000 }),
      anchor: fc.integer({ min: 0, max: DAY }),
    })
    .map(({ everyMs, anchor }) => every(everyMs, anchor)),
);

// Around the 2026 DST changes of Paris and New York, so gaps and repeats are crossed often.
const originArb = fc.constantFrom(
  at("2026-03-07T20:00:00Z"),
  at("2026-03-28T20:00:00Z"),
  at("2026-10-24T20:00:00Z"),
  at("2026-10-31T20:00:00Z"),
  at("2028-02-28T20:00:00Z"),
);

/** Every slot in (from, to], by stepping nextSlotAfter (the model). */
function allSlots(timing: Timing, from: number, to: number): number[] {
  const out: number[] = [];
  for (let t = nextSlotAfter(timing, from); t !== null && t <= to; t = nextSlotAfter(timing, t)) {
    out.push(t);
  }
  return out;
}

describe("schedule properties (fast-check)", () => {
  it("slots strictly increase, and recentSlots agrees with stepping slot by slot", () => {
    fc.assert(
      fc.property(
        timingArb,
        originArb,
        fc.integer({ min: 1, max: DAY }),
        fc.integer({ min: 1, max: 30 }),
        (timing, origin, span, limit) => {
          const model = allSlots(timing, origin, origin + span);
          for (let i = 1; i < model.length; i++) {
            expect(model[i]!).toBeGreaterThan(model[i - 1]!);
          }
          const recent = recentSlots(timing, origin, origin + span, limit);
          expect(recent.slots).toEqual(model.slice(-limit));
          expect(recent.more).toBe(model.length > limit);
        },
      ),
      { numRuns: 60 },
    );
  }, 60_000);

  const alarmsArb = fc.array(fc.integer({ min: 1, max: 90 * 60_000 }), { minLength: 1, maxLength: 6 });
  const modeArb = fc.constantFrom<CatchUpMode>("none", "latest", "all");
  const overlapArb = fc.constantFrom<OverlapMode>("allow", "skip");

  it("whatever the alarms' times, no slot runs twice, every run is a real slot, and none runs early", () => {
    fc.assert(
      fc.property(
        timingArb,
        originArb,
        alarmsArb,
        modeArb,
        overlapArb,
        fc.array(fc.boolean()),
        (timing, origin, gaps, catchUp, overlap, busy) => {
          let s = state(timing, { catchUp, overlap, cursor: origin });
          let now = origin;
          const ran: number[] = [];
          gaps.forEach((gap, i) => {
            now += gap;
            const decision = decide(s, now, busy[i] ?? false);
            for (const slot of decision.run) {
              expect(slot).toBeLessThanOrEqual(now);
              expect(slot).toBeGreaterThan(s.cursor);
              if (catchUp === "none") {
                expect(now - slot).toBeLessThanOrEqual(ON_TIME_GRACE_MS);
              }
            }
            ran.push(...decision.run);
            if (decision.nextRunAt !== null) {
              expect(decision.nextRunAt).toBeGreaterThan(now);
            }
            s = { ...s, cursor: decision.cursor };
          });
          expect(new Set(ran).size).toBe(ran.length);
          const model = new Set(allSlots(timing, origin, now));
          expect(ran.every((slot) => model.has(slot))).toBe(true);
        },
      ),
      { numRuns: 60 },
    );
  }, 60_000);

  it("catchUp all runs every slot exactly once while no gap misses more than the cap", () => {
    fc.assert(
      fc.property(timingArb, originArb, alarmsArb, (timing, origin, gaps) => {
        let s = state(timing, { catchUp: "all", cursor: origin });
        let now = origin;
        const ran: number[] = [];
        for (const gap of gaps) {
          const target = now + gap;
          fc.pre(allSlots(timing, now, target).length <= CATCH_UP_CAP);
          now = target;
          const decision = decide(s, now, false);
          ran.push(...decision.run);
          s = { ...s, cursor: decision.cursor };
        }
        expect(ran).toEqual(allSlots(timing, origin, now));
      }),
      { numRuns: 60 },
    );
  }, 60_000);
});

describe("the rest of the core", () => {
  it("a slot's key is schedule:{id}:{slotTime}", () => {
    expect(slotKey("nightly", 1_764_172_800_000)).toBe("schedule:nightly:1764172800000");
  });

  it("the home region: the pinned one, else the nearest to the origin, else one chosen by id", () => {
    const regions = [
      { id: "eu-west", lat: 53.35, lon: -6.26 },
      { id: "us-east", lat: 38.9, lon: -77.04 },
    ];
    expect(homeRegion("s", "us-east", { lat: 48.85, lon: 2.35 }, regions)).toBe("us-east");
    expect(homeRegion("s", undefined, { lat: 48.85, lon: 2.35 }, regions)).toBe("eu-west");
    expect(homeRegion("s", undefined, { lat: 40.7, lon: -74 }, regions)).toBe("us-east");
    expect(homeRegion("s", undefined, null, [])).toBeNull();
    const chosen = homeRegion("s", undefined, null, regions);
    expect(homeRegion("s", undefined, null, [...regions].reverse())).toBe(chosen); // order does not matter
    const spread = new Set(
      Array.from({ length: 50 }, (_, i) => homeRegion(`s${i}`, undefined, null, regions)),
    );
    expect(spread.size).toBe(2);
  });

  it("a run whose submit failed is tried again with back-off while it may succeed, within the window", () => {
    expect(runRetryAt("no_healthy_region", 0, 0, 5)).toBe(1005);
    expect(runRetryAt("no_healthy_region", 3, 0, 5)).toBe(8005);
    expect(runRetryAt("internal", 10, 0, 5)).toBe(30_005);
    expect(runRetryAt("not_found", 0, 0, 5)).toBeNull();
    expect(runRetryAt("invalid_request", 0, 0, 5)).toBeNull();
    expect(runRetryAt("no_healthy_region", 0, 0, RUN_RETRY_WINDOW_MS)).toBeNull();
  });
});
