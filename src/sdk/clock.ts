/**
 * Where the SDK reads the time and waits. Every part of the agent and the client takes one, so a
 * test can hand in a virtual clock and drive leases, heartbeats and back-offs without sleeping.
 */
export interface Clock {
  /** Milliseconds since the epoch, as `Date.now()`. */
  now(): number;
  /** Calls `fn` once, `ms` from now (at once if `ms` <= 0, but never synchronously). */
  setTimer(fn: () => void, ms: number): TimerHandle;
  /** Cancels a timer of this clock; a timer that already ran or was cleared is ignored. */
  clearTimer(handle: TimerHandle): void;
  /** Resolves after `ms`, or early (without throwing) when `signal` aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** What `setTimer` returns; only the clock that made it knows what is inside. */
export type TimerHandle = unknown;

/** `clock.sleep` written once over `setTimer` / `clearTimer`, for any clock. */
export function sleepOn(clock: Pick<Clock, "setTimer" | "clearTimer">, ms: number, signal?: AbortSignal) {
  return new Promise<void>((resolve) => {
    if (signal?.aborted) {
      resolve();
      return;
    }
    const done = () => {
      clock.clearTimer(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = clock.setTimer(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}

/** The machine's clock and timers: what the SDK uses unless told otherwise. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer: (fn, ms) => setTimeout(fn, Math.max(0, ms)),
  // The handle came from setTimeout above (the handle type differs between Node and Workers).
  clearTimer: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
  sleep: (ms, signal) => sleepOn(systemClock, ms, signal),
};
