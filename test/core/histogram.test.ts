import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  cumulativeBuckets,
  emptyHistogram,
  histogramCount,
  mergeHistograms,
  observe,
  parseHistogram,
  TASK_SECONDS_BUCKETS,
} from "../../src/core/histogram";

const BOUNDS = [0.1, 1, 10];

describe("histogram with fixed buckets", () => {
  it("counts a value in the first bucket whose bound is at least the value (le is inclusive)", () => {
    const h = emptyHistogram(BOUNDS);
    for (const v of [0, 0.1, 0.5, 1, 10, 11, 1e9]) {
      observe(h, v);
    }
    expect(h.counts).toEqual([2, 2, 1, 2]);
    expect(h.sum).toBeCloseTo(0 + 0.1 + 0.5 + 1 + 10 + 11 + 1e9);
    expect(cumulativeBuckets(h)).toEqual([
      { le: 0.1, count: 2 },
      { le: 1, count: 4 },
      { le: 10, count: 5 },
      { le: Number.POSITIVE_INFINITY, count: 7 },
    ]);
  });

  it("counts a negative or non-finite duration as 0, so _sum never shrinks", () => {
    const h = emptyHistogram(BOUNDS);
    observe(h, -5);
    observe(h, Number.NaN);
    expect(h.counts).toEqual([2, 0, 0, 0]);
    expect(h.sum).toBe(0);
  });

  it("property: merged = observed together; +Inf bucket = count; buckets cumulative", () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: 0, max: 5000, noNaN: true })),
        fc.array(fc.double({ min: 0, max: 5000, noNaN: true })),
        (xs, ys) => {
          const a = emptyHistogram(TASK_SECONDS_BUCKETS);
          const b = emptyHistogram(TASK_SECONDS_BUCKETS);
          const both = emptyHistogram(TASK_SECONDS_BUCKETS);
          for (const x of xs) {
            observe(a, x);
          }
          for (const y of ys) {
            observe(b, y);
          }
          for (const v of [...xs, ...ys]) {
            observe(both, v);
          }
          const merged = mergeHistograms(a, b);
          expect(merged.counts).toEqual(both.counts);
          expect(merged.sum).toBeCloseTo(both.sum, 6);
          const buckets = cumulativeBuckets(merged);
          expect(buckets.at(-1)).toEqual({ le: Number.POSITIVE_INFINITY, count: xs.length + ys.length });
          expect(histogramCount(merged)).toBe(xs.length + ys.length);
          for (let i = 1; i < buckets.length; i++) {
            expect(buckets[i]!.count).toBeGreaterThanOrEqual(buckets[i - 1]!.count);
            expect(buckets[i]!.le).toBeGreaterThan(buckets[i - 1]!.le);
          }
        },
      ),
    );
  });

  it("refuses to merge histograms with different buckets", () => {
    expect(() => mergeHistograms(emptyHistogram(BOUNDS), emptyHistogram([1, 2, 3]))).toThrow(/buckets/);
  });

  it("reads back what it wrote, and nothing saved under other bounds or malformed", () => {
    const h = emptyHistogram(BOUNDS);
    observe(h, 3);
    expect(parseHistogram(JSON.parse(JSON.stringify(h)), BOUNDS)).toEqual(h);
    expect(parseHistogram(JSON.parse(JSON.stringify(h)), [0.1, 1, 5])).toBeNull();
    expect(parseHistogram({ ...h, counts: [1, 2] }, BOUNDS)).toBeNull();
    expect(parseHistogram({ ...h, counts: [1, -1, 0, 0] }, BOUNDS)).toBeNull();
    expect(parseHistogram({ ...h, counts: [1, 0.5, 0, 0] }, BOUNDS)).toBeNull();
    expect(parseHistogram({ ...h, sum: -1 }, BOUNDS)).toBeNull();
    expect(parseHistogram(null, BOUNDS)).toBeNull();
  });
});
