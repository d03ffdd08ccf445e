import { describe, expect, it } from "vitest";
import type { LiveEvent } from "../../dashboard/src/live-events";
import { quantile, TrafficStats, WINDOW_SECONDS } from "../../dashboard/src/traffic-stats";

const T0 = 1_800_000_000_000;

const routed = (taskId: string, at: number): LiveEvent => ({
  type: "task.routed",
  id: "",
  at,
  taskId,
  taskType: "work",
  region: "r",
  origin: null,
  reason: "nearest",
});
const leased = (taskId: string, at: number, attempt = 1): LiveEvent => ({
  type: "task.leased",
  id: "",
  at,
  taskId,
  region: "r",
  nodeId: "n",
  attempt,
});
const succeeded = (taskId: string, at: number): LiveEvent => ({
  type: "task.succeeded",
  id: "",
  at,
  taskId,
  region: "r",
  nodeId: "n",
  attempts: 1,
});
const failed = (taskId: string, at: number, final: boolean): LiveEvent => ({
  type: "task.failed",
  id: "",
  at,
  taskId,
  region: "r",
  nodeId: "n",
  attempts: 1,
  final,
});

describe("throughput and latency from events", () => {
  it("counts per second and in total; a retried attempt is not a failure", () => {
    const stats = new TrafficStats();
    for (const e of [
      routed("a", T0),
      routed("b", T0 + 100),
      routed("c", T0 + 1100),
      succeeded("a", T0 + 1200),
      failed("b", T0 + 1300, false),
      failed("b", T0 + 2100, true),
    ]) {
      stats.record(e);
    }
    expect(stats.counters).toEqual({ routed: 3, succeeded: 1, failed: 1, retried: 1 });
    const series = stats.series(T0 + 2500);
    expect(series.x).toHaveLength(WINDOW_SECONDS);
    expect(series.x.at(-1)).toBe(Math.floor((T0 + 2500) / 1000));
    expect(series.routed.slice(-3)).toEqual([2, 1, 0]);
    expect(series.succeeded.slice(-3)).toEqual([0, 1, 0]);
    expect(series.failed.slice(-3)).toEqual([0, 0, 1]);
  });

  it("measures dispatch (routed → first lease) and completion (routed → succeeded) from server times", () => {
    const stats = new TrafficStats();
    stats.record(routed("a", T0));
    stats.record(leased("a", T0 + 40));
    stats.record(leased("a", T0 + 900, 2)); // a second lease is not a dispatch
    stats.record(succeeded("a", T0 + 950));
    stats.record(leased("unknown", T0 + 60)); // routed before the page connected: no latency
    const series = stats.series(T0 + 999);
    expect(series.dispatchP50.at(-1)).toBe(40);
    expect(series.dispatchP95.at(-1)).toBe(40);
    expect(series.completionP50.at(-1)).toBe(950);
  });

  it("takes the nearest-rank quantile", () => {
    expect(quantile([], 0.5)).toBeNull();
    expect(quantile([5, 1, 3, 2, 4], 0.5)).toBe(3);
    expect(
      quantile(
        [...Array(100).keys()].map((i) => i + 1),
        0.95,
      ),
    ).toBe(95);
  });
});
