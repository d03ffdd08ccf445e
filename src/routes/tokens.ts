import { createRoute } from "@hono/zod-openapi";
import { unwrap } from "../http/errors";
import { operation } from "../http/middleware";
import { bearerSecurity, openApiApp } from "../http/openapi-app";
import { errors, json, jsonBody } from "../schemas/common";
import { CreatedToken, CreateToken, TokenIdParam, TokenList } from "../schemas/tokens";

export const tokens = openApiApp();

tokens.openapi(
  createRoute({
    method: "post",
    path: "/tokens",
    tags: ["tokens"],
    summary: "Mint a token (admin); the secret is shown once",
    security: bearerSecurity,
    middleware: [operation("tokens.create")],
    request: { body: jsonBody(CreateToken) },
    responses: { 201: json(CreatedToken, "the new token"), ...errors(413) },
  }),
  async (c) => {
    const created = unwrap(await c.var.edge.coordinator().createToken(c.var.principal, c.req.valid("json")));
    return c.json(created, 201);
  },
);

tokens.openapi(
  createRoute({
    method: "get",
    path: "/tokens",
    tags: ["tokens"],
    summary: "List tokens (never their secrets)",
    security: bearerSecurity,
    middleware: [operation("tokens.list")],
    responses: { 200: json(TokenList, "tokens") },
  }),
  async (c) => c.json(unwrap(await c.var.edge.coordinator().listTokens(c.var.principal)), 200),
);

tokens.openapi(
  createRoute({
    method: "delete",
    path: "/tokens/{id}",
    tags: ["tokens"],
    summary: "Revoke a token; it stops working at once here, and at every edge within 2 s",
    security: bearerSecurity,
    middleware: [operation("tokens.revoke")],
    request: { params: TokenIdParam },
    responses: { 204: { description: "revoked" }, ...errors(404) },
  }),
  async (c) => {
    const edge = c.var.edge;
    unwrap(await edge.coordinator().revokeToken(c.var.principal, edge.deployment, c.req.valid("param").id));
    edge.auth.clear(); // this isolate forgets at once; others within AUTH_CACHE_TTL_MS
    return c.body(null, 204);
  },
);
