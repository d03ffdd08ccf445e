import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  type Breaker,
  breakerAfter,
  breakerAt,
  breakerRoom,
  CLOSED,
  probeAt,
} from "../../src/core/circuit-breaker";

const POLICY = { failureThreshold: 3, pauseMs: 1000 };

describe("an endpoint's circuit breaker (src/core/circuit-breaker.ts)", () => {
  it("opens after N failures in a row; a success in between starts the count again", () => {
    let b: Breaker = CLOSED;
    b = breakerAfter(b, "failure", 1, POLICY);
    b = breakerAfter(b, "failure", 2, POLICY);
    expect(b).toEqual({ state: "closed", failures: 2, openedAt: null });
    b = breakerAfter(b, "success", 3, POLICY);
    expect(b).toEqual(CLOSED);
    for (const t of [4, 5, 6]) {
      b = breakerAfter(b, "failure", t, POLICY);
    }
    expect(b).toEqual({ state: "open", failures: 3, openedAt: 6 });
    expect(breakerRoom(b, 32)).toBe(0);
  });

  it("is half open after the pause (room for one probe): a success closes it, a failure opens it again", () => {
    const open: Breaker = { state: "open", failures: 3, openedAt: 100 };
    expect(probeAt(open, POLICY)).toBe(1100);
    expect(breakerAt(open, 1099, POLICY)).toBe(open);
    const half = breakerAt(open, 1100, POLICY);
    expect(half.state).toBe("half_open");
    expect(breakerRoom(half, 32)).toBe(1);
    expect(breakerAfter(half, "success", 1200, POLICY)).toEqual(CLOSED);
    const again = breakerAfter(half, "failure", 1200, POLICY);
    expect(again).toEqual({ state: "open", failures: 3, openedAt: 1200 });
    expect(probeAt(again, POLICY)).toBe(2200);
  });

  it("a failure of a delivery started before the opening does not extend the pause", () => {
    const open: Breaker = { state: "open", failures: 3, openedAt: 100 };
    expect(breakerAfter(open, "failure", 500, POLICY)).toBe(open);
  });

  it("property: the room is the capacity when closed, 1 half open, 0 open; it opens only after N failures in a row", () => {
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom<"success" | "failure" | "tick">("success", "failure", "tick")),
        (steps) => {
          let b: Breaker = CLOSED;
          let run = 0;
          let now = 0;
          for (const step of steps) {
            now += 400;
            const before = b.state;
            b = step === "tick" ? breakerAt(b, now, POLICY) : breakerAfter(b, step, now, POLICY);
            if (step === "success") {
              run = 0;
              expect(b).toEqual(CLOSED);
            } else if (step === "failure") {
              run++;
              if (before === "closed") {
                expect(b.state).toBe(run >= POLICY.failureThreshold ? "open" : "closed");
              }
            }
            expect(breakerRoom(b, 7)).toBe(b.state === "closed" ? 7 : b.state === "half_open" ? 1 : 0);
          }
        },
      ),
    );
  });
});
