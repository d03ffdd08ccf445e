import { describe, expect, it } from "vitest";
import { histogramCount } from "../../src/core/histogram";
import {
  emptyTaskMetrics,
  parseTaskMetrics,
  recordAttemptEnd,
  recordFailedAttempt,
  recordLease,
} from "../../src/core/task-metrics";

describe("task metrics", () => {
  it("dispatch time runs from when the task became runnable: the later of its runAt and its storing", () => {
    const m = emptyTaskMetrics();
    recordLease(m, { runAt: 10_000, createdAt: 1_000 }, 12_500); // a delay or back-off due at 10 s
    recordLease(m, { runAt: 0, createdAt: 20_000 }, 20_040); // runAt in the past: stored at 20 s
    expect(m.dispatch.sum).toBeCloseTo(2.5 + 0.04);
    expect(histogramCount(m.dispatch)).toBe(2);
  });

  it("run time runs from the lease; a failed attempt is a retry or a failure", () => {
    const m = emptyTaskMetrics();
    recordAttemptEnd(m, 1_000, 4_000);
    recordFailedAttempt(m, "scheduled");
    recordFailedAttempt(m, "scheduled");
    recordFailedAttempt(m, "failed");
    expect(m.run.sum).toBe(3);
    expect(m).toMatchObject({ retries: 2, completed: { failed: 1, succeeded: 0, canceled: 0 } });
  });

  it("reads back what it saved, and refuses what it did not", () => {
    const m = emptyTaskMetrics();
    m.submitted = 7;
    recordLease(m, { runAt: 0, createdAt: 0 }, 500);
    expect(parseTaskMetrics(JSON.parse(JSON.stringify(m)))).toEqual(m);
    expect(parseTaskMetrics({ ...m, submitted: -1 })).toBeNull();
    expect(parseTaskMetrics({ ...m, completed: { succeeded: 1 } })).toBeNull();
    expect(parseTaskMetrics({ ...m, run: { ...m.run, bounds: [1] } })).toBeNull();
    expect(parseTaskMetrics("x")).toBeNull();
  });
});
