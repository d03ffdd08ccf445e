import type { EndpointRecord } from "./endpoint-table";
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
    regions: task.allow === null ? null : [...task.allow.regions],
    fallback: task.allow?.fallback ?? null,
    retryOf: task.retryOf,
    retriedAs: task.retriedAs,
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

/** A push endpoint as the contract shows it (never its secret: that is shown once, by the PUT that creates it). */
export function endpointView(endpoint: EndpointRecord, region: string) {
  return {
    name: endpoint.name,
    region,
    url: endpoint.url,
    capacity: endpoint.capacity,
    timeoutMs: endpoint.timeoutMs,
    inFlight: endpoint.holder.inFlight,
    breaker: {
      state: endpoint.breaker.state,
      failures: endpoint.breaker.failures,
      openedAt: endpoint.breaker.openedAt,
    },
    createdAt: endpoint.createdAt,
    updatedAt: endpoint.updatedAt,
  };
}

export type EndpointView = ReturnType<typeof endpointView>;
