import { OpenAPIHono } from "@hono/zod-openapi";
import type { App } from "./context";
import { validationError } from "./errors";

/** A sub-app whose validation failures become the contract's 400 (401/403 come first: see `operation`). */
export function openApiApp(): App {
  return new OpenAPIHono({
    defaultHook: (result) => {
      if (!result.success) {
        throw validationError(result.error, result.target);
      }
    },
  });
}

/** Each /v1 route requires a bearer token. */
export const bearerSecurity = [{ bearer: [] }];
