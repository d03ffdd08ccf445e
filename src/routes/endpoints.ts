import { createRoute } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { AppEnv } from "../http/context";
import { unwrap } from "../http/errors";
import { operation } from "../http/middleware";
import { bearerSecurity, openApiApp } from "../http/openapi-app";
import { existingRegion } from "../http/shard-calls";
import { errors, json, jsonBody } from "../schemas/common";
import { Endpoint, EndpointList, EndpointParam, PutEndpoint } from "../schemas/endpoints";
import { RegionParam } from "../schemas/regions";

/** Push endpoints: HTTP executors a region's shard delivers tasks to, signed (API-v2 §6). */
export const endpoints = openApiApp();

/** The shard of a region that exists, or 404. */
async function regionShard(c: Context<AppEnv>, id: string) {
  return c.var.edge.shard(id, await existingRegion(c, id));
}

endpoints.openapi(
  createRoute({
    method: "put",
    path: "/regions/{region}/endpoints/{name}",
    tags: ["endpoints"],
    summary: "Create or replace a push endpoint (admin); the signing secret is shown only when created",
    security: bearerSecurity,
    middleware: [operation("endpoints.put")],
    request: { params: EndpointParam, body: jsonBody(PutEndpoint) },
    responses: {
      200: json(Endpoint, "replaced (its secret is kept and not shown)"),
      201: json(Endpoint, "created, with its secret"),
      ...errors(404, 413),
    },
  }),
  async (c) => {
    const { region, name } = c.req.valid("param");
    const shard = await regionShard(c, region);
    const put = unwrap(await shard.putEndpoint(c.var.principal, name, c.req.valid("json")));
    c.var.edge.table.invalidate(); // the region's capacity changed
    return put.created ? c.json({ ...put.endpoint, secret: put.secret }, 201) : c.json(put.endpoint, 200);
  },
);

endpoints.openapi(
  createRoute({
    method: "get",
    path: "/regions/{region}/endpoints",
    tags: ["endpoints"],
    summary: "A region's push endpoints, with their breakers",
    security: bearerSecurity,
    middleware: [operation("endpoints.read")],
    request: { params: RegionParam },
    responses: { 200: json(EndpointList, "endpoints"), ...errors(404) },
  }),
  async (c) => {
    const { region } = c.req.valid("param");
    const shard = await regionShard(c, region);
    return c.json(unwrap(await shard.listEndpoints(c.var.principal)), 200);
  },
);

endpoints.openapi(
  createRoute({
    method: "get",
    path: "/regions/{region}/endpoints/{name}",
    tags: ["endpoints"],
    summary: "One push endpoint, with its breaker",
    security: bearerSecurity,
    middleware: [operation("endpoints.read")],
    request: { params: EndpointParam },
    responses: { 200: json(Endpoint, "the endpoint"), ...errors(404) },
  }),
  async (c) => {
    const { region, name } = c.req.valid("param");
    const shard = await regionShard(c, region);
    return c.json(unwrap(await shard.getEndpoint(c.var.principal, name)), 200);
  },
);

endpoints.openapi(
  createRoute({
    method: "delete",
    path: "/regions/{region}/endpoints/{name}",
    tags: ["endpoints"],
    summary: "Delete a push endpoint (admin); the tasks it holds go back to the queue",
    security: bearerSecurity,
    middleware: [operation("endpoints.delete")],
    request: { params: EndpointParam },
    responses: { 204: { description: "deleted" }, ...errors(404) },
  }),
  async (c) => {
    const { region, name } = c.req.valid("param");
    const shard = await regionShard(c, region);
    unwrap(await shard.deleteEndpoint(c.var.principal, name));
    c.var.edge.table.invalidate();
    return c.body(null, 204);
  },
);
