/**
 * What the edge and a region shard say to each other about tasks: the commands the edge sends and
 * the leased tasks a shard hands out. Types only (plain, serializable: they cross RPC).
 */
import type { RoutingReason } from "./geo-routing";
import type { AllowList, Considered } from "./placement";

/** Where a task came from, where it went and why, with every region the edge looked at (API-v2 §2). */
export type TaskRouting = {
  reason: RoutingReason;
  region: string;
  distanceKm: number | null;
  /** A type literal, not `LatLon` (an interface): what crosses RPC must be a serializable type. */
  from: { lat: number; lon: number } | null;
  considered: Considered[];
};

/** A task as handed to a node by poll (a type, not an interface: it crosses RPC). */
export type LeasedTask = {
  id: string;
  type: string;
  payload: unknown;
  attempt: number;
  leaseToken: string;
  leaseExpiresAt: number;
};

/** What the edge sends a shard to store one task: the validated body, its id and where it was routed. */
export interface SubmitCommand {
  /** Minted by the edge; names this shard's region. */
  id: string;
  type: string;
  payload: unknown;
  priority: number;
  runAt: number | null;
  delayMs: number | null;
  maxAttempts: number;
  timeoutMs: number;
  idempotencyKey: string | null;
  requestHash: string | null;
  affinityKey: string | null;
  /** The task's allow-list, kept with it (a reroute honours it). */
  allow: AllowList | null;
  /** A retry with reroute that moved a task here: the task it replays (its attempts start afresh). */
  retryOf: string | null;
  /** The schedule whose slot this task is (null for a task submitted by hand). */
  scheduleId: string | null;
  routing: TaskRouting;
  /** Refuse when the region is full (the edge chose it for its room). */
  requireRoom: boolean;
}

/** One outcome in a node's report: the semantics of complete / fail. */
export interface ReportInput {
  id: string;
  leaseToken: string;
  outcome: "succeeded" | "failed";
  result?: unknown;
  error?: string;
  retryable?: boolean;
}
