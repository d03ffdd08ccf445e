import { z } from "@hono/zod-openapi";
import { BREAKER_STATES } from "../core/circuit-breaker";
import { MAX_ENDPOINT_URL_CHARS } from "../core/endpoint-url";
import { Identifier, Timestamp } from "./common";

export const MAX_ENDPOINT_CAPACITY = 1000;
/** The longest a delivery may wait for its answer (a Worker's subrequest may run this long). */
export const MAX_ENDPOINT_TIMEOUT_MS = 15 * 60_000;

export const EndpointParam = z.object({ region: Identifier, name: Identifier });

export const PutEndpoint = z
  .object({
    url: z.string().max(MAX_ENDPOINT_URL_CHARS).openapi({
      example: "https://executor.example.com/meridian",
      description:
        "http or https, no credentials; a private or loopback IP literal only as ENDPOINT_PRIVATE_ADDRESSES allows",
    }),
    capacity: z
      .number()
      .int()
      .min(1)
      .max(MAX_ENDPOINT_CAPACITY)
      .openapi({ description: "deliveries at once" }),
    timeoutMs: z
      .number()
      .int()
      .min(100)
      .max(MAX_ENDPOINT_TIMEOUT_MS)
      .optional()
      .openapi({ description: "how long a delivery may wait for its answer; default: the task's timeoutMs" }),
  })
  .strict()
  .openapi("PutEndpoint");

export const Endpoint = z
  .object({
    name: Identifier,
    region: Identifier,
    url: z.string(),
    capacity: z.number().int(),
    timeoutMs: z.number().int().nullable(),
    inFlight: z.number().int(),
    breaker: z.object({
      state: z.enum(BREAKER_STATES).openapi({
        description: "closed: takes tasks; open: takes none (failing); half_open: takes one, the probe",
      }),
      failures: z.number().int().openapi({ description: "failed deliveries in a row" }),
      openedAt: Timestamp.nullable(),
    }),
    createdAt: Timestamp,
    updatedAt: Timestamp,
    secret: z.string().optional().openapi({
      description: "the signing secret (whsec_...): only in the answer of the PUT that created the endpoint",
      example: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    }),
  })
  .openapi("Endpoint");

export const EndpointList = z.object({ endpoints: z.array(Endpoint) }).openapi("EndpointList");
