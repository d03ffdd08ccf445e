import type { Context, MiddlewareHandler } from "hono";
import { matchedRoutes } from "hono/route";
import { type HttpMetricsSnapshot, HttpMetricsTable, UNMATCHED_ROUTE } from "../core/http-metrics";
import type { AppEnv } from "./context";

/** An isolate sends what it counted to EdgeMetrics at most this often: `/metrics` sees it up to this late. */
export const EDGE_FLUSH_MS = 5000;

/**
 * What one edge isolate has counted and not yet sent. An isolate is one of many and may vanish at
 * any time, so its counts are sent as deltas to the EdgeMetrics object, which sums them; sending at
 * most every EDGE_FLUSH_MS keeps that to one call per isolate per period, never one per request.
 */
export class EdgeHttpMetrics {
  private pending = new HttpMetricsTable();
  private lastFlushAt = Number.NEGATIVE_INFINITY;
  /** A flush is waiting for its time or under way: the next requests only count. */
  private busy = false;

  constructor(
    /** Sends a delta to EdgeMetrics; a rejection keeps the delta for the next flush. */
    private readonly send: (delta: HttpMetricsSnapshot) => Promise<void>,
    /** The edge's clock (a test's own): when a flush is due. */
    private readonly clock: () => number,
  ) {}

  record(route: string, status: number, seconds: number): void {
    this.pending.record(route, status, seconds);
  }

  /**
   * After a request: the flush to run now, if one is due, or — when the request can outlive its
   * answer (`waitUntil`) — a flush that waits for its time, so counts are never more than about
   * EDGE_FLUSH_MS late while the isolate lives. Null when nothing is to be sent from this request.
   */
  afterRequest(canWait: boolean): Promise<void> | null {
    if (this.busy || this.pending.isEmpty()) {
      return null;
    }
    const delay = this.lastFlushAt + EDGE_FLUSH_MS - this.clock();
    if (delay <= 0) {
      return this.flush();
    }
    if (!canWait) {
      return null;
    }
    this.busy = true;
    return new Promise<void>((resolve) => setTimeout(resolve, delay)).then(() => {
      this.busy = false;
      return this.flush();
    });
  }

  /** Sends everything counted so far; on failure the delta goes back to be sent with the next one. */
  private async flush(): Promise<void> {
    const delta = this.pending;
    this.pending = new HttpMetricsTable();
    this.lastFlushAt = this.clock();
    this.busy = true;
    try {
      await this.send(delta.snapshot());
    } catch (error) {
      this.pending.add(delta.snapshot());
      console.warn("edge metrics: flush failed; kept for the next one", error);
    } finally {
      this.busy = false;
    }
  }
}

/**
 * The route pattern a request matched (`/v1/tasks/:id`), never its raw path: the label's values are
 * the app's routes. Middleware is registered for every method (`ALL`); the endpoint is the last
 * route matched with a method of its own, even when a middleware answered first (a 401).
 */
export function routeLabel(c: Context<AppEnv>): string {
  const routes = matchedRoutes(c);
  for (let i = routes.length - 1; i >= 0; i--) {
    const route = routes[i]!;
    if (route.method !== "ALL") {
      return route.path;
    }
  }
  return UNMATCHED_ROUTE;
}

/** The request's ExecutionContext, or null (a test calling `app.request` without one). */
function waitUntilOf(c: Context<AppEnv>): ((promise: Promise<unknown>) => void) | null {
  try {
    const ctx = c.executionCtx;
    return (promise) => ctx.waitUntil(promise);
  } catch {
    return null;
  }
}

/**
 * Counts every request by route and status and times it, in this isolate's EdgeHttpMetrics; a due
 * flush runs after the answer (`waitUntil`). Without an ExecutionContext (tests), a due flush is
 * awaited before the answer, so a test sees it land deterministically.
 */
export const httpMetrics: MiddlewareHandler<AppEnv> = async (c, next) => {
  const started = performance.now();
  // Does not throw: Hono answers a handler's or middleware's throw at its own level, and the app's
  // notFound answers (src/app.ts), so every request reaches the count below with its response.
  await next();
  const metrics = c.var.edge.httpMetrics;
  metrics.record(routeLabel(c), c.res.status, (performance.now() - started) / 1000);
  const waitUntil = waitUntilOf(c);
  const flush = metrics.afterRequest(waitUntil !== null);
  if (flush !== null) {
    if (waitUntil !== null) {
      waitUntil(flush);
    } else {
      await flush;
    }
  }
};
