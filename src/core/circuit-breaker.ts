/**
 * A push endpoint's circuit breaker (pure: `now` is given). Closed, it takes up to its capacity;
 * `failureThreshold` failures in a row open it (it takes nothing); after `pauseMs` it is half open
 * and takes one task, the probe: a success closes it, a failure opens it for another pause.
 */

export const BREAKER_STATES = ["closed", "open", "half_open"] as const;
export type BreakerState = (typeof BREAKER_STATES)[number];

export interface Breaker {
  state: BreakerState;
  /** Failures in a row (while closed). */
  failures: number;
  /** When it opened (null while closed). */
  openedAt: number | null;
}

export interface BreakerPolicy {
  failureThreshold: number;
  pauseMs: number;
}

/** What a delivery says about its endpoint: it answered as an executor (success), or it did not. */
export type BreakerSignal = "success" | "failure";

export const CLOSED: Breaker = { state: "closed", failures: 0, openedAt: null };

/** The breaker after a delivery ended. */
export function breakerAfter(
  breaker: Breaker,
  signal: BreakerSignal,
  now: number,
  policy: BreakerPolicy,
): Breaker {
  if (signal === "success") {
    // Whatever the state: the endpoint answers (a late success from before it opened says so too).
    return CLOSED;
  }
  if (breaker.state === "half_open") {
    return { state: "open", failures: breaker.failures, openedAt: now };
  }
  if (breaker.state === "open") {
    return breaker; // a delivery started before it opened: the pause runs from the opening
  }
  const failures = breaker.failures + 1;
  return failures >= policy.failureThreshold
    ? { state: "open", failures, openedAt: now }
    : { state: "closed", failures, openedAt: null };
}

/** The breaker as time passes: open turns half open once the pause is over. */
export function breakerAt(breaker: Breaker, now: number, policy: BreakerPolicy): Breaker {
  if (breaker.state === "open" && breaker.openedAt !== null && now >= breaker.openedAt + policy.pauseMs) {
    return { ...breaker, state: "half_open" };
  }
  return breaker;
}

/** When an open breaker turns half open (null when it is not open). */
export function probeAt(breaker: Breaker, policy: BreakerPolicy): number | null {
  return breaker.state === "open" && breaker.openedAt !== null ? breaker.openedAt + policy.pauseMs : null;
}

/** How many deliveries the endpoint may have in flight: its capacity closed, one probe half open, none open. */
export function breakerRoom(breaker: Breaker, capacity: number): number {
  return breaker.state === "closed" ? capacity : breaker.state === "half_open" ? 1 : 0;
}
