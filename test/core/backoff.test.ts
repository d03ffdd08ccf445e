import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type BackoffOptions, retryDelayMs } from "../../src/core/backoff";

const always = (x: number) => () => x;
const justBelowOne = 1 - 2 ** -53;

describe("retryDelayMs examples", () => {
  it.each<[string, number, number, BackoffOptions | undefined, number]>([
    ["first retry, lowest jitter", 1, 0, undefined, 500],
    ["first retry, highest jitter", 1, justBelowOne, undefined, 1000],
    ["first retry, middle", 1, 0.5, undefined, 750],
    ["second retry doubles", 2, 0, undefined, 1000],
    ["ninth retry: 256 s, not yet capped", 9, justBelowOne, undefined, 256_000],
    ["tenth retry is capped at 300 s", 10, justBelowOne, undefined, 300_000],
    ["capped, lowest jitter is half the cap", 10, 0, undefined, 150_000],
    ["a huge attempt saturates without overflow", 5000, 0.5, undefined, 225_000],
    ["attempt 0 is treated as 1", 0, 0, undefined, 500],
    ["negative attempt is treated as 1", -3, 0, undefined, 500],
    ["NaN attempt is treated as 1", Number.NaN, 0, undefined, 500],
    ["fractional attempt rounds down", 2.9, 0, undefined, 1000],
    ["custom base and cap", 3, 0, { baseMs: 100, maxMs: 350 }, 175],
    ["odd cap: the lower bound rounds up", 1, 0, { baseMs: 3 }, 2],
    ["odd cap: the upper bound is the cap", 1, justBelowOne, { baseMs: 3 }, 3],
    ["base 0 never waits", 7, 0.9, { baseMs: 0 }, 0],
    ["a broken random() returning 1 still respects the cap", 1, 1, undefined, 1000],
  ])("%s", (_, attempt, r, options, expected) => {
    expect(retryDelayMs(attempt, always(r), options)).toBe(expected);
  });
});

describe("retryDelayMs properties", () => {
  const attemptArb = fc.integer({ min: 1, max: 100 });
  const randomArb = fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true });
  const optionsArb = fc.record(
    { baseMs: fc.integer({ min: 0, max: 100_000 }), maxMs: fc.integer({ min: 0, max: 10_000_000 }) },
    { requiredKeys: [] },
  );
  const capOf = (attempt: number, o: BackoffOptions): number =>
    Math.floor(Math.min(o.maxMs ?? 300_000, (o.baseMs ?? 1000) * 2 ** (attempt - 1)));

  it("property: always an integer in [cap/2, cap], cap = min(maxMs, base * 2^(attempt-1))", () => {
    fc.assert(
      fc.property(attemptArb, randomArb, optionsArb, (attempt, r, options) => {
        const delay = retryDelayMs(attempt, always(r), options);
        const cap = capOf(attempt, options);
        expect(Number.isInteger(delay)).toBe(true);
        expect(delay).toBeGreaterThanOrEqual(cap / 2);
        expect(delay).toBeLessThanOrEqual(cap);
      }),
    );
  });

  it("property: the delay grows with random() (jitter is a monotone map of the draw)", () => {
    fc.assert(
      fc.property(attemptArb, randomArb, randomArb, optionsArb, (attempt, r1, r2, options) => {
        const [lo, hi] = r1 <= r2 ? [r1, r2] : [r2, r1];
        expect(retryDelayMs(attempt, always(lo), options)).toBeLessThanOrEqual(
          retryDelayMs(attempt, always(hi), options),
        );
      }),
    );
  });

  it("property: the fixed half never shrinks as attempts grow (delays are non-decreasing at equal draws)", () => {
    fc.assert(
      fc.property(attemptArb, randomArb, optionsArb, (attempt, r, options) => {
        expect(retryDelayMs(attempt + 1, always(r), options)).toBeGreaterThanOrEqual(
          retryDelayMs(attempt, always(r), options),
        );
      }),
    );
  });

  it("property: deterministic given the random source, which is called exactly once", () => {
    fc.assert(
      fc.property(attemptArb, randomArb, optionsArb, (attempt, r, options) => {
        let calls = 0;
        const random = () => {
          calls++;
          return r;
        };
        const first = retryDelayMs(attempt, random, options);
        expect(calls).toBe(1);
        expect(retryDelayMs(attempt, always(r), options)).toBe(first);
      }),
    );
  });

  it("jitter is uniform over [cap/2, cap]: a seeded run averages ~3/4 of the cap", () => {
    let seed = 42;
    // mulberry32: a tiny seeded PRNG, so the test replays exactly.
    const random = () => {
      seed = (seed + 0x6d2b79f5) | 0;
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
    };
    const samples = 20_000;
    let sum = 0;
    for (let i = 0; i < samples; i++) {
      sum += retryDelayMs(10, random);
    }
    expect(sum / samples / 300_000).toBeCloseTo(0.75, 2);
  });
});
