import { createRoute } from "@hono/zod-openapi";
import type { ShardStats } from "../../durable-objects/region-shard";
import { unwrap } from "../http/errors";
import { operation } from "../http/middleware";
import { bearerSecurity, openApiApp } from "../http/openapi-app";
import { regionStats } from "../http/shard-calls";
import { errors, json, jsonBody } from "../schemas/common";
import { PutRegion, Region, RegionList, RegionParam } from "../schemas/regions";

export const regions = openApiApp();

regions.openapi(
  createRoute({
    method: "put",
    path: "/regions/{region}",
    tags: ["regions"],
    summary: "Create or update a region (admin); idempotent",
    security: bearerSecurity,
    middleware: [operation("regions.put")],
    request: { params: RegionParam, body: jsonBody(PutRegion) },
    responses: { 200: json(Region, "the region"), ...errors(413) },
  }),
  async (c) => {
    const { region } = c.req.valid("param");
    const edge = c.var.edge;
    const stored = unwrap(
      await edge.coordinator().putRegion(c.var.principal, edge.deployment, region, c.req.valid("json")),
    );
    edge.table.invalidate();
    const [stats] = await regionStats(c, [stored]);
    return c.json(regionView(stored, stats!), 200);
  },
);

regions.openapi(
  createRoute({
    method: "get",
    path: "/regions",
    tags: ["regions"],
    summary: "Regions with health, capacity and load",
    security: bearerSecurity,
    middleware: [operation("regions.read")],
    responses: { 200: json(RegionList, "regions") },
  }),
  async (c) => {
    const { regions } = unwrap(await c.var.edge.coordinator().listRegions(c.var.principal));
    const stats = await regionStats(c, regions);
    return c.json({ regions: regions.map((r, i) => regionView(r, stats[i]!)) }, 200);
  },
);

regions.openapi(
  createRoute({
    method: "delete",
    path: "/regions/{region}",
    tags: ["regions"],
    summary: "Delete a region (admin); 409 while nodes or unfinished tasks are in it",
    security: bearerSecurity,
    middleware: [operation("regions.delete")],
    request: { params: RegionParam },
    responses: { 204: { description: "deleted" }, ...errors(404, 409) },
  }),
  async (c) => {
    const edge = c.var.edge;
    unwrap(
      await edge.coordinator().deleteRegion(c.var.principal, edge.deployment, c.req.valid("param").region),
    );
    edge.table.invalidate();
    return c.body(null, 204);
  },
);

/** A region as the contract shows it: the coordinator's record with its shard's live numbers. */
export function regionView(
  region: { id: string; lat: number; lon: number; label: string | null },
  stats: ShardStats,
) {
  return {
    ...region,
    healthy: stats.healthy,
    nodes: stats.nodes,
    capacity: stats.capacity,
    inFlight: stats.inFlight,
    queued: stats.queued,
  };
}
