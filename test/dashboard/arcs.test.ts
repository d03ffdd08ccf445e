import { describe, expect, it } from "vitest";
import { ARC_LIFETIME_MS, type Arc, ArcSet, arcOpacity } from "../../dashboard/src/arcs";

const arc = (taskId: string, bornAt: number): Arc => ({
  taskId,
  region: "eu-west-1",
  from: { lat: 48.86, lon: 2.35 },
  to: { lat: 53.35, lon: -6.26 },
  reason: "nearest",
  bornAt,
});

describe("arcs fading out", () => {
  it("stay opaque at first, then fade steadily to nothing at the end of their life", () => {
    expect(arcOpacity(0)).toBe(1);
    expect(arcOpacity(ARC_LIFETIME_MS * 0.2)).toBe(1);
    const samples = [0.3, 0.5, 0.7, 0.9].map((share) => arcOpacity(ARC_LIFETIME_MS * share));
    for (let i = 1; i < samples.length; i++) {
      expect(samples[i]!).toBeLessThan(samples[i - 1]!);
    }
    expect(samples.every((o) => o > 0 && o < 1)).toBe(true);
    expect(arcOpacity(ARC_LIFETIME_MS)).toBe(0);
    expect(arcOpacity(ARC_LIFETIME_MS * 5)).toBe(0);
  });

  it("are dropped once faded, and the oldest go first past the cap", () => {
    const set = new ArcSet(1000, 3);
    set.add(arc("a", 0));
    set.add(arc("b", 500));
    expect(set.live(900).map((l) => l.arc.taskId)).toEqual(["a", "b"]);
    expect(set.live(1200).map((l) => l.arc.taskId)).toEqual(["b"]);
    for (const id of ["c", "d", "e"]) {
      set.add(arc(id, 1300));
    }
    expect(set.live(1300).map((l) => l.arc.taskId)).toEqual(["c", "d", "e"]);
  });
});
