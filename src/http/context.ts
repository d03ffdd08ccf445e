import type { OpenAPIHono } from "@hono/zod-openapi";
import type { Config } from "../core/config";
import type { Operation, Principal } from "../core/permissions";
import type { Edge } from "./edge";

/** What the Worker's middleware puts on the context for the handlers. */
export interface AppEnv {
  Bindings: Env;
  Variables: {
    requestId: string;
    edge: Edge;
    /** The settings of this request's env (parsed once per env). */
    config: Config;
    principal: Principal;
    operation: Operation;
  };
}

export type App = OpenAPIHono<AppEnv>;
