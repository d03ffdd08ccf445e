/**
 * The reference model of one election, written from the contract (leader by seniority, terms as
 * fencing tokens), not from the coordinator's code.
 */

export interface ModelCandidate {
  candidate: string;
  joinedAt: number;
  expiresAt: number;
  nodeId: string | null;
}

/** Leader by seniority, terms as fencing tokens (the contract's "Elections" section). */
export class ElectionModel {
  term = 0;
  leader: string | null = null;
  since: number | null = null;
  exists = false;
  candidates: ModelCandidate[] = [];

  /** Applies one event at `now`; returns whether the leadership changed. */
  apply(
    event:
      | { kind: "campaign"; candidate: string; ttlMs: number; nodeId: string | null }
      | { kind: "resign" | "remove"; candidate: string }
      | { kind: "tick" },
    now: number,
  ): boolean {
    const live = this.candidates.filter((c) => c.expiresAt > now);
    const oldLeaderEntry = live.find((c) => c.candidate === this.leader);
    let next = live;
    if (event.kind === "resign" || event.kind === "remove") {
      next = live.filter((c) => c.candidate !== event.candidate);
    } else if (event.kind === "campaign") {
      const mine = live.find((c) => c.candidate === event.candidate);
      if (mine) {
        next = live.map((c) =>
          c === mine ? { ...c, expiresAt: now + event.ttlMs, nodeId: event.nodeId } : c,
        );
      } else {
        const newest = Math.max(Number.NEGATIVE_INFINITY, ...live.map((c) => c.joinedAt));
        next = [
          ...live,
          {
            candidate: event.candidate,
            joinedAt: Math.max(now, newest + 1),
            expiresAt: now + event.ttlMs,
            nodeId: event.nodeId,
          },
        ];
      }
    }
    next.sort((a, b) =>
      a.joinedAt !== b.joinedAt ? a.joinedAt - b.joinedAt : a.candidate < b.candidate ? -1 : 1,
    );
    this.candidates = next;
    this.exists = true;
    const head = next[0] ?? null;
    // Same name still leading is a change only if its registration lapsed and it joined again.
    const survived =
      head !== null &&
      oldLeaderEntry !== undefined &&
      head.candidate === oldLeaderEntry.candidate &&
      head.joinedAt === oldLeaderEntry.joinedAt;
    const changed = head === null ? this.leader !== null : !survived;
    if (!changed) {
      return false;
    }
    if (head === null) {
      this.leader = null;
      this.since = null;
    } else {
      this.term = Math.max(this.term + 1, now);
      this.leader = head.candidate;
      this.since = now;
    }
    return true;
  }

  leaderExpiresAt(): number | null {
    return this.candidates.find((c) => c.candidate === this.leader)?.expiresAt ?? null;
  }
}
