import type { NodeRecord, NodeStatus } from "./node-table";
import type { TaskRecord } from "./task-queue";

/** A task as the contract shows it. */
export function taskView(task: TaskRecord) {
  return {
    id: task.id,
    type: task.type,
    payload: task.payload,
    status: task.status,
    priority: task.priority,
    region: task.region,
    nodeId: task.nodeId,
    attempts: task.attempts,
    maxAttempts: task.maxAttempts,
    timeoutMs: task.timeoutMs,
    result: task.result,
    lastError: task.lastError,
    createdAt: task.createdAt,
    updatedAt: task.updatedAt,
    runAt: task.runAt,
    idempotencyKey: task.idempotencyKey,
    affinityKey: task.affinityKey,
    scheduleId: task.scheduleId,
    routing: task.routing,
  };
}

export type TaskView = ReturnType<typeof taskView>;

/** How a node talks to its shard now: an open node channel, or plain HTTP calls. */
export type NodeTransport = "channel" | "http";

/** A node as the contract shows it. */
export function nodeView(node: NodeRecord, status: NodeStatus, transport: NodeTransport) {
  return {
    id: node.id,
    region: node.region,
    status,
    capacity: node.capacity,
    inFlight: node.inFlight,
    load: node.load,
    lastHeartbeatAt: node.lastSeenAt,
    labels: node.labels,
    transport,
  };
}

export type NodeView = ReturnType<typeof nodeView>;
