import type { OpenAPIHono } from "@hono/zod-openapi";
import type { Operation, Principal } from "../core/permissions";
import type { Edge } from "./edge";

/** What the Worker's middleware puts on the context for the handlers. */
export interface AppEnv {
  Bindings: Env;
  Variables: {
    requestId: string;
    edge: Edge;
    principal: Principal;
    operation: Operation;
  };
}

export type App = OpenAPIHono<AppEnv>;
