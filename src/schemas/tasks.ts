import { z } from "@hono/zod-openapi";
import { ROUTING_REASONS } from "../core/geo-routing";
import { regionOfTaskId } from "../core/ids";
import { CONSIDERED_OUTCOMES, MAX_PLACEMENT_TRIES } from "../core/placement";
import { TASK_STATUSES } from "../core/task-lifecycle";
import { ErrorResponse, Identifier, JsonValue, Location, MintedId, Timestamp } from "./common";

export const MAX_BATCH = 100;

/**
 * How far ahead a task may be scheduled: `delayMs` at most, and `runAt` at most this long after the
 * edge's clock (an unbounded `runAt` was stored, then made the shard's alarm throw: `setAlarm`
 * refuses dates after 2189).
 */
export const MAX_DELAY_MS = 365 * 24 * 3600 * 1000;

export const TaskStatus = z.enum(TASK_STATUSES);

export const SubmitTask = z
  .object({
    type: Identifier,
    payload: JsonValue.optional(),
    priority: z.number().int().min(0).max(9).default(0),
    delayMs: z.number().int().min(0).max(MAX_DELAY_MS).optional(),
    runAt: z
      .number()
      .int()
      .min(0)
      .optional()
      .openapi({ description: `at most ${MAX_DELAY_MS} ms (365 days) after the server's clock` }),
    maxAttempts: z.number().int().min(1).max(100).default(3),
    timeoutMs: z.number().int().min(1000).max(3_600_000).default(30_000),
    idempotencyKey: z.string().min(1).max(200).optional(),
    affinityKey: z.string().min(1).max(200).optional(),
    region: Identifier.optional(),
    location: Location.optional(),
  })
  .strict()
  .refine((t) => t.delayMs === undefined || t.runAt === undefined, {
    message: "give delayMs or runAt, not both",
    path: ["runAt"],
  })
  .openapi("SubmitTask");

export type SubmitTaskInput = z.infer<typeof SubmitTask>;

export const Routing = z
  .object({
    reason: z.enum(ROUTING_REASONS),
    region: Identifier,
    distanceKm: z.number().nullable(),
    from: Location.nullable(),
    considered: z
      .array(
        z.object({
          region: Identifier,
          distanceKm: z.number().nullable(),
          outcome: z.enum(CONSIDERED_OUTCOMES),
        }),
      )
      .max(MAX_PLACEMENT_TRIES)
      .openapi({
        description:
          "every region the edge looked at, in order: why each was passed over, then the chosen one",
      }),
  })
  .openapi("Routing");

export const Task = z
  .object({
    id: MintedId,
    type: Identifier,
    payload: JsonValue,
    status: TaskStatus,
    priority: z.number().int(),
    region: Identifier,
    nodeId: z.string().nullable(),
    attempts: z.number().int(),
    maxAttempts: z.number().int(),
    timeoutMs: z.number().int(),
    result: JsonValue,
    lastError: z.string().nullable(),
    createdAt: Timestamp,
    updatedAt: Timestamp,
    runAt: Timestamp,
    idempotencyKey: z.string().nullable(),
    affinityKey: z.string().nullable(),
    routing: Routing,
  })
  .openapi("Task");

export const TaskIdParam = z.object({ id: MintedId });

export const BatchSubmit = z
  .object({
    tasks: z
      .array(z.unknown())
      .min(1)
      .max(MAX_BATCH)
      .openapi({
        description: `up to ${MAX_BATCH} SubmitTask bodies; each is validated and stored on its own`,
      }),
  })
  .strict()
  .openapi("BatchSubmit");

export const BatchResult = z
  .object({ results: z.array(z.union([z.object({ task: Task }), ErrorResponse])) })
  .openapi("BatchResult");

export const TaskQuery = z.object({
  status: TaskStatus.optional(),
  region: Identifier.optional(),
  type: Identifier.optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
  cursor: z
    .string()
    .refine((cursor) => regionOfTaskId(cursor) !== null, "not a cursor Meridian returned")
    .optional()
    .openapi({ description: "the cursor a previous page returned (the id of its last task)" }),
});

export const TaskList = z.object({ tasks: z.array(Task), cursor: z.string().nullable() }).openapi("TaskList");

export const StatusResponse = z.object({ status: TaskStatus }).openapi("TaskStatusResponse");

export const Complete = z
  .object({ leaseToken: z.string().min(1).max(200), result: JsonValue.optional() })
  .strict()
  .openapi("Complete");

export const Fail = z
  .object({
    leaseToken: z.string().min(1).max(200),
    error: z.string().max(10_000),
    retryable: z.boolean().default(true),
  })
  .strict()
  .openapi("Fail");

export const FailResponse = z
  .object({ status: z.enum(["scheduled", "failed"]), runAt: Timestamp.optional() })
  .openapi("FailResponse");

export const Extend = z
  .object({ leaseToken: z.string().min(1).max(200), extendMs: z.number().int().min(1000).max(3_600_000) })
  .strict()
  .openapi("Extend");

export const ExtendResponse = z.object({ leaseExpiresAt: Timestamp }).openapi("ExtendResponse");
