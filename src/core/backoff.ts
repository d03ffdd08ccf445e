/**
 * Retry backoff: capped exponential with "equal jitter" (half fixed, half random), so retries
 * spread out but never come back sooner than half the nominal delay.
 */

/** baseMs: delay after the first failure (default 1000); maxMs: cap (default 300000). */
export interface BackoffOptions {
  baseMs?: number;
  maxMs?: number;
}

/** Default delay after the first failed attempt. */
export const DEFAULT_BASE_MS = 1000;

/** Default cap on the nominal delay (5 minutes). */
export const DEFAULT_MAX_MS = 300_000;

/**
 * Delay before retry after `attempt` failed attempts (attempt >= 1): exponential base * 2^(attempt-1),
 * capped at maxMs, with "equal jitter": half fixed, half uniform random. Always an integer in
 * [cap/2, cap], where cap = floor(min(maxMs, base * 2^(attempt-1))).
 *
 * attempt < 1 (or NaN) is treated as 1; huge attempts saturate at maxMs without overflow.
 * `random` must return a number in [0, 1); it is called exactly once.
 */
export function retryDelayMs(attempt: number, random: () => number, options: BackoffOptions = {}): number {
  const baseMs = Math.max(0, options.baseMs ?? DEFAULT_BASE_MS);
  const maxMs = Math.max(0, options.maxMs ?? DEFAULT_MAX_MS);
  const exponent = attempt >= 1 ? Math.min(Math.floor(attempt) - 1, 1023) : 0;
  const cap = Math.floor(Math.min(maxMs, baseMs * 2 ** exponent));
  const low = Math.ceil(cap / 2);
  // Uniform over the integers low..cap; the min guards a random() that returns 1.
  return Math.min(cap, low + Math.floor(random() * (cap - low + 1)));
}
