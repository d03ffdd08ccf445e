/**
 * Heartbeat failure detection: a node is healthy while its heartbeats arrive, suspect once two
 * intervals pass in silence, and dead after deadAfterMs. Pure: the caller passes `now`.
 */

/** heartbeatIntervalMs: how often nodes beat; deadAfterMs: silence after which a node is dead. */
export interface HeartbeatConfig {
  heartbeatIntervalMs: number;
  deadAfterMs: number;
}

/** A node's statuses as the contract shows them (the one definition; the zod schema derives from it). */
export const NODE_STATUSES = ["healthy", "suspect", "draining", "dead"] as const;
export type NodeStatus = (typeof NODE_STATUSES)[number];

/** A node's health as seen from its last heartbeat. */
export type NodeHealth = "healthy" | "suspect" | "dead";

/**
 * dead when now - lastSeenAt >= deadAfterMs; suspect when now - lastSeenAt > 2 * heartbeatIntervalMs
 * (and not dead); else healthy. A heartbeat from the future (clock skew) counts as healthy.
 */
export function nodeHealth(lastSeenAt: number, now: number, config: HeartbeatConfig): NodeHealth {
  const silence = now - lastSeenAt;
  if (silence >= config.deadAfterMs) {
    return "dead";
  }
  if (silence > 2 * config.heartbeatIntervalMs) {
    return "suspect";
  }
  return "healthy";
}

/** The instant the node becomes dead unless it beats again: lastSeenAt + deadAfterMs (for the alarm). */
export function deathDeadline(lastSeenAt: number, config: HeartbeatConfig): number {
  return lastSeenAt + config.deadAfterMs;
}
