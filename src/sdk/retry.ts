import { retryDelayMs } from "../core/backoff.ts";
import type { Clock, TimerHandle } from "./clock.ts";
import { MeridianError } from "./errors.ts";

/** Back-off after transport errors: from about 250 ms, doubling, capped at 10 s. */
export const TRANSPORT_BACKOFF = { baseMs: 250, maxMs: 10_000 } as const;

/**
 * How long to wait after `failures` consecutive failed calls (>= 1): the server's `Retry-After`
 * when it sent one, else capped exponential back-off with jitter (the same curve the coordinator
 * uses for task retries, with a shorter base and cap).
 */
export function backoffMs(failures: number, error: unknown, random: () => number = Math.random): number {
  if (error instanceof MeridianError && error.retryAfterMs !== undefined) {
    return Math.min(error.retryAfterMs, TRANSPORT_BACKOFF.maxMs * 6);
  }
  return retryDelayMs(failures, random, TRANSPORT_BACKOFF);
}

/** What `withTimeout` rejects with. */
export class TimeoutError extends Error {
  override readonly name = "TimeoutError";
}

/** `promise`, or a TimeoutError after `ms` on `clock` (the promise itself keeps running). */
export async function withTimeout<T>(promise: Promise<T>, ms: number, clock: Clock): Promise<T> {
  let timer: TimerHandle | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = clock.setTimer(() => reject(new TimeoutError(`no answer within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    if (timer !== undefined) {
      clock.clearTimer(timer);
    }
  }
}

/** Whether `promise` settles (either way) within `ms` on `clock`. */
export async function settlesWithin(promise: Promise<unknown>, ms: number, clock: Clock): Promise<boolean> {
  try {
    await withTimeout(promise, ms, clock);
    return true;
  } catch (error) {
    return !(error instanceof TimeoutError);
  }
}
