/**
 * The events of `GET /v1/events` (API-v2 §7) as the dashboard reads them, and the check that turns
 * a message's JSON into one of them. A message the dashboard does not understand (a newer type, a
 * malformed body) is skipped, never trusted: `JSON.parse(x) as T` would let one bad field break
 * the page. Fields the server gives from a fixed list (a routing reason, why a node went down) are
 * checked as strings only: the page just shows them, and a newer server may add values. Pure.
 */
import { EVENT_TYPES, type EventBody, type EventType } from "../../src/core/events";

export interface LatLon {
  lat: number;
  lon: number;
}

/**
 * An event as the dashboard holds it: the server's event body (src/core/events.ts, the one
 * definition) with the stream's id as a string, as `Last-Event-ID` carries it.
 */
export type LiveEvent = EventBody & { id: string };

export type LiveEventType = EventType;

/** The types the dashboard subscribes to (`?types=`): all of them. */
export const LIVE_EVENT_TYPES: readonly LiveEventType[] = EVENT_TYPES;

type Shape = Record<string, "string" | "number" | "boolean" | "string?" | "latlon?">;

/** The fields each type must carry, and their kinds. */
const SHAPES: Record<LiveEventType, Shape> = {
  "task.routed": {
    taskId: "string",
    taskType: "string",
    region: "string",
    origin: "latlon?",
    reason: "string",
  },
  "task.leased": { taskId: "string", region: "string", nodeId: "string", attempt: "number" },
  "task.succeeded": { taskId: "string", region: "string", nodeId: "string", attempts: "number" },
  "task.failed": {
    taskId: "string",
    region: "string",
    nodeId: "string",
    attempts: "number",
    final: "boolean",
  },
  "node.up": { nodeId: "string", region: "string", transport: "string" },
  "node.down": { nodeId: "string", region: "string", reason: "string" },
  "leader.changed": { election: "string", leader: "string?", term: "number" },
  "schedule.fired": { scheduleId: "string", slot: "number", taskId: "string", region: "string" },
  "region.changed": {
    region: "string",
    healthy: "boolean",
    capacity: "number",
    inFlight: "number",
    queued: "number",
  },
};

function isLatLon(value: unknown): value is LatLon {
  const v = value as LatLon | null;
  return typeof v === "object" && v !== null && Number.isFinite(v.lat) && Number.isFinite(v.lon);
}

function fits(value: unknown, kind: Shape[string]): boolean {
  switch (kind) {
    case "string?":
      return value === null || value === undefined || typeof value === "string";
    case "latlon?":
      return value === null || value === undefined || isLatLon(value);
    case "number":
      return typeof value === "number" && Number.isFinite(value);
    default:
      return typeof value === kind;
  }
}

/**
 * The event a message carries, or null when it is not one the dashboard knows (unknown type, not
 * JSON, a field missing or of the wrong kind). `type` is the message's `event:`; `id` its `id:`.
 */
export function parseLiveEvent(type: string, data: string, id: string): LiveEvent | null {
  const shape = SHAPES[type as LiveEventType];
  if (!shape) {
    return null;
  }
  let body: unknown;
  try {
    body = JSON.parse(data);
  } catch {
    return null;
  }
  if (typeof body !== "object" || body === null) {
    return null;
  }
  const fields = body as Record<string, unknown>;
  if (!fits(fields.at, "number")) {
    return null;
  }
  for (const [name, kind] of Object.entries(shape)) {
    if (!fits(fields[name], kind)) {
      return null;
    }
  }
  const normalised: Record<string, unknown> = { ...fields, type, id: id || String(fields.id ?? "") };
  if (type === "task.routed") {
    normalised.origin = isLatLon(fields.origin) ? { lat: fields.origin.lat, lon: fields.origin.lon } : null;
  }
  if (type === "leader.changed") {
    normalised.leader = typeof fields.leader === "string" ? fields.leader : null;
  }
  // Every field of the type was checked against SHAPES above.
  return normalised as unknown as LiveEvent;
}
