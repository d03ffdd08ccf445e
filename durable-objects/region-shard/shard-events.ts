import type { EventBody, NodeDownReason } from "../../src/core/events";
import type { NodeRecord } from "./node-table";
import type { TaskRecord } from "./task-queue";

/** Records one event of the shard (into its EventOutbox). */
export type RecordEvent = (event: EventBody) => void;

/** A task was stored here (the edge routed it to this region, and the shard took it). */
export function taskRouted(task: TaskRecord, now: number): EventBody {
  const { routing } = task;
  return {
    type: "task.routed",
    tenant: task.tenant,
    at: now,
    taskId: task.id,
    taskType: task.type,
    region: task.region,
    origin: routing.from === null ? null : { lat: routing.from.lat, lon: routing.from.lon },
    reason: routing.reason,
  };
}

/** An attempt started: `attempt` counts from 1. */
export function taskLeased(task: TaskRecord, nodeId: string, attempt: number, now: number): EventBody {
  return {
    type: "task.leased",
    tenant: task.tenant,
    at: now,
    taskId: task.id,
    region: task.region,
    nodeId,
    attempt,
  };
}

/** `held` is the task as its holder had it (its node, its attempts), before it was saved as succeeded. */
export function taskSucceeded(held: TaskRecord, now: number): EventBody {
  return {
    type: "task.succeeded",
    tenant: held.tenant,
    at: now,
    taskId: held.id,
    region: held.region,
    nodeId: held.nodeId ?? "",
    attempts: held.attempts,
  };
}

/** A failed attempt (`fail`, an expired lease, its node gone); `final` when no retry is left. */
export function taskFailed(held: TaskRecord, final: boolean, now: number): EventBody {
  return {
    type: "task.failed",
    tenant: held.tenant,
    at: now,
    taskId: held.id,
    region: held.region,
    nodeId: held.nodeId ?? "",
    attempts: held.attempts,
    final,
  };
}

export function nodeUp(node: NodeRecord, transport: "channel" | "http", now: number): EventBody {
  return { type: "node.up", tenant: node.tenant, at: now, nodeId: node.id, region: node.region, transport };
}

export function nodeDown(node: NodeRecord, reason: NodeDownReason, now: number): EventBody {
  return { type: "node.down", tenant: node.tenant, at: now, nodeId: node.id, region: node.region, reason };
}
