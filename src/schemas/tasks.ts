import { z } from "@hono/zod-openapi";
import { ROUTING_REASONS } from "../core/geo-routing";
import { regionOfTaskId } from "../core/ids";
import { CONSIDERED_OUTCOMES, FALLBACKS, MAX_PLACEMENT_TRIES } from "../core/placement";
import { MAX_ALLOWED_REGIONS } from "../core/task-constraints";
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
    region: Identifier.optional().openapi({ description: "pin to this region (not with `regions`)" }),
    regions: z
      .array(Identifier)
      .min(1)
      .max(MAX_ALLOWED_REGIONS)
      .refine((ids) => new Set(ids).size === ids.length, "a region may be named once")
      .optional()
      .openapi({
        description:
          "an allow-list (e.g. data residency): the task runs only in one of these regions, the nearest healthy one with room (`routing.reason: allowed`); 404 when one is unknown, 503 when none can take it (unless `fallback` is `nearest`)",
        example: ["eu-west", "eu-central"],
      }),
    fallback: z.enum(FALLBACKS).optional().openapi({
      description:
        "with `regions`: `none` (the default) answers 503 when no region of the list can take the task; `nearest` then routes it anywhere (`routing.reason: spillover`)",
    }),
    location: Location.optional(),
  })
  .strict()
  .refine((t) => t.delayMs === undefined || t.runAt === undefined, {
    message: "give delayMs or runAt, not both",
    path: ["runAt"],
  })
  .refine((t) => t.region === undefined || t.regions === undefined, {
    message: "give region (a pin) or regions (an allow-list), not both",
    path: ["regions"],
  })
  .refine((t) => t.fallback === undefined || t.regions !== undefined, {
    message: "fallback applies to an allow-list: give regions with it",
    path: ["fallback"],
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
    regions: z
      .array(Identifier)
      .nullable()
      .openapi({ description: "the allow-list it was submitted with (null: none)" }),
    fallback: z
      .enum(FALLBACKS)
      .nullable()
      .openapi({ description: "its allow-list's fallback (null without an allow-list)" }),
    retryOf: MintedId.nullable().openapi({
      description: "the task this one replays: a retry with reroute moved it here from another region",
    }),
    retriedAs: MintedId.nullable().openapi({
      description:
        "the task this one was replayed as, in another region (a retry with reroute moved it); this one is kept as it ended",
    }),
    scheduleId: z
      .string()
      .nullable()
      .openapi({ description: "the schedule whose slot submitted this task (API-v2 §5), else null" }),
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

/** `?include=`: the large fields a list leaves out unless asked, comma-separated. */
export const ListInclude = z
  .string()
  .regex(/^(payload|result)(,(payload|result))?$/, "a comma-separated list of payload and result")
  .openapi({
    description:
      "add `payload`, `result` or both to each task; the page then ends early when LIST_BYTE_BUDGET is reached (the cursor continues from there)",
    example: "payload,result",
  });

/** The fields an `include` value names, once each. */
export function includedFields(include: string | undefined): ("payload" | "result")[] {
  const named = new Set(include?.split(",") ?? []);
  return (["payload", "result"] as const).filter((field) => named.has(field));
}

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
  include: ListInclude.optional(),
});

/** A task as a list shows it: payload and result only when asked for (and when they fit). */
export const TaskListItem = Task.omit({ payload: true, result: true })
  .extend({
    payload: JsonValue.optional().openapi({ description: "only with `?include=payload`" }),
    result: JsonValue.optional().openapi({ description: "only with `?include=result`" }),
    omitted: z
      .array(z.enum(["payload", "result"]))
      .optional()
      .openapi({
        description:
          "fields asked for with `include` but left out: this task alone is larger than a page may be (read it with GET /v1/tasks/{id})",
      }),
  })
  .openapi("TaskListItem");

export const TaskList = z
  .object({
    tasks: z.array(TaskListItem),
    cursor: z.string().nullable().openapi({ description: "null on the last page" }),
  })
  .openapi("TaskList");

export const RetryTask = z
  .object({
    reroute: z.boolean().default(false).openapi({
      description:
        "route it anew from its origin (honouring its pin or allow-list); when another region is chosen it moves there under a new id (`retriedAs` / `retryOf`). Without it, it stays in its region",
    }),
  })
  .strict()
  .openapi("RetryTask");

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
