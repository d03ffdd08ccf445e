import { createRoute, z } from "@hono/zod-openapi";
import { unwrap } from "../http/errors";
import { operation } from "../http/middleware";
import { bearerSecurity, openApiApp } from "../http/openapi-app";
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
  async (c) =>
    c.json(unwrap(await c.var.coordinator.registerNode(c.var.credential, c.req.valid("json"))), 201),
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
    return c.json(unwrap(await c.var.coordinator.heartbeat(c.var.credential, id, c.req.valid("json"))), 200);
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
  async (c) =>
    c.json(unwrap(await c.var.coordinator.drainNode(c.var.credential, c.req.valid("param").id)), 200),
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
    unwrap(await c.var.coordinator.deregisterNode(c.var.credential, c.req.valid("param").id));
    return c.body(null, 204);
  },
);

nodes.openapi(
  createRoute({
    method: "get",
    path: "/nodes",
    tags: ["nodes"],
    summary: "Nodes, optionally of one region",
    security: bearerSecurity,
    middleware: [operation("nodes.read")],
    request: { query: NodeQuery },
    responses: { 200: json(NodeList, "nodes") },
  }),
  async (c) =>
    c.json(unwrap(await c.var.coordinator.listNodes(c.var.credential, c.req.valid("query").region)), 200),
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
    return c.json(unwrap(await c.var.coordinator.poll(c.var.credential, id, c.req.valid("json"))), 200);
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
    return c.json(unwrap(await c.var.coordinator.report(c.var.credential, id, reports)), 200);
  },
);
