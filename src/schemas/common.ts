import { z } from "@hono/zod-openapi";
import { ERROR_CODES, ERROR_REASON_LIST } from "../core/errors";

/** `^[a-z0-9][a-z0-9._:-]{0,127}$`: regions, election names, candidates, task types. */
export const Identifier = z
  .string()
  .regex(/^[a-z0-9][a-z0-9._:-]{0,127}$/, "must match ^[a-z0-9][a-z0-9._:-]{0,127}$")
  .openapi({ example: "eu-west" });

/** Ids minted by Meridian (tasks, nodes, tokens; task and node ids end with their region): opaque, but bounded so a path cannot carry a megabyte. */
export const MintedId = z
  .string()
  .regex(/^[A-Za-z0-9_.:-]{1,200}$/, "not an id Meridian minted")
  .openapi({ example: "t-1m8deyek2v02rwcfkkjbf-eu-west" });

export const Latitude = z.number().min(-90).max(90);
export const Longitude = z.number().min(-180).max(180);
export const Location = z.object({ lat: Latitude, lon: Longitude }).strict().openapi("Location");

/** Milliseconds since the epoch. */
export const Timestamp = z.number().int().openapi({ example: 1764172800000 });

/** Any JSON value (payloads and results are handed on as they are). */
export const JsonValue = z.unknown().openapi({ description: "any JSON value" });

export const ErrorResponse = z
  .object({
    error: z.object({
      code: z.enum(ERROR_CODES),
      message: z.string(),
      reason: z.enum(ERROR_REASON_LIST).optional().openapi({
        description: "why, when the code alone does not say (docs/TROUBLESHOOTING.md)",
        example: "lease_lost",
      }),
      issues: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
      requestId: z.string().optional(),
    }),
  })
  .openapi("Error");

/** Standard error responses, merged into each route's `responses`. */
export function errors(...statuses: (400 | 401 | 403 | 404 | 409 | 413 | 429 | 503)[]) {
  const descriptions = {
    400: "invalid_request: body, query or path fails validation",
    401: "unauthorized: missing or unknown token",
    403: "forbidden: the token's role may not do this",
    404: "not_found",
    409: "conflict: see error.reason",
    413: "payload_too_large",
    429: "rate_limited (see Retry-After)",
    503: "no_healthy_region: nothing was stored",
  } as const;
  const all = [400, 401, 403, 429, ...statuses] as const;
  return Object.fromEntries(
    all.map((status) => [
      status,
      { description: descriptions[status], content: { "application/json": { schema: ErrorResponse } } },
    ]),
  ) as Record<
    (typeof all)[number],
    { description: string; content: { "application/json": { schema: typeof ErrorResponse } } }
  >;
}

/** A JSON response entry for `responses`. */
export function json<T extends z.ZodType>(schema: T, description: string) {
  return { description, content: { "application/json": { schema } } };
}

/** A JSON request body entry for `request.body`. */
export function jsonBody<T extends z.ZodType>(schema: T, required = true) {
  return { required, content: { "application/json": { schema } } };
}
