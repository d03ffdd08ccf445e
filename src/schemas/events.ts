import { z } from "@hono/zod-openapi";
import { EVENT_TYPES, NODE_DOWN_REASONS, parseTypes } from "../core/events";
import { ROUTING_REASONS } from "../core/geo-routing";
import { Identifier, Timestamp } from "./common";

/** An event id as a reader sends it back: a non-negative integer (15 digits keep it exact in a double). */
const EventId = z
  .string()
  .regex(/^\d{1,15}$/, "an event id: a non-negative integer")
  .openapi({ example: "1234" });

export const EventsQuery = z.object({
  types: z
    .string()
    .max(512)
    .optional()
    .superRefine((text, ctx) => {
      const parsed = parseTypes(text);
      if ("unknown" in parsed) {
        ctx.addIssue({
          code: "custom",
          message: `unknown event type ${JSON.stringify(parsed.unknown.slice(0, 40))}; known: ${EVENT_TYPES.join(", ")}`,
        });
      }
    })
    .openapi({
      description: `a comma list of event types (${EVENT_TYPES.join(", ")}); all when absent`,
      example: "task.routed,node.down",
    }),
  region: Identifier.optional().openapi({
    description: "events of this region only (events of no region, such as leader.changed, are always sent)",
  }),
  lastEventId: EventId.optional().openapi({
    description:
      "resume after this id (for EventSource, which cannot send Last-Event-ID on its first connect)",
  }),
});

export const EventsHeaders = z.object({
  "last-event-id": EventId.optional().openapi({ description: "resume after this id (SSE's own header)" }),
});

const base = { id: z.number().int().positive(), at: Timestamp };

/** The JSON of an event's `data:` line, one schema per type (documentation of the stream). */
export const StreamEvent = z
  .discriminatedUnion("type", [
    z.object({
      ...base,
      type: z.literal("task.routed"),
      taskId: z.string(),
      taskType: z.string(),
      region: z.string(),
      origin: z.object({ lat: z.number(), lon: z.number() }).nullable(),
      reason: z.enum(ROUTING_REASONS),
    }),
    z.object({
      ...base,
      type: z.literal("task.leased"),
      taskId: z.string(),
      region: z.string(),
      nodeId: z.string(),
      attempt: z.number().int(),
    }),
    z.object({
      ...base,
      type: z.literal("task.succeeded"),
      taskId: z.string(),
      region: z.string(),
      nodeId: z.string(),
      attempts: z.number().int(),
    }),
    z.object({
      ...base,
      type: z.literal("task.failed"),
      taskId: z.string(),
      region: z.string(),
      nodeId: z.string(),
      attempts: z.number().int(),
      final: z.boolean(),
    }),
    z.object({
      ...base,
      type: z.literal("node.up"),
      nodeId: z.string(),
      region: z.string(),
      transport: z.enum(["channel", "http"]),
    }),
    z.object({
      ...base,
      type: z.literal("node.down"),
      nodeId: z.string(),
      region: z.string(),
      reason: z.enum(NODE_DOWN_REASONS),
    }),
    z.object({
      ...base,
      type: z.literal("leader.changed"),
      election: z.string(),
      leader: z.string().nullable(),
      term: z.number().int(),
    }),
    z.object({
      ...base,
      type: z.literal("schedule.fired"),
      scheduleId: z.string(),
      slot: Timestamp,
      taskId: z.string(),
      region: z.string(),
    }),
    z.object({
      ...base,
      type: z.literal("region.changed"),
      region: z.string(),
      healthy: z.boolean(),
      capacity: z.number().int(),
      inFlight: z.number().int(),
      queued: z.number().int(),
    }),
  ])
  .openapi("StreamEvent", {
    description:
      "The `data:` of each SSE message (`id:` and `event:` repeat its id and type). Control messages without an id: `event: dropped` `{missed}` (a slow reader skipped events), `event: reset` `{reason: too_old | unknown_id}` (the events after Last-Event-ID are gone). `: keep-alive` every 15 s.",
  });
