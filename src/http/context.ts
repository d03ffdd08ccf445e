import type { OpenAPIHono } from "@hono/zod-openapi";
import type { Coordinator } from "../../durable-objects/coordinator";
import type { Credential, Operation } from "../core/permissions";

/** What the Worker's middleware puts on the context for the handlers. */
export interface AppEnv {
  Bindings: Env;
  Variables: {
    requestId: string;
    credential: Credential;
    coordinator: DurableObjectStub<Coordinator>;
    coordinatorName: string;
    operation: Operation;
  };
}

export type App = OpenAPIHono<AppEnv>;
