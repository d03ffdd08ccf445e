import { describe, expect, it } from "vitest";
import {
  eraseRefusal,
  isPastRetention,
  nextPruneAt,
  PRUNE_RESUME_MS,
  PRUNE_SLICE_ROWS,
  pruneCutoff,
} from "../../src/core/retention";
import { TASK_STATUSES } from "../../src/core/task-lifecycle";

const DAY = 86_400_000;
const WEEK = 7 * DAY;

describe("retention (src/core/retention.ts)", () => {
  it("a row is due exactly when its finish (or death) is the retention old", () => {
    const now = 10 * WEEK;
    expect(pruneCutoff(now, WEEK)).toBe(9 * WEEK);
    expect(isPastRetention(9 * WEEK, now, WEEK)).toBe(true);
    expect(isPastRetention(9 * WEEK + 1, now, WEEK)).toBe(false);
    expect(isPastRetention(now, now, WEEK)).toBe(false);
  });

  it("comes back at once while a slice came back full, since more may be due", () => {
    expect(
      nextPruneAt({ deleted: PRUNE_SLICE_ROWS, sliceRows: PRUNE_SLICE_ROWS, oldestLeft: 5 }, 1000, WEEK),
    ).toBe(1000 + PRUNE_RESUME_MS);
  });

  it("otherwise waits until the oldest row left comes of age, or for nothing when none is left", () => {
    const now = 2 * WEEK;
    expect(nextPruneAt({ deleted: 3, sliceRows: 500, oldestLeft: now - DAY }, now, WEEK)).toBe(
      now - DAY + WEEK,
    );
    expect(nextPruneAt({ deleted: 0, sliceRows: 500, oldestLeft: null }, now, WEEK)).toBeNull();
    // An oldest row already past its retention (the shard slept through it): due now, never in the past.
    expect(nextPruneAt({ deleted: 0, sliceRows: 500, oldestLeft: now - 2 * WEEK }, now, WEEK)).toBe(now);
  });

  it("erases on demand only finished tasks", () => {
    const refused = TASK_STATUSES.filter((s) => eraseRefusal(s) !== null);
    expect(refused).toEqual(["scheduled", "queued", "leased"]);
    expect(eraseRefusal("queued")).toBe("task_not_finished");
  });
});
