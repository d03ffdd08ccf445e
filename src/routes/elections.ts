import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { regionOfNodeId } from "../core/ids";
import { itemBudget } from "../core/list-pages";
import type { AppEnv } from "../http/context";
import { unwrap } from "../http/errors";
import { operation } from "../http/middleware";
import { observeElection } from "../http/observe";
import { bearerSecurity, openApiApp } from "../http/openapi-app";
import { knownShard } from "../http/shard-calls";
import { errors, json, jsonBody } from "../schemas/common";
import {
  Campaign,
  CampaignResponse,
  Election,
  ElectionList,
  ElectionParam,
  ElectionQuery,
  Fence,
  Resign,
} from "../schemas/elections";

export const elections = openApiApp();

/**
 * The node a candidate names, once its shard has vouched that the caller may act as it (`act`: alive,
 * for a campaign) or owns it (`own`, for a resignation); null for a candidate that is no node.
 */
async function candidateNode(
  c: Context<AppEnv>,
  candidate: string,
  mode: "act" | "own",
): Promise<string | null> {
  const shard = await knownShard(c, regionOfNodeId(candidate));
  if (shard === null) {
    return null;
  }
  const vouched = await shard.authorizeNode(c.var.principal, candidate, mode);
  if (!vouched.ok && vouched.error.code === "not_found") {
    return null; // shaped like a node id, but no node: a candidate like any other
  }
  unwrap(vouched);
  return candidate;
}

elections.openapi(
  createRoute({
    method: "post",
    path: "/elections/{name}/campaign",
    tags: ["elections"],
    summary:
      "Join or renew a candidacy (a live one is its first campaigner's: 403 for another token); the oldest live candidate leads, term is the fencing token",
    security: bearerSecurity,
    middleware: [operation("elections.act")],
    request: { params: ElectionParam, body: jsonBody(Campaign) },
    responses: { 200: json(CampaignResponse, "leadership as seen by this candidate"), ...errors(409, 413) },
  }),
  async (c) => {
    const { name } = c.req.valid("param");
    const input = c.req.valid("json");
    const node = await candidateNode(c, input.candidate, "act");
    return c.json(unwrap(await c.var.edge.coordinator().campaign(c.var.principal, name, input, node)), 200);
  },
);

elections.openapi(
  createRoute({
    method: "post",
    path: "/elections/{name}/resign",
    tags: ["elections"],
    summary:
      "Leave the election; the next-oldest candidate leads at once (403 for another token's live candidacy)",
    security: bearerSecurity,
    middleware: [operation("elections.act")],
    request: { params: ElectionParam, body: jsonBody(Resign) },
    responses: { 200: json(z.object({ resigned: z.boolean() }), "resigned"), ...errors() },
  }),
  async (c) => {
    const { name } = c.req.valid("param");
    const input = c.req.valid("json");
    const node = await candidateNode(c, input.candidate, "own");
    return c.json(unwrap(await c.var.edge.coordinator().resign(c.var.principal, name, input, node)), 200);
  },
);

elections.openapi(
  createRoute({
    method: "get",
    path: "/elections",
    tags: ["elections"],
    summary:
      "Elections by name with their leaders (no candidates); a page holds at most `limit` elections and LIST_BYTE_BUDGET bytes. Pass the returned cursor for the next",
    security: bearerSecurity,
    middleware: [operation("elections.read")],
    request: { query: ElectionQuery },
    responses: { 200: json(ElectionList, "a page of elections") },
  }),
  async (c) => {
    const { cursor, limit } = c.req.valid("query");
    const query = { after: cursor, limit, maxBytes: itemBudget(c.var.config.listByteBudget) };
    return c.json(unwrap(await c.var.edge.coordinator().listElections(c.var.principal, query)), 200);
  },
);

elections.openapi(
  createRoute({
    method: "get",
    path: "/elections/{name}",
    tags: ["elections"],
    summary: "Leader, term and candidates",
    security: bearerSecurity,
    middleware: [operation("elections.read")],
    request: { params: ElectionParam },
    responses: { 200: json(Election, "the election"), ...errors(404) },
  }),
  async (c) =>
    c.json(
      unwrap(await c.var.edge.coordinator().getElection(c.var.principal, c.req.valid("param").name)),
      200,
    ),
);

elections.openapi(
  createRoute({
    method: "get",
    path: "/elections/{name}/observe",
    tags: ["elections"],
    summary:
      "Stream of leadership changes, starting with the current leader (SSE, or a WebSocket on upgrade)",
    security: bearerSecurity,
    middleware: [operation("elections.read")],
    request: { params: ElectionParam },
    responses: {
      200: { description: "text/event-stream of `{name, term, leader}` events" },
      101: { description: "WebSocket of `{name, term, leader}` messages" },
    },
  }),
  (c) => observeElection(c, c.req.valid("param").name),
);

elections.openapi(
  createRoute({
    method: "post",
    path: "/elections/{name}/fence",
    tags: ["elections"],
    summary: "200 while term is the current term, else 409 stale_term",
    security: bearerSecurity,
    middleware: [operation("elections.act")],
    request: { params: ElectionParam, body: jsonBody(Fence) },
    responses: {
      200: json(z.object({ ok: z.boolean(), term: z.number().int() }), "current"),
      ...errors(404, 409),
    },
  }),
  async (c) => {
    const { name } = c.req.valid("param");
    return c.json(
      unwrap(await c.var.edge.coordinator().fence(c.var.principal, name, c.req.valid("json"))),
      200,
    );
  },
);
