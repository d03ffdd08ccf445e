/**
 * Histograms with fixed buckets, as Prometheus exposes them. Pure: no clock, no I/O. A histogram is
 * plain data (it crosses RPC and is stored as JSON) and carries its bucket bounds, so two of them
 * are merged only when they count the same buckets, and data saved under older bounds is recognised.
 */

/** Upper bounds in seconds for task durations (dispatch, run): from milliseconds to an hour. */
export const TASK_SECONDS_BUCKETS: readonly number[] = Object.freeze([
  0.005, 0.025, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600,
]);

/** Upper bounds in seconds for HTTP request durations (long polls reach the upper ones). */
export const HTTP_SECONDS_BUCKETS: readonly number[] = Object.freeze([
  0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
]);

/**
 * Observations by bucket. `counts[i]` counts values in (bounds[i-1], bounds[i]], not cumulated;
 * the last entry (one more than `bounds`) counts values above the largest bound (`+Inf`).
 */
export interface Histogram {
  bounds: readonly number[];
  counts: number[];
  sum: number;
}

export function emptyHistogram(bounds: readonly number[]): Histogram {
  return { bounds, counts: new Array<number>(bounds.length + 1).fill(0), sum: 0 };
}

/**
 * Counts one value, in place (the shard's hot path should not allocate per task). A negative value
 * (a clock that stepped back) counts as 0: a duration cannot be negative, and `_sum` must not shrink.
 */
export function observe(histogram: Histogram, value: number): void {
  const v = Number.isFinite(value) && value > 0 ? value : 0;
  const { bounds, counts } = histogram;
  let i = 0;
  while (i < bounds.length && v > bounds[i]!) {
    i++;
  }
  counts[i]!++;
  histogram.sum += v;
}

/** How many values were observed. */
export function histogramCount(histogram: Histogram): number {
  let total = 0;
  for (const n of histogram.counts) {
    total += n;
  }
  return total;
}

/** Whether two histograms count the same buckets. */
export function sameBounds(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((bound, i) => bound === b[i]);
}

/** `a` plus `b`, as a new histogram; they must have the same bounds (a programming error otherwise). */
export function mergeHistograms(a: Histogram, b: Histogram): Histogram {
  if (!sameBounds(a.bounds, b.bounds)) {
    throw new Error("cannot merge histograms with different buckets");
  }
  return { bounds: a.bounds, counts: a.counts.map((n, i) => n + b.counts[i]!), sum: a.sum + b.sum };
}

/** Cumulative bucket counts as Prometheus exposes them: `le` ascending, `+Inf` last (= the count). */
export function cumulativeBuckets(histogram: Histogram): { le: number; count: number }[] {
  let running = 0;
  return histogram.counts.map((n, i) => {
    running += n;
    return { le: histogram.bounds[i] ?? Number.POSITIVE_INFINITY, count: running };
  });
}

/**
 * A histogram read from storage or from another object, with the expected bounds; null when it is
 * not one (malformed, or saved under other bounds: the caller starts afresh rather than mis-bucket).
 */
export function parseHistogram(value: unknown, bounds: readonly number[]): Histogram | null {
  if (typeof value !== "object" || value === null) {
    return null;
  }
  const { bounds: saved, counts, sum } = value as Partial<Histogram>;
  if (
    !Array.isArray(saved) ||
    !sameBounds(saved, bounds) ||
    !Array.isArray(counts) ||
    counts.length !== bounds.length + 1 ||
    !counts.every(isCount) ||
    typeof sum !== "number" ||
    !Number.isFinite(sum) ||
    sum < 0
  ) {
    return null;
  }
  return { bounds, counts: [...counts], sum };
}

/** A non-negative integer that a counter may hold. */
export function isCount(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}
