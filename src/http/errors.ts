import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ZodError } from "zod";
import { ApiError, type ErrorBody, type Result } from "../core/errors";
import type { AppEnv } from "./context";

/** The value of an RPC result, or the contract's error thrown for `onError` to answer. */
export function unwrap<R extends Result<unknown>>(result: R): Extract<R, { ok: true }>["value"] {
  if (!result.ok) {
    throw new ApiError(result.error);
  }
  return result.value;
}

/** A zod failure as the contract's 400 with one issue per field. */
export function validationError(error: ZodError, where: string): ApiError {
  return new ApiError({
    code: "invalid_request",
    message: `invalid ${where}`,
    issues: error.issues.map((issue) => ({
      path: issue.path.map(String).join(".") || where,
      message: issue.message,
    })),
  });
}

/** The error response for anything thrown by a handler: never a stack, always the contract's shape. */
export function errorResponse(error: unknown, c: Context<AppEnv>): Response {
  let body: ErrorBody;
  let status: number;
  if (error instanceof ApiError) {
    body = error.body;
    status = error.status;
  } else if (error instanceof HTTPException && error.status < 500) {
    const code =
      error.status === 413 ? "payload_too_large" : error.status === 404 ? "not_found" : "invalid_request";
    body = { code, message: error.message || "bad request" };
    status = code === "invalid_request" ? 400 : error.status;
  } else {
    console.error(`request ${c.get("requestId")} failed: ${c.req.method} ${c.req.path}`, error);
    body = { code: "internal", message: "internal error; quote the request id when reporting it" };
    status = 500;
  }
  const { retryAfter, ...rest } = body;
  const headers: Record<string, string> = {};
  if (retryAfter !== undefined) {
    headers["Retry-After"] = String(retryAfter);
  }
  return c.json({ error: { ...rest, requestId: c.get("requestId") } }, status as 400, headers);
}
