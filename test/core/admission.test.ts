import { describe, expect, it } from "vitest";
import {
  candidacyOwner,
  candidacyRefusal,
  candidateRefusal,
  claimDecision,
  leftForOwner,
  regionDeletionRefusal,
  shardRefusal,
} from "../../src/core/admission";
import { emptyElection } from "../../src/core/election";

describe("admission decisions", () => {
  it("a shard takes a task with a healthy node, and room when it was chosen for its room", () => {
    const region = (healthy: boolean, used: number) => ({ healthy, capacity: 4, inFlight: used, queued: 0 });
    expect(shardRefusal(region(false, 0), false)).toBe("unhealthy");
    expect(shardRefusal(region(false, 0), true)).toBe("unhealthy");
    expect(shardRefusal(region(true, 3), true)).toBeNull();
    expect(shardRefusal(region(true, 4), true)).toBe("full");
    expect(shardRefusal(region(true, 9), false)).toBeNull(); // the last resort: it waits in the queue
  });

  it("a poller steps over an affinity task only for its owner, and only while the owner has room", () => {
    const owner = { id: "n1", inFlight: 1, capacity: 2 };
    expect(leftForOwner(owner, "n2")).toBe(true);
    expect(leftForOwner(owner, "n1")).toBe(false); // the owner takes its own
    expect(leftForOwner({ ...owner, inFlight: 2 }, "n2")).toBe(false); // a full owner: anyone may
    expect(leftForOwner(undefined, "n2")).toBe(false); // no healthy owner
  });

  it("a region is deleted only without live nodes (checked first) and unfinished tasks", () => {
    expect(regionDeletionRefusal({ liveNodes: 1, unfinishedTasks: 1 })).toBe("region_has_nodes");
    expect(regionDeletionRefusal({ liveNodes: 0, unfinishedTasks: 2 })).toBe("region_has_tasks");
    expect(regionDeletionRefusal({ liveNodes: 0, unfinishedTasks: 0 })).toBeNull();
  });

  it("a candidate is refused when its node is gone, or when the election is full and it is new", () => {
    const now = 1000;
    const full = {
      ...emptyElection,
      candidates: [
        { candidate: "a", joinedAt: 1, expiresAt: now + 10 },
        { candidate: "b", joinedAt: 2, expiresAt: now + 10 },
        { candidate: "c", joinedAt: 3, expiresAt: now }, // lapsed: does not count
      ],
    };
    const limits = { maxCandidates: 2, nodeGone: false };
    expect(candidateRefusal(full, "new", now, limits)).toBe("too_many_candidates");
    expect(candidateRefusal(full, "a", now, limits)).toBeNull(); // a renewal
    expect(candidateRefusal(full, "c", now, { ...limits, maxCandidates: 3 })).toBeNull();
    expect(candidateRefusal(emptyElection, "a", now, { maxCandidates: 2, nodeGone: true })).toBe("node_dead");
  });

  it("a held candidacy is its owner's (or an admin's, or its vouched node's); a lapsed or legacy one is anyone's", () => {
    const now = 1_000;
    const held = { owner: "tok-a", expiresAt: now + 1 };
    const a = { role: "node", tokenId: "tok-a" };
    const b = { role: "node", tokenId: "tok-b" };
    expect(candidacyRefusal(held, a, now, false)).toBeNull();
    expect(candidacyRefusal(held, b, now, false)).toBe("not_owner");
    expect(candidacyRefusal(held, { role: "admin", tokenId: "tok-c" }, now, false)).toBeNull();
    expect(candidacyRefusal(held, b, now, true)).toBeNull(); // the shard vouched b owns the node
    expect(candidacyRefusal(null, b, now, false)).toBeNull();
    expect(candidacyRefusal({ ...held, expiresAt: now }, b, now, false)).toBeNull(); // lapsed
    expect(candidacyRefusal({ owner: null, expiresAt: now + 1 }, b, now, false)).toBeNull(); // legacy
    // The owner stays with a live hold; a new, lapsed or legacy one goes to the campaigning token.
    expect(candidacyOwner(held, "tok-b", now)).toBe("tok-a");
    expect(candidacyOwner(null, "tok-b", now)).toBe("tok-b");
    expect(candidacyOwner({ ...held, expiresAt: now }, "tok-b", now)).toBe("tok-b");
    expect(candidacyOwner({ owner: null, expiresAt: now + 1 }, "tok-b", now)).toBe("tok-b");
  });

  it("an idempotency key is new, the same body's task, or a mismatch", () => {
    expect(claimDecision(null, "h1")).toEqual({ kind: "new" });
    const record = { requestHash: "h1", taskId: "t-x", claimedAt: 50 };
    expect(claimDecision(record, "h1")).toEqual({ kind: "existing", taskId: "t-x", claimedAt: 50 });
    expect(claimDecision(record, "h2")).toEqual({ kind: "mismatch" });
  });
});
