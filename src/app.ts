import { OpenAPIHono } from "@hono/zod-openapi";
import { DEFAULT_DEPLOYMENT } from "../durable-objects/messages";
import packageJson from "../package.json";
import { type Config, ConfigError, parseConfig } from "./core/config";
import { ApiError } from "./core/errors";
import type { AppEnv } from "./http/context";
import { Edge } from "./http/edge";
import { httpMetrics } from "./http/edge-http-metrics";
import { errorResponse } from "./http/errors";
import { bearer, requestId } from "./http/middleware";
import { elections } from "./routes/elections";
import { endpoints } from "./routes/endpoints";
import { events } from "./routes/events";
import { nodes } from "./routes/nodes";
import { operations } from "./routes/operations";
import { owners } from "./routes/owners";
import { regions } from "./routes/regions";
import { schedules } from "./routes/schedules";
import { tasks } from "./routes/tasks";
import { tokens } from "./routes/tokens";

export interface AppOptions {
  /**
   * The deployment this app serves: the name of its coordinator, and the prefix of its shards' names
   * (tests give each their own). Default: the one production deployment.
   */
  deployment?: string;
  /** The edge's clock (auth-cache and table freshness, task ids); tests give their own. */
  clock?: () => number;
}

/** The OpenAPI document's header. */
const DOC_INFO = {
  openapi: "3.1.0",
  info: {
    title: "Meridian",
    // One version for the package and the API it serves (additions since v1 are a minor version).
    version: packageJson.version,
    description:
      "Serverless edge scheduler: tasks routed to the nearest healthy region, leases with retries, elections with fencing terms.",
  },
};

/** Each env's settings, parsed once (an env is the same object for every request of an isolate). */
const checked = new WeakMap<object, Config | ConfigError>();

/** The settings, or 500 `misconfigured` naming the setting when they cannot be used (src/core/config.ts). */
function checkConfig(env: Env): Config {
  let parsed = checked.get(env);
  if (parsed === undefined) {
    try {
      parsed = parseConfig(env as unknown as Record<string, unknown>);
    } catch (error) {
      if (!(error instanceof ConfigError)) {
        throw error;
      }
      parsed = error;
    }
    checked.set(env, parsed);
  }
  if (parsed instanceof ConfigError) {
    throw ApiError.of("misconfigured", `Meridian is misconfigured: ${parsed.message}`);
  }
  return parsed;
}

/** Builds the edge Worker's Hono app: one sub-app per resource, all under /v1. */
export function createApp(options: AppOptions = {}): OpenAPIHono<AppEnv> {
  const deployment = options.deployment ?? DEFAULT_DEPLOYMENT;
  const clock = options.clock ?? Date.now;
  const app = new OpenAPIHono<AppEnv>();
  // What this isolate keeps between requests (auth cache, routing table), made with the first env.
  let edge: Edge | null = null;

  app.use("*", requestId);
  app.use("*", async (c, next) => {
    c.set("config", checkConfig(c.env));
    edge ??= new Edge(c.env, deployment, clock);
    c.set("edge", edge);
    await next();
  });
  app.use("*", httpMetrics);
  app.use("/v1/*", bearer);
  // Bodies are read by each route's `operation` middleware, once the caller may make the call.

  // Mounted at /v1 rather than /v1/<resource> because `POST /v1/tasks:batch` is not below /v1/tasks.
  app.route("/", operations);
  app.route("/v1", tokens);
  app.route("/v1", regions);
  app.route("/v1", endpoints);
  app.route("/v1", nodes);
  app.route("/v1", tasks);
  app.route("/v1", schedules);
  app.route("/v1", elections);
  app.route("/v1", owners);
  app.route("/v1", events);

  app.openAPIRegistry.registerComponent("securitySchemes", "bearer", { type: "http", scheme: "bearer" });
  // Generated once per isolate (at the first request), not per request: building it walks every
  // schema (~6 ms), and ~156 requests a second to it saturated a machine.
  let document: string | null = null;
  app.get("/openapi.json", (c) => {
    document ??= JSON.stringify(app.getOpenAPI31Document(DOC_INFO));
    return c.body(document, 200, { "content-type": "application/json" });
  });
  // `/docs` (the API explorer) and `/dashboard` are static assets (wrangler.toml `[assets]`), served
  // before the Worker runs: see scripts/build-dashboard.mjs.

  // Answered, not thrown: a throw here would escape every middleware's `next()` (compose catches
  // only a handler's own throw), and the HTTP metrics middleware would miss the 404.
  app.notFound((c) => errorResponse(ApiError.of("not_found", "no such route"), c));
  app.onError(errorResponse);
  return app;
}
