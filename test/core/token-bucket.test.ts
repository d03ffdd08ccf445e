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
});
