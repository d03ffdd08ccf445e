import { z } from "@hono/zod-openapi";
import { NODE_STATUSES } from "../core/failure-detector";
import { Identifier, JsonValue, MintedId, Timestamp } from "./common";

export const MAX_NODE_CAPACITY = 10_000;
export const MAX_LABELS = 32;

export const NodeIdParam = z.object({ id: MintedId });

export const RegisterNode = z
  .object({
    region: Identifier,
    capacity: z.number().int().min(1).max(MAX_NODE_CAPACITY),
    labels: z
      .record(z.string().max(64), z.string().max(256))
      .refine((labels) => Object.keys(labels).length <= MAX_LABELS, `at most ${MAX_LABELS} labels`)
      .optional(),
  })
  .strict()
  .openapi("RegisterNode");

export const RegisteredNode = z
  .object({
    id: MintedId,
    region: Identifier,
    heartbeatIntervalMs: z.number().int(),
    deadAfterMs: z.number().int(),
  })
  .openapi("RegisteredNode");

export const Heartbeat = z
  .object({ load: z.number().min(0).max(1).optional() })
  .strict()
  .openapi("Heartbeat");

export const NodeStatus = z.enum(NODE_STATUSES);

export const HeartbeatResponse = z.object({ status: NodeStatus }).openapi("HeartbeatResponse");

export const NodeInfo = z
  .object({
    id: MintedId,
    region: Identifier,
    status: NodeStatus,
    capacity: z.number().int(),
    inFlight: z.number().int(),
    load: z.number().nullable(),
    lastHeartbeatAt: Timestamp,
    labels: z.record(z.string(), z.string()),
    transport: z.enum(["channel", "http"]).openapi({
      description: "how the node talks to its shard now: an open node channel (WebSocket) or HTTP calls",
    }),
  })
  .openapi("Node");

export const NodeList = z
  .object({
    nodes: z.array(NodeInfo),
    cursor: z.string().nullable().openapi({ description: "null on the last page" }),
  })
  .openapi("NodeList");

export const NodeQuery = z.object({
  region: Identifier.optional(),
  status: NodeStatus.optional().openapi({
    description: "only nodes in this status; without it, every node that is not dead (`dead` lists the dead)",
  }),
  limit: z.coerce.number().int().min(1).max(1000).default(500),
  cursor: MintedId.optional().openapi({
    description: "the cursor a previous page returned (the id of its last node)",
  }),
});

export const Poll = z
  .object({
    max: z.number().int().min(1).max(100).default(1),
    waitMs: z.number().int().min(0).max(30_000).default(0),
  })
  .strict()
  .openapi("Poll");

export const LeasedTask = z
  .object({
    id: MintedId,
    type: Identifier,
    payload: JsonValue,
    attempt: z.number().int(),
    leaseToken: z.string(),
    leaseExpiresAt: Timestamp,
  })
  .openapi("LeasedTask");

export const PollResponse = z.object({ tasks: z.array(LeasedTask) }).openapi("PollResponse");

export const MAX_REPORTS = 100;

export const ReportItem = z
  .object({
    id: MintedId,
    leaseToken: z.string().max(200),
    outcome: z.enum(["succeeded", "failed"]),
    result: JsonValue.optional(),
    error: z.string().max(10_000).optional(),
    retryable: z.boolean().optional(),
  })
  .strict()
  .openapi("ReportItem");

export const Report = z
  .object({ reports: z.array(ReportItem).min(1).max(MAX_REPORTS) })
  .strict()
  .openapi("Report");
