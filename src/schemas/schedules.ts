import { z } from "@hono/zod-openapi";
import {
  CATCH_UP_CAP,
  CATCH_UP_MODES,
  MIN_EVERY_MS,
  ON_TIME_GRACE_MS,
  OVERLAP_MODES,
  timingProblems,
} from "../core/schedules";
import { Identifier, Timestamp } from "./common";
import { SubmitTask } from "./tasks";

export const ScheduleIdParam = z.object({ id: Identifier });

/** `PUT /v1/schedules/{id}`: when it runs (cron or everyMs), what it submits, and how it copes with overlap and downtime. */
export const PutSchedule = z
  .object({
    cron: z.string().min(1).max(200).optional().openapi({
      description: "5 fields (minute hour day month weekday), or 6 with seconds first; read by croner",
      example: "*/5 * * * *",
    }),
    timezone: z.string().min(1).max(100).optional().openapi({
      description: "IANA time zone the cron expression is read in (default UTC)",
      example: "Europe/Paris",
    }),
    everyMs: z.number().int().min(MIN_EVERY_MS).optional().openapi({
      description:
        "a fixed interval instead of cron; the first run is one interval after the PUT, or at startAt",
    }),
    task: SubmitTask.openapi({
      description:
        "the task each run submits, as for POST /v1/tasks, without runAt and idempotencyKey (each run's key is schedule:{id}:{slotTime})",
    }),
    overlap: z.enum(OVERLAP_MODES).default("allow").openapi({
      description:
        "skip: a slot is skipped while the previous run is unfinished (scheduled, queued or leased)",
    }),
    catchUp: z
      .enum(CATCH_UP_MODES)
      .default("none")
      .openapi({
        description: `which missed slots run after downtime: none (skip to the next slot), latest (the most recent missed one), all (each, at most ${CATCH_UP_CAP}, the most recent). A slot up to ${ON_TIME_GRACE_MS} ms late is on time`,
      }),
    startAt: Timestamp.optional().openapi({ description: "no slot before this (inclusive)" }),
    endAt: Timestamp.optional().openapi({ description: "no slot at or after this" }),
    paused: z.boolean().default(false),
  })
  .strict()
  .superRefine((input, ctx) => {
    for (const problem of timingProblems(input)) {
      ctx.addIssue({ code: "custom", path: [problem.path], message: problem.message });
    }
    // Each run is one slot: an absolute runAt would be the same past time for every run, and the
    // idempotency key is the slot's own (schedule:{id}:{slotTime}).
    if (input.task.runAt !== undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["task", "runAt"],
        message: "a schedule's task cannot have runAt (use delayMs)",
      });
    }
    if (input.task.idempotencyKey !== undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["task", "idempotencyKey"],
        message: "a schedule's runs carry their own key, schedule:{id}:{slotTime}",
      });
    }
  })
  .openapi("PutSchedule");

export type PutScheduleInput = z.infer<typeof PutSchedule>;

export const Schedule = z
  .object({
    id: Identifier,
    cron: z.string().nullable(),
    timezone: z.string().nullable(),
    everyMs: z.number().int().nullable(),
    task: z.record(z.string(), z.unknown()).openapi({ description: "the task body each run submits" }),
    overlap: z.enum(OVERLAP_MODES),
    catchUp: z.enum(CATCH_UP_MODES),
    startAt: Timestamp.nullable(),
    endAt: Timestamp.nullable(),
    paused: z.boolean(),
    region: Identifier.openapi({
      description: "the region whose shard keeps and fires the schedule (its tasks are routed as any task)",
    }),
    nextRunAt: Timestamp.nullable().openapi({ description: "the next slot; null when paused or past endAt" }),
    lastRunAt: Timestamp.nullable().openapi({ description: "the slot time of the last run" }),
    lastTaskId: z.string().nullable(),
    lastError: z
      .string()
      .nullable()
      .openapi({ description: "why the last run stored no task, if it did not" }),
    runs: z.number().int().openapi({ description: "runs so far (tasks stored)" }),
    skipped: z.number().int().openapi({ description: "slots passed over so far (overlap, downtime, pause)" }),
    createdAt: Timestamp,
    updatedAt: Timestamp,
  })
  .openapi("Schedule");

export const ScheduleQuery = z.object({
  limit: z.coerce.number().int().min(1).max(500).default(50),
  cursor: Identifier.optional().openapi({ description: "the cursor a previous page returned (the last id)" }),
});

export const ScheduleList = z
  .object({ schedules: z.array(Schedule), cursor: z.string().nullable() })
  .openapi("ScheduleList");
