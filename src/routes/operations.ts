import { createRoute, z } from "@hono/zod-openapi";
import { unwrap } from "../http/errors";
import { prometheusText } from "../http/metrics";
import { bearer, operation } from "../http/middleware";
import { bearerSecurity, openApiApp } from "../http/openapi-app";
import { json } from "../schemas/common";

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
    summary: "Regions, node counts by status, queue depths by status, elections and their leaders",
    security: bearerSecurity,
    middleware: [operation("status.read")],
    responses: {
      200: { description: "status", content: { "application/json": { schema: z.object({}).passthrough() } } },
    },
  }),
  async (c) => c.json(unwrap(await c.var.coordinator.status(c.var.credential)), 200),
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
    const status = unwrap(await c.var.coordinator.status(c.var.credential));
    return c.text(prometheusText(status), 200, { "content-type": "text/plain; version=0.0.4" });
  },
);
