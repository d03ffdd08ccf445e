import { createRoute } from "@hono/zod-openapi";
import { unwrap } from "../http/errors";
import { operation } from "../http/middleware";
import { bearerSecurity, openApiApp } from "../http/openapi-app";
import { existingRegion } from "../http/shard-calls";
import { errors, json } from "../schemas/common";
import { Owner, OwnerParam, OwnerQuery } from "../schemas/elections";

export const owners = openApiApp();

owners.openapi(
  createRoute({
    method: "get",
    path: "/owners/{key}",
    tags: ["owners"],
    summary: "The owner of a key among a region's healthy nodes (consistent hashing with bounded loads)",
    security: bearerSecurity,
    middleware: [operation("owners.read")],
    request: { params: OwnerParam, query: OwnerQuery },
    responses: {
      200: json(Owner, "the owner; nodeId null when the region has no healthy node"),
      ...errors(404),
    },
  }),
  async (c) => {
    const { key } = c.req.valid("param");
    const { region } = c.req.valid("query");
    const at = await existingRegion(c, region);
    return c.json(unwrap(await c.var.edge.shard(region, at).owner(c.var.principal, key)), 200);
  },
);
