import { createRoute, z } from "@hono/zod-openapi";
import { ApiError } from "../core/errors";
import { GLOBAL_TENANT_HEADER } from "../core/permissions";
import { unwrap } from "../http/errors";
import { operation } from "../http/middleware";
import { bearerSecurity, openApiApp } from "../http/openapi-app";
import { existingRegion, nodePageAcrossShards, nodeShard } from "../http/shard-calls";
import { mintNodeId } from "../ids";
import { ErrorResponse, errors, json, jsonBody } from "../schemas/common";
import {
  Heartbeat,
  HeartbeatResponse,
  NodeIdParam,
  NodeList,
  NodeQuery,
  Poll,
  PollResponse,
  RegisteredNode,
  RegisterNode,
  Report,
} from "../schemas/nodes";
import { TaskStatus } from "../schemas/tasks";

export const nodes = openApiApp();

nodes.openapi(
  createRoute({
    method: "post",
    path: "/nodes",
    tags: ["nodes"],
    summary: "Register an executor node (bound to the calling token)",
    security: bearerSecurity,
    middleware: [operation("nodes.register")],
    request: { body: jsonBody(RegisterNode) },
    responses: { 201: json(RegisteredNode, "registered"), ...errors(404, 413) },
  }),
  async (c) => {
    const { region: id, ...input } = c.req.valid("json");
    const region = await existingRegion(c, id);
    const edge = c.var.edge;
    const node = unwrap(
      await edge.shard(id, region).registerNode(c.var.principal, { id: mintNodeId(id), ...input }),
    );
    edge.table.invalidate(); // the region's health changed: the next submit here routes by a fresh table
    return c.json(node, 201);
  },
);

nodes.openapi(
  createRoute({
    method: "post",
    path: "/nodes/{id}/heartbeat",
    tags: ["nodes"],
    summary: "Heartbeat; a node silent for deadAfterMs is dead",
    security: bearerSecurity,
    middleware: [operation("nodes.act")],
    request: { params: NodeIdParam, body: jsonBody(Heartbeat, false) },
    responses: { 200: json(HeartbeatResponse, "the node's status"), ...errors(404, 409) },
  }),
  async (c) => {
    const { id } = c.req.valid("param");
    return c.json(
      unwrap(await (await nodeShard(c, id)).heartbeat(c.var.principal, id, c.req.valid("json"))),
      200,
    );
  },
);

nodes.openapi(
  createRoute({
    method: "post",
    path: "/nodes/{id}/drain",
    tags: ["nodes"],
    summary: "Drain: no new work; leases run out normally",
    security: bearerSecurity,
    middleware: [operation("nodes.act")],
    request: { params: NodeIdParam },
    responses: { 200: json(z.object({ status: z.literal("draining") }), "draining"), ...errors(404, 409) },
  }),
  async (c) => {
    const { id } = c.req.valid("param");
    return c.json(unwrap(await (await nodeShard(c, id)).drainNode(c.var.principal, id)), 200);
  },
);

nodes.openapi(
  createRoute({
    method: "delete",
    path: "/nodes/{id}",
    tags: ["nodes"],
    summary: "Deregister; what the node holds goes back to the queue",
    security: bearerSecurity,
    middleware: [operation("nodes.act")],
    request: { params: NodeIdParam },
    responses: { 204: { description: "deregistered" }, ...errors(404) },
  }),
  async (c) => {
    const { id } = c.req.valid("param");
    unwrap(await (await nodeShard(c, id)).deregisterNode(c.var.principal, id));
    return c.body(null, 204);
  },
);

nodes.openapi(
  createRoute({
    method: "get",
    path: "/nodes",
    tags: ["nodes"],
    summary:
      "Nodes by id, optionally of one region; dead ones only with `status=dead`. A page holds at most `limit` nodes and LIST_BYTE_BUDGET bytes; pass the returned cursor for the next",
    security: bearerSecurity,
    middleware: [operation("nodes.read")],
    request: { query: NodeQuery },
    responses: { 200: json(NodeList, "a page of nodes") },
  }),
  async (c) => {
    const { region, cursor, ...query } = c.req.valid("query");
    const edge = c.var.edge;
    const regions =
      region === undefined
        ? (await edge.table.get()).regions.map((r) => r.id)
        : (await edge.table.knows(region))
          ? [region]
          : [];
    const page = await nodePageAcrossShards(
      c,
      regions,
      { ...query, after: cursor },
      c.var.config.listByteBudget,
    );
    return c.json(page, 200);
  },
);

nodes.openapi(
  createRoute({
    method: "post",
    path: "/nodes/{id}/poll",
    tags: ["executing"],
    summary: "Lease runnable tasks (never more than free capacity); waitMs long-polls. Counts as a heartbeat",
    security: bearerSecurity,
    middleware: [operation("nodes.act")],
    request: { params: NodeIdParam, body: jsonBody(Poll, false) },
    responses: { 200: json(PollResponse, "leased tasks"), ...errors(404, 409) },
  }),
  async (c) => {
    const { id } = c.req.valid("param");
    return c.json(unwrap(await (await nodeShard(c, id)).poll(c.var.principal, id, c.req.valid("json"))), 200);
  },
);

const ReportResults = z
  .object({
    results: z.array(
      z.union([
        z.object({ id: z.string(), status: TaskStatus }),
        z.object({ id: z.string(), error: ErrorResponse.shape.error }),
      ]),
    ),
  })
  .openapi("ReportResults");

nodes.openapi(
  createRoute({
    method: "post",
    path: "/nodes/{id}/report",
    tags: ["executing"],
    summary: "Many outcomes in one call; each item as complete / fail, each alone",
    security: bearerSecurity,
    middleware: [operation("tasks.execute")],
    request: { params: NodeIdParam, body: jsonBody(Report) },
    responses: { 200: json(ReportResults, "one result per report, in order"), ...errors(404, 409, 413) },
  }),
  async (c) => {
    const { id } = c.req.valid("param");
    const { reports } = c.req.valid("json");
    return c.json(unwrap(await (await nodeShard(c, id)).report(c.var.principal, id, reports)), 200);
  },
);

nodes.openapi(
  createRoute({
    method: "get",
    path: "/nodes/{id}/channel",
    tags: ["nodes"],
    summary:
      "The node channel: one WebSocket to the node's region shard (pushed work, batched outcomes, heartbeats; API-v2 §4)",
    security: bearerSecurity,
    middleware: [operation("nodes.act")],
    request: { params: NodeIdParam },
    responses: {
      101: { description: "switching to the node channel; the first frame is `welcome`" },
      ...errors(404, 409),
    },
  }),
  async (c) => {
    if (c.req.header("upgrade")?.toLowerCase() !== "websocket") {
      throw ApiError.of("invalid_request", "the node channel is a WebSocket: send Upgrade: websocket");
    }
    const { id } = c.req.valid("param");
    const shard = await nodeShard(c, id);
    const principal = c.var.principal;
    // The shard is reachable only through the edge: who is calling travels in headers it trusts.
    const upgrade = new Request("https://shard/channel", {
      headers: {
        upgrade: "websocket",
        "x-meridian-node": id,
        "x-meridian-token-id": principal.tokenId,
        "x-meridian-role": principal.role,
        "x-meridian-tenant": principal.tenant ?? GLOBAL_TENANT_HEADER,
      },
    });
    // A 101 carries no JSON: the route's typed responses describe its errors, the runtime passes the socket on.
    return (await shard.fetch(upgrade)) as unknown as ReturnType<typeof c.json>;
  },
);
