/**
 * Leader election by seniority (the ZooKeeper recipe): every candidate holds a TTL'd registration,
 * and the leader is the live candidate that joined first. Terms are fencing tokens: they strictly
 * increase at each change of leader and are at least the time the leadership began.
 */

/** A registration. joinedAt is kept across renewals; it is the candidate's seniority. */
export interface Candidate {
  candidate: string;
  joinedAt: number;
  expiresAt: number;
}

/** The current leadership, as handed to the leader (term is its fencing token). */
export interface Leadership {
  candidate: string;
  term: number;
  since: number;
  expiresAt: number;
}

/** term 0 = never had a leader; candidates kept sorted by (joinedAt, candidate). */
export interface ElectionState {
  term: number;
  leader: string | null;
  since: number | null;
  candidates: Candidate[];
}

/** Inputs to the election state machine. */
export type ElectionEvent =
  /** Join (joinedAt = now, or just after the newest candidate if that is later) or renew (expiresAt = now + ttlMs, joinedAt unchanged). */
  | { kind: "campaign"; candidate: string; ttlMs: number }
  | { kind: "resign"; candidate: string }
  /** E.g. the node behind the candidate died. */
  | { kind: "remove"; candidate: string }
  /** Only drop expired candidates. */
  | { kind: "tick" };

const noCandidates: Candidate[] = [];
Object.freeze(noCandidates);

/** The state before any event. Frozen: applyElection never mutates its input. */
export const emptyElection: ElectionState = Object.freeze({
  term: 0,
  leader: null,
  since: null,
  candidates: noCandidates,
});

/**
 * The ttl of a candidacy bound to a node's channel session: a century, so it never lapses by time;
 * it ends when the node's session does (the node dies or deregisters) or when it resigns.
 */
export const SESSION_TTL_MS = 100 * 365 * 24 * 3600 * 1000;

/**
 * Whether a candidacy's expiry is a due time to wake up for: a session's is not (it ends with the
 * session, and a century ahead is past what an alarm may be set to: `setAlarm` refuses dates after
 * 2189, so a channel campaign made from 2089 on would fail).
 */
export function lapsesByTime(expiresAt: number, now: number): boolean {
  return expiresAt - now < SESSION_TTL_MS / 2;
}

/** The term for a new leadership: max(previous + 1, now), so terms are unique and time-ordered. */
export function nextTerm(previousTerm: number, now: number): number {
  return Math.max(previousTerm + 1, now);
}

/** Seniority order: earlier joinedAt first, then candidate name in code-unit order. */
function bySeniority(a: Candidate, b: Candidate): number {
  if (a.joinedAt !== b.joinedAt) {
    return a.joinedAt < b.joinedAt ? -1 : 1;
  }
  return a.candidate < b.candidate ? -1 : a.candidate > b.candidate ? 1 : 0;
}

/**
 * Drops candidates with expiresAt <= now, applies the event, recomputes the leader = oldest live
 * candidate; if the leader changed to a non-null candidate, term = nextTerm(term, now) and since = now.
 * If nobody is left: leader null, since null, term unchanged. Pure: returns a new state, never
 * mutates the input.
 *
 * Two choices the summary above leaves open:
 * - A campaign with ttlMs <= 0 registers nothing live (expiresAt <= now), so for a current candidate
 *   it acts as a resignation.
 * - If the leader lapsed (expired, resigned or was removed) and the same name is elected again in the
 *   same step (it re-campaigned as a new registration), that is a leader change with a new term:
 *   the lapsed incarnation's fencing token must stop working.
 */
export function applyElection(
  state: ElectionState,
  event: ElectionEvent,
  now: number,
): { state: ElectionState; leaderChanged: boolean } {
  const candidates: Candidate[] = [];
  // Whether the previous leader's registration (not just its name) is still live after the event.
  let leaderSurvived = false;
  let renewed: Candidate | null = null;
  for (const c of state.candidates) {
    if (!(c.expiresAt > now)) {
      continue;
    }
    if (event.kind !== "tick" && c.candidate === event.candidate) {
      if (event.kind === "campaign") {
        renewed = { candidate: c.candidate, joinedAt: c.joinedAt, expiresAt: now + event.ttlMs };
      }
      continue;
    }
    candidates.push({ candidate: c.candidate, joinedAt: c.joinedAt, expiresAt: c.expiresAt });
    if (c.candidate === state.leader) {
      leaderSurvived = true;
    }
  }
  if (event.kind === "campaign") {
    // Joins are strictly ordered, like ZooKeeper's sequential znodes: a newcomer in the same
    // millisecond as another candidate queues behind it instead of outranking it by name.
    const newest = candidates.reduce((max, c) => Math.max(max, c.joinedAt), Number.NEGATIVE_INFINITY);
    const joinedAt = Math.max(now, newest + 1);
    const entry = renewed ?? { candidate: event.candidate, joinedAt, expiresAt: now + event.ttlMs };
    if (entry.expiresAt > now) {
      candidates.push(entry);
      if (renewed !== null && entry.candidate === state.leader) {
        leaderSurvived = true;
      }
    }
  }
  // The input is normally sorted already (then this is one linear pass), but state loaded from
  // storage is not trusted to be.
  candidates.sort(bySeniority);
  const head = candidates[0];
  const leader = head === undefined ? null : head.candidate;
  const leaderChanged = leader !== state.leader || (leader !== null && !leaderSurvived);
  if (!leaderChanged) {
    return { state: { term: state.term, leader, since: state.since, candidates }, leaderChanged };
  }
  if (leader === null) {
    return { state: { term: state.term, leader: null, since: null, candidates }, leaderChanged };
  }
  return { state: { term: nextTerm(state.term, now), leader, since: now, candidates }, leaderChanged };
}

/** The current leadership (expiresAt = the leader candidate's expiresAt), or null. Does not check the clock. */
export function leadership(state: ElectionState): Leadership | null {
  if (state.leader === null || state.since === null) {
    return null;
  }
  for (const c of state.candidates) {
    if (c.candidate === state.leader) {
      return { candidate: c.candidate, term: state.term, since: state.since, expiresAt: c.expiresAt };
    }
  }
  return null;
}

/** 0 = leader, 1 = next in line, ...; -1 if not a candidate. */
export function positionOf(state: ElectionState, candidate: string): number {
  return state.candidates.findIndex((c) => c.candidate === candidate);
}

/** Earliest candidate expiresAt (when the next tick can change something), for the alarm; null if none. */
export function nextExpiry(state: ElectionState): number | null {
  let earliest: number | null = null;
  for (const c of state.candidates) {
    if (earliest === null || c.expiresAt < earliest) {
      earliest = c.expiresAt;
    }
  }
  return earliest;
}
