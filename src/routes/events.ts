import { createRoute } from "@hono/zod-openapi";
import { parseTypes } from "../core/events";
import { unwrap } from "../http/errors";
import { operation } from "../http/middleware";
import { bearerSecurity, openApiApp } from "../http/openapi-app";
import { errors } from "../schemas/common";
import { EventsHeaders, EventsQuery, StreamEvent } from "../schemas/events";

export const events = openApiApp();

/** SSE headers: no caching, and no buffering by proxies that honour X-Accel-Buffering. */
const STREAM_HEADERS = {
  "content-type": "text/event-stream; charset=utf-8",
  "cache-control": "no-cache",
  "x-accel-buffering": "no",
};

events.openapi(
  createRoute({
    method: "get",
    path: "/events",
    tags: ["operations"],
    summary:
      "Server-Sent Events of what happens: tasks routed, leased, succeeded, failed; nodes up and down; leaders; region health",
    security: bearerSecurity,
    middleware: [operation("events.read")],
    request: { query: EventsQuery, headers: EventsHeaders },
    responses: {
      200: {
        description: "text/event-stream; each message's `data:` is one StreamEvent",
        content: { "text/event-stream": { schema: StreamEvent } },
      },
      ...errors(),
    },
  }),
  async (c) => {
    const query = c.req.valid("query");
    const resumeFrom = c.req.valid("header")["last-event-id"] ?? query.lastEventId;
    const parsed = parseTypes(query.types);
    // Unknown types were refused by the schema; `types` is there for the type checker.
    const types = "types" in parsed ? parsed.types : null;
    const stream = unwrap(
      await c.var.edge.events().open(c.var.principal, {
        types,
        region: query.region ?? null,
        lastEventId: resumeFrom === undefined ? null : Number(resumeFrom),
      }),
    );
    return c.body(stream, 200, STREAM_HEADERS);
  },
);
