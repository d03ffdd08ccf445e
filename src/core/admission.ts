/**
 * Admission decisions the objects make before they change anything: whether a shard takes a task,
 * whether a region may be deleted, whether a candidate may join an election, and what an
 * idempotency key's record means for a new submit. Pure: counts and records come in as arguments.
 */
import type { ElectionState } from "./election";
import type { Refusal } from "./placement";

/** Whether a region takes an offered task: it needs a healthy node, and room when chosen for its room. */
export function shardRefusal(
  region: { healthy: boolean; capacity: number; inFlight: number; queued: number },
  requireRoom: boolean,
): Refusal | null {
  if (!region.healthy) {
    return "unhealthy";
  }
  if (requireRoom && region.inFlight + region.queued >= region.capacity) {
    return "full";
  }
  return null;
}

/**
 * Whether a polling node steps over a task with an affinity key: when the key's owner (consistent
 * hashing with bounded loads among the region's healthy nodes) is another node that has room.
 */
export function leftForOwner(
  owner: { id: string; inFlight: number; capacity: number } | undefined,
  pollerId: string,
): boolean {
  return owner !== undefined && owner.id !== pollerId && owner.inFlight < owner.capacity;
}

/** Why a region may not be deleted yet (its live nodes first), or null. */
export function regionDeletionRefusal(region: {
  liveNodes: number;
  unfinishedTasks: number;
  /** Schedules whose home is the region (its shard fires them); absent counts as none. */
  schedules?: number;
}): "region_has_nodes" | "region_has_tasks" | "region_has_schedules" | null {
  if (region.liveNodes > 0) {
    return "region_has_nodes";
  }
  if (region.unfinishedTasks > 0) {
    return "region_has_tasks";
  }
  if ((region.schedules ?? 0) > 0) {
    return "region_has_schedules";
  }
  return null;
}

/** Why a candidate may not campaign, or null: a node that is gone, or a full election. */
export function candidateRefusal(
  election: ElectionState,
  candidate: string,
  now: number,
  limits: { maxCandidates: number; nodeGone: boolean },
): "node_dead" | "too_many_candidates" | null {
  if (limits.nodeGone) {
    return "node_dead";
  }
  const live = election.candidates.filter((c) => c.expiresAt > now);
  if (!live.some((c) => c.candidate === candidate) && live.length >= limits.maxCandidates) {
    return "too_many_candidates";
  }
  return null;
}

/**
 * A live candidacy as stored: the token that first campaigned it, null for one from before owners
 * were kept (coordinator schema v10).
 */
export interface CandidacyHold {
  owner: string | null;
  expiresAt: number;
}

/**
 * Whether a token may campaign, renew or resign `candidate` held as `hold` (null: never held):
 * anyone may take a candidate nobody holds live; a held one is its owner's, an admin's of the
 * tenant, or the node's token when the candidate is a node its shard vouched for (`vouchedNode`).
 * A legacy hold (no owner) is open to the tenant's tokens, as it was before owners were kept.
 */
export function candidacyRefusal(
  hold: CandidacyHold | null,
  caller: { role: string; tokenId: string },
  now: number,
  vouchedNode: boolean,
): "not_owner" | null {
  if (hold === null || !(hold.expiresAt > now) || hold.owner === null) {
    return null;
  }
  if (vouchedNode || caller.role === "admin" || hold.owner === caller.tokenId) {
    return null;
  }
  return "not_owner";
}

/**
 * The owner a campaign leaves a candidacy with: the live holder's, else the campaigning token's (so a
 * legacy hold is claimed by its first renewal, and a lapsed one by whoever campaigns it next).
 */
export function candidacyOwner(hold: CandidacyHold | null, tokenId: string, now: number): string {
  return hold !== null && hold.expiresAt > now && hold.owner !== null ? hold.owner : tokenId;
}

/** An idempotency key's record: the body it was first used with and the task it names. */
export interface KeyRecord {
  requestHash: string;
  taskId: string;
  claimedAt: number;
}

/**
 * What a submit with an idempotency key does, from the key's record:
 * - no record: it is new (the record now names the task about to be stored);
 * - another body: 409 `idempotency_mismatch`;
 * - the same body: the task the record names, which the edge reads from its shard.
 */
export function claimDecision(
  record: KeyRecord | null,
  requestHash: string,
): { kind: "new" } | { kind: "mismatch" } | { kind: "existing"; taskId: string; claimedAt: number } {
  if (record === null) {
    return { kind: "new" };
  }
  if (record.requestHash !== requestHash) {
    return { kind: "mismatch" };
  }
  return { kind: "existing", taskId: record.taskId, claimedAt: record.claimedAt };
}
