import {
  emptyHistogram,
  type Histogram,
  HTTP_SECONDS_BUCKETS,
  isCount,
  mergeHistograms,
  observe,
  parseHistogram,
} from "./histogram";

/**
 * Request counts by (route, status) and durations by route: what each edge isolate accumulates and
 * the EdgeMetrics object sums. Pure. The route is the matched route pattern (`/v1/tasks/:id`), never
 * the raw path, so the label sets are bounded by the app's routes; MAX_HTTP_SERIES bounds them
 * again whatever a caller sends.
 */

/** The route label of a request that matched no route (a 404 from the router). */
export const UNMATCHED_ROUTE = "unmatched";

/** At most this many (route, status) series and as many routes with durations; later ones are dropped. */
export const MAX_HTTP_SERIES = 2000;

/** The wire and storage form: plain arrays, which JSON and RPC carry as they are. */
export interface HttpMetricsSnapshot {
  requests: { route: string; status: number; count: number }[];
  durations: { route: string; histogram: Histogram }[];
}

/** Accumulated HTTP metrics. `record` runs once per request at the edge: no allocation once a series exists. */
export class HttpMetricsTable {
  private readonly requests = new Map<string, { route: string; status: number; count: number }>();
  private readonly durations = new Map<string, Histogram>();
  /** Series refused because the table was full (logged by the caller, never silently grown). */
  dropped = 0;

  /** One request to `route` answered `status` after `seconds`. */
  record(route: string, status: number, seconds: number): void {
    this.addRequests(route, status, 1);
    const histogram = this.histogramOf(route);
    if (histogram !== null) {
      observe(histogram, seconds);
    }
  }

  /** Whether nothing has been recorded. */
  isEmpty(): boolean {
    return this.requests.size === 0;
  }

  /** Adds another table's snapshot (an isolate's delta) to this one. */
  add(snapshot: HttpMetricsSnapshot): void {
    for (const r of snapshot.requests) {
      this.addRequests(r.route, r.status, r.count);
    }
    for (const d of snapshot.durations) {
      const current = this.histogramOf(d.route);
      if (current !== null) {
        this.durations.set(d.route, mergeHistograms(current, d.histogram));
      }
    }
  }

  /** A copy of what the table holds, sorted by route then status (stable exposition order). */
  snapshot(): HttpMetricsSnapshot {
    const byRoute = (a: { route: string }, b: { route: string }) =>
      a.route < b.route ? -1 : a.route > b.route ? 1 : 0;
    return {
      requests: [...this.requests.values()]
        .map((r) => ({ ...r }))
        .sort((a, b) => byRoute(a, b) || a.status - b.status),
      durations: [...this.durations.entries()]
        .map(([route, h]) => ({ route, histogram: { bounds: h.bounds, counts: [...h.counts], sum: h.sum } }))
        .sort(byRoute),
    };
  }

  private addRequests(route: string, status: number, count: number): void {
    const key = `${status} ${route}`;
    const series = this.requests.get(key);
    if (series !== undefined) {
      series.count += count;
    } else if (this.requests.size < MAX_HTTP_SERIES) {
      this.requests.set(key, { route, status, count });
    } else {
      this.dropped++;
    }
  }

  private histogramOf(route: string): Histogram | null {
    let histogram = this.durations.get(route);
    if (histogram === undefined) {
      if (this.durations.size >= MAX_HTTP_SERIES) {
        this.dropped++;
        return null;
      }
      histogram = emptyHistogram(HTTP_SECONDS_BUCKETS);
      this.durations.set(route, histogram);
    }
    return histogram;
  }
}

/** An HTTP status code as Prometheus will label it. */
function isStatus(value: unknown): value is number {
  return Number.isInteger(value) && (value as number) >= 100 && (value as number) <= 599;
}

/**
 * A snapshot received from an isolate or read from storage, validated; null when it is not one
 * (EdgeMetrics then refuses it, or starts from zero, rather than store something it cannot expose).
 */
export function parseHttpMetrics(value: unknown): HttpMetricsSnapshot | null {
  if (typeof value !== "object" || value === null) {
    return null;
  }
  const { requests, durations } = value as Record<string, unknown>;
  if (!Array.isArray(requests) || !Array.isArray(durations)) {
    return null;
  }
  const parsedRequests: HttpMetricsSnapshot["requests"] = [];
  for (const r of requests as Record<string, unknown>[]) {
    if (typeof r?.route !== "string" || !isStatus(r.status) || !isCount(r.count)) {
      return null;
    }
    parsedRequests.push({ route: r.route, status: r.status, count: r.count });
  }
  const parsedDurations: HttpMetricsSnapshot["durations"] = [];
  for (const d of durations as Record<string, unknown>[]) {
    const histogram = parseHistogram(d?.histogram, HTTP_SECONDS_BUCKETS);
    if (typeof d?.route !== "string" || histogram === null) {
      return null;
    }
    parsedDurations.push({ route: d.route, histogram });
  }
  return { requests: parsedRequests, durations: parsedDurations };
}
