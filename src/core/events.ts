/**
 * The deployment's live events (`GET /v1/events`, API-v2 §7): what they are, which stream wants
 * which, and how each is written as a Server-Sent Events message. Pure: no clock (`at` is given by
 * whoever saw the event happen), no I/O.
 */
import type { RoutingReason } from "./geo-routing";

/** Every event type (the one definition: the query schema and the hub's filter derive from it). */
export const EVENT_TYPES = [
  "task.routed",
  "task.leased",
  "task.succeeded",
  "task.failed",
  "node.up",
  "node.down",
  "leader.changed",
  "region.changed",
  "schedule.fired",
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/** Why a node left the pool of nodes that take work. */
export const NODE_DOWN_REASONS = ["dead", "deregistered", "drained", "revoked"] as const;
export type NodeDownReason = (typeof NODE_DOWN_REASONS)[number];

/**
 * An event as its producer (a region shard, the coordinator) records it: everything but the id,
 * which the hub gives when it takes the event. Type literals, not interfaces: they cross RPC.
 * `tenant`: whose event it is (a task's, a node's, a schedule's, an election's), never shown; only
 * that tenant's streams get it. Without one (`region.changed`: regions are shared) every stream may.
 */
export type EventBody = { tenant?: string } & (
  | {
      type: "task.routed";
      at: number;
      taskId: string;
      taskType: string;
      region: string;
      origin: { lat: number; lon: number } | null;
      reason: RoutingReason;
    }
  | { type: "task.leased"; at: number; taskId: string; region: string; nodeId: string; attempt: number }
  | { type: "task.succeeded"; at: number; taskId: string; region: string; nodeId: string; attempts: number }
  | {
      type: "task.failed";
      at: number;
      taskId: string;
      region: string;
      nodeId: string;
      attempts: number;
      /** No retry is left: the task is `failed` for good. */
      final: boolean;
    }
  | { type: "node.up"; at: number; nodeId: string; region: string; transport: "channel" | "http" }
  | { type: "node.down"; at: number; nodeId: string; region: string; reason: NodeDownReason }
  | { type: "leader.changed"; at: number; election: string; leader: string | null; term: number }
  | {
      type: "schedule.fired";
      at: number;
      scheduleId: string;
      /** The slot the run is for (ms since epoch); `at` is when its task was stored. */
      slot: number;
      taskId: string;
      /** Where the task went (routed as any task); the schedule's home may be another region. */
      region: string;
    }
  | {
      type: "region.changed";
      at: number;
      region: string;
      healthy: boolean;
      capacity: number;
      inFlight: number;
      queued: number;
    }
);

/** An event in the deployment's stream: its body with the id the hub gave it. */
export type NumberedEvent = { id: number } & EventBody;

/**
 * Which events a stream wants: some types (null: all), of one region (null: all). `tenant`: the
 * reader's, whose events only it may see (null: a global admin, every tenant's).
 */
export interface EventFilter {
  types: ReadonlySet<EventType> | null;
  region: string | null;
  tenant: string | null;
}

export const NO_FILTER: EventFilter = { types: null, region: null, tenant: null };

/**
 * Whether a stream with `filter` gets `event`. An event without a region (`leader.changed`) is sent
 * whatever the region filter: an election is not a region's (the contract says so).
 */
export function wants(filter: EventFilter, event: EventBody): boolean {
  if (filter.types !== null && !filter.types.has(event.type)) {
    return false;
  }
  if (filter.tenant !== null && event.tenant !== undefined && event.tenant !== filter.tenant) {
    return false;
  }
  if (filter.region === null || !("region" in event)) {
    return true;
  }
  return event.region === filter.region;
}

/** Parses `?types=`: a comma list of known types (empty items ignored); null when absent or empty. */
export function parseTypes(text: string | undefined): { types: EventType[] | null } | { unknown: string } {
  if (text === undefined) {
    return { types: null };
  }
  const names = text
    .split(",")
    .map((t) => t.trim())
    .filter((t) => t !== "");
  for (const name of names) {
    if (!(EVENT_TYPES as readonly string[]).includes(name)) {
      return { unknown: name };
    }
  }
  return { types: names.length === 0 ? null : [...new Set(names as EventType[])] };
}

/**
 * One event as an SSE message. The JSON is one line (JSON.stringify never writes a raw newline),
 * so one `data:` line carries it; the id leads the object, as the contract shows it.
 */
export function eventMessage(event: NumberedEvent): string {
  const { id, type, tenant: _whose, ...fields } = event;
  return `id: ${id}\nevent: ${type}\ndata: ${JSON.stringify({ id, type, ...fields })}\n\n`;
}

/** The control message sent in place of events a slow reader missed (no `id:`: it is not an event). */
export function droppedMessage(missed: number): string {
  return `event: dropped\ndata: ${JSON.stringify({ missed })}\n\n`;
}

/**
 * Why a resume cannot give exactly the events after `Last-Event-ID`: `too_old` (they left the
 * replay buffer, or the hub restarted since), `unknown_id` (an id this stream never gave).
 */
export type ResetReason = "too_old" | "unknown_id";

/** The control message telling a resuming reader to reload its state: the events since its id are gone. */
export function resetMessage(reason: ResetReason): string {
  return `event: reset\ndata: ${JSON.stringify({ reason })}\n\n`;
}

/** The comment line sent on a quiet stream, so proxies keep it open and a dead reader is noticed. */
export const KEEP_ALIVE_MESSAGE = ": keep-alive\n\n";
