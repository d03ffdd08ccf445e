import { OpenAPIHono } from "@hono/zod-openapi";
import type { App } from "./context";
import { validationError } from "./errors";
import { rankAuthorization } from "./middleware";

/** A sub-app whose validation failures become the contract's 400, after 401/403 have had their say. */
export function openApiApp(): App {
  return new OpenAPIHono({
    defaultHook: async (result, c) => {
      if (!result.success) {
        await rankAuthorization(c);
        throw validationError(result.error, result.target);
      }
    },
  });
}

/** Each /v1 route requires a bearer token. */
export const bearerSecurity = [{ bearer: [] }];
