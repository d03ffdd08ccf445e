import { createRoute } from "@hono/zod-openapi";
import { unwrap } from "../http/errors";
import { operation } from "../http/middleware";
import { bearerSecurity, openApiApp } from "../http/openapi-app";
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
    return c.json(
      unwrap(await c.var.coordinator.putRegion(c.var.credential, region, c.req.valid("json"))),
      200,
    );
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
  async (c) => c.json(unwrap(await c.var.coordinator.listRegions(c.var.credential)), 200),
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
    unwrap(await c.var.coordinator.deleteRegion(c.var.credential, c.req.valid("param").region));
    return c.body(null, 204);
  },
);
