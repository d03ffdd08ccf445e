import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { itemBudget } from "../core/list-pages";
import type { AppEnv } from "../http/context";
import { unwrap } from "../http/errors";
import { type MetricsSnapshot, prometheusText } from "../http/metrics";
import { bearer, operation } from "../http/middleware";
import { bearerSecurity, openApiApp } from "../http/openapi-app";
import { regionStats } from "../http/shard-calls";
import { json } from "../schemas/common";
import { STATUS_ELECTIONS } from "../schemas/elections";
import { regionView } from "./regions";

/** Liveness, status and metrics. `/healthz` needs no token; the others need a reader. */
export const operations = openApiApp();

operations.openapi(
  createRoute({
    method: "get",
    path: "/healthz",
    tags: ["operations"],
    summary: "Liveness (no auth)",
    responses: { 200: json(z.object({ ok: z.literal(true) }), "alive") },
  }),
  (c) => c.json({ ok: true as const }, 200),
);

operations.openapi(
  createRoute({
    method: "get",
    path: "/v1/status",
    tags: ["operations"],
    summary:
      "Regions, node counts by status, queue depths by status, and the first 100 elections by name with their leaders (`electionsCursor` continues at GET /v1/elections; `electionCount` counts them all)",
    security: bearerSecurity,
    middleware: [operation("status.read")],
    responses: {
      200: { description: "status", content: { "application/json": { schema: z.object({}).passthrough() } } },
    },
  }),
  async (c) => c.json(await status(c), 200),
);

operations.openapi(
  createRoute({
    method: "get",
    path: "/metrics",
    tags: ["operations"],
    summary: "Prometheus text format (reader)",
    security: bearerSecurity,
    middleware: [bearer, operation("status.read")],
    responses: {
      200: { description: "Prometheus exposition", content: { "text/plain": { schema: z.string() } } },
    },
  }),
  async (c) => {
    return c.text(prometheusText(await metricsSnapshot(c)), 200, {
      "content-type": "text/plain; version=0.0.4",
    });
  },
);

/** Regions with their shards' live numbers, node counts and queue depths by status, elections and leaders. */
async function status(c: Context<AppEnv>) {
  const { taskMetrics: _t, leaderChanges: _l, storedRows: _s, push, ...view } = await gather(c);
  // Push endpoints with their breakers, for the dashboard's region cards (never a secret or a URL).
  const endpoints = push.flatMap(({ region, endpoints }) => endpoints.map((e) => ({ region, ...e })));
  return { ...view, endpoints };
}

/** The status snapshot with every counter: each shard's, the coordinator's, and the edges' summed by EdgeMetrics. */
async function metricsSnapshot(c: Context<AppEnv>): Promise<MetricsSnapshot> {
  const [gathered, http] = await Promise.all([gather(c), c.var.edge.edgeMetrics().read()]);
  return { ...gathered, http: unwrap(http) };
}

/** What the status and the metrics share: one call to the coordinator, one to every region's shard. */
async function gather(c: Context<AppEnv>) {
  const edge = c.var.edge;
  const coordinator = edge.coordinator();
  const [listed, status] = await Promise.all([
    coordinator.listRegions(c.var.principal),
    // The first elections only: a deployment may hold thousands (GET /v1/elections pages them).
    coordinator.status(c.var.principal, {
      limit: STATUS_ELECTIONS,
      maxBytes: itemBudget(c.var.config.listByteBudget) / 2,
    }),
  ]);
  const { regions } = unwrap(listed);
  const { now, elections, electionsCursor, electionCount, coordinatorCalls, leaderChanges } = unwrap(status);
  const stats = await regionStats(c, regions);
  const nodes = { healthy: 0, suspect: 0, draining: 0, dead: 0 };
  const tasks = { scheduled: 0, queued: 0, leased: 0, succeeded: 0, failed: 0, canceled: 0 };
  for (const s of stats) {
    for (const key of Object.keys(nodes) as (keyof typeof nodes)[]) {
      nodes[key] += s.nodeStatus[key];
    }
    for (const key of Object.keys(tasks) as (keyof typeof tasks)[]) {
      tasks[key] += s.tasks[key];
    }
  }
  return {
    now,
    // Dead nodes are counted here: GET /v1/nodes lists them only when asked (status=dead).
    regions: regions.map((r, i) => ({ ...regionView(r, stats[i]!), nodeStatus: stats[i]!.nodeStatus })),
    nodes,
    tasks,
    elections,
    electionsCursor,
    electionCount,
    coordinatorCalls,
    taskMetrics: regions.map((r, i) => ({ region: r.id, metrics: stats[i]!.metrics })),
    storedRows: regions.map((r, i) => ({ region: r.id, rows: stats[i]!.storedRows })),
    push: regions.map((r, i) => ({
      region: r.id,
      endpoints: stats[i]!.endpoints,
      deliveries: stats[i]!.pushDeliveries,
    })),
    leaderChanges,
  };
}
