import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { TokenBuckets } from "../../src/core/token-bucket";

describe("token buckets", () => {
  it("allows a burst, then refills at the rate", () => {
    const buckets = new TokenBuckets({ ratePerSec: 2, burst: 3 });
    expect([0, 0, 0].map(() => buckets.take("a", 1000))).toEqual([0, 0, 0]);
    expect(buckets.take("a", 1000)).toBe(1);
    expect(buckets.take("b", 1000)).toBe(0); // keys are independent
    expect(buckets.take("a", 1500)).toBe(0); // half a second refills one token
    expect(buckets.take("a", 1500)).toBe(1);
  });

  it("says how many whole seconds to wait", () => {
    const buckets = new TokenBuckets({ ratePerSec: 0.1, burst: 1 });
    expect(buckets.take("a", 0)).toBe(0);
    expect(buckets.take("a", 0)).toBe(10);
  });

  it("forgets full buckets on sweep", () => {
    const buckets = new TokenBuckets({ ratePerSec: 1, burst: 2 });
    buckets.take("a", 0);
    buckets.sweep(500);
    expect(buckets.size).toBe(1);
    buckets.sweep(1000);
    expect(buckets.size).toBe(0);
  });

  it("property: over any window, allowed calls never exceed burst + rate × elapsed", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 50 }),
        fc.integer({ min: 1, max: 20 }),
        fc.array(fc.integer({ min: 0, max: 300 }), { minLength: 1, maxLength: 300 }),
        (ratePerSec, burst, gaps) => {
          const buckets = new TokenBuckets({ ratePerSec, burst });
          let now = 0;
          let allowed = 0;
          for (const gap of gaps) {
            now += gap;
            if (buckets.take("k", now) === 0) {
              allowed++;
            }
          }
          expect(allowed).toBeLessThanOrEqual(burst + (ratePerSec * now) / 1000 + 1e-9);
        },
      ),
    );
  });

  it("spends a cost all or nothing (a batch's items), and a cost over the burst costs the burst", () => {
    const buckets = new TokenBuckets({ ratePerSec: 10, burst: 100 });
    expect(buckets.take("k", 0, 60)).toBe(0);
    expect(buckets.take("k", 0, 60)).toBe(2); // 40 left: 20 more take 2 s
    expect(buckets.take("k", 0, 40)).toBe(0); // the refused call spent nothing
    expect(buckets.take("k", 0, 1)).toBe(1);
    expect(buckets.take("big", 0, 500)).toBe(0); // a full bucket lets it through once
    expect(buckets.take("big", 0, 500)).toBe(10);
  });

  it("never lets more items through than burst + rate × time, whatever the costs", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 50 }),
        fc.integer({ min: 1, max: 200 }),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 1, max: 100 })), {
          minLength: 1,
          maxLength: 200,
        }),
        (ratePerSec, burst, calls) => {
          const buckets = new TokenBuckets({ ratePerSec, burst });
          let now = 0;
          let spent = 0;
          for (const [gap, cost] of calls) {
            now += gap;
            if (buckets.take("k", now, cost) === 0) {
              spent += Math.min(cost, burst);
            }
          }
          expect(spent).toBeLessThanOrEqual(burst + (ratePerSec * now) / 1000 + 1e-6);
        },
      ),
    );
  });
});
