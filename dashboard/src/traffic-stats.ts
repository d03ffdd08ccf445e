/**
 * Throughput and latency over the last minutes, from the event stream: per-second buckets of
 * tasks routed / succeeded / failed, and per-second percentiles of two latencies the events let us
 * derive (both from server timestamps, so the viewer's clock does not matter):
 *
 * - dispatch: `task.routed` → its first `task.leased` (time waiting in the region's queue until a
 *   node took it);
 * - completion: `task.routed` → `task.succeeded` (end to end, retries included).
 *
 * A task routed before the page connected has no start time, so it adds to the counts but not to
 * the latencies. Pure: events and times come in as arguments.
 */
import type { LiveEvent } from "./live-events";

/** Seconds of history kept and charted. */
export const WINDOW_SECONDS = 300;

/** Tasks whose start is remembered; beyond this the oldest are forgotten (a task lost in a burst gives no latency). */
const MAX_TRACKED_TASKS = 20_000;

interface Bucket {
  routed: number;
  succeeded: number;
  failed: number;
  dispatch: number[];
  completion: number[];
}

/** Totals since the page connected. */
export interface Counters {
  routed: number;
  succeeded: number;
  /** Failed for good (`final`). */
  failed: number;
  /** Failed attempts that will be retried. */
  retried: number;
}

/** Arrays for uPlot: x in seconds since the epoch, one array per series, null where there is no sample. */
export interface Series {
  x: number[];
  routed: number[];
  succeeded: number[];
  failed: number[];
  dispatchP50: (number | null)[];
  dispatchP95: (number | null)[];
  completionP50: (number | null)[];
  completionP95: (number | null)[];
}

/** The q-quantile (0..1) of `values` (nearest rank), or null when there are none. */
export function quantile(values: number[], q: number): number | null {
  if (values.length === 0) {
    return null;
  }
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank]!;
}

export class TrafficStats {
  private readonly buckets = new Map<number, Bucket>();
  /** taskId → when it was routed (server ms); insertion order is age order. */
  private readonly routedAt = new Map<string, number>();
  /** Tasks whose first lease was already measured. */
  private readonly leased = new Set<string>();
  /** The newest server time seen: the charts' right edge follows the server, not the viewer's clock. */
  private latest = 0;
  readonly counters: Counters = { routed: 0, succeeded: 0, failed: 0, retried: 0 };

  /** Takes one event into the counts and latencies. */
  record(event: LiveEvent): void {
    this.latest = Math.max(this.latest, event.at);
    switch (event.type) {
      case "task.routed":
        this.counters.routed++;
        this.bucket(event.at).routed++;
        this.remember(event.taskId, event.at);
        break;
      case "task.leased": {
        const start = this.routedAt.get(event.taskId);
        if (start !== undefined && !this.leased.has(event.taskId)) {
          this.leased.add(event.taskId);
          this.bucket(event.at).dispatch.push(Math.max(0, event.at - start));
        }
        break;
      }
      case "task.succeeded": {
        this.counters.succeeded++;
        const bucket = this.bucket(event.at);
        bucket.succeeded++;
        const start = this.routedAt.get(event.taskId);
        if (start !== undefined) {
          bucket.completion.push(Math.max(0, event.at - start));
        }
        this.forget(event.taskId);
        break;
      }
      case "task.failed":
        if (event.final) {
          this.counters.failed++;
          this.bucket(event.at).failed++;
          this.forget(event.taskId);
        } else {
          this.counters.retried++;
        }
        break;
      default:
        break;
    }
  }

  /** The charted window ending at the newest second seen (or `now` if later), oldest first. */
  series(now: number): Series {
    const end = Math.floor(Math.max(now, this.latest) / 1000);
    const start = end - WINDOW_SECONDS + 1;
    for (const second of this.buckets.keys()) {
      if (second < start) {
        this.buckets.delete(second);
      }
    }
    const out: Series = {
      x: [],
      routed: [],
      succeeded: [],
      failed: [],
      dispatchP50: [],
      dispatchP95: [],
      completionP50: [],
      completionP95: [],
    };
    for (let second = start; second <= end; second++) {
      const b = this.buckets.get(second);
      out.x.push(second);
      out.routed.push(b?.routed ?? 0);
      out.succeeded.push(b?.succeeded ?? 0);
      out.failed.push(b?.failed ?? 0);
      out.dispatchP50.push(quantile(b?.dispatch ?? [], 0.5));
      out.dispatchP95.push(quantile(b?.dispatch ?? [], 0.95));
      out.completionP50.push(quantile(b?.completion ?? [], 0.5));
      out.completionP95.push(quantile(b?.completion ?? [], 0.95));
    }
    return out;
  }

  /** Forgets every task start (the stream was reset: events were lost, pairs would be wrong). */
  forgetStarts(): void {
    this.routedAt.clear();
    this.leased.clear();
  }

  private bucket(at: number): Bucket {
    const second = Math.floor(at / 1000);
    let bucket = this.buckets.get(second);
    if (!bucket) {
      bucket = { routed: 0, succeeded: 0, failed: 0, dispatch: [], completion: [] };
      this.buckets.set(second, bucket);
    }
    return bucket;
  }

  private remember(taskId: string, at: number): void {
    this.routedAt.set(taskId, at);
    if (this.routedAt.size > MAX_TRACKED_TASKS) {
      const oldest = this.routedAt.keys().next().value as string;
      this.forget(oldest);
    }
  }

  private forget(taskId: string): void {
    this.routedAt.delete(taskId);
    this.leased.delete(taskId);
  }
}
