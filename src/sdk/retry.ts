import { retryDelayMs } from "../core/backoff.ts";
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

/** Resolves after `ms`, or early (without throwing) when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) {
      resolve();
      return;
    }
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, Math.max(0, ms));
    signal?.addEventListener("abort", done, { once: true });
  });
}

/** What `withTimeout` rejects with. */
export class TimeoutError extends Error {
  override readonly name = "TimeoutError";
}

/** `promise`, or a TimeoutError after `ms` (the promise itself keeps running). */
export async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new TimeoutError(`no answer within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Whether `promise` settles (either way) within `ms`. */
export async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  try {
    await withTimeout(promise, ms);
    return true;
  } catch (error) {
    return !(error instanceof TimeoutError);
  }
}
