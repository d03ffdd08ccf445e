/**
 * Sequential specifications of two Meridian objects, from /work/shared/API.md, for the
 * linearizability checker: one task's lease lifecycle, and one election (with ttls long enough that
 * nothing expires during a recording, so the specification does not need a clock).
 */
import type { Model, Operation } from "./linearizability";

// ---- one task: poll, complete, fail (not retryable), cancel, get ----

export type TaskInput =
  | { op: "poll"; task: string }
  | { op: "complete" | "fail"; task: string; token: string }
  | { op: "cancel" | "get"; task: string };

/** What a client saw: an HTTP status, plus the token a poll handed out, the status a get read. */
export type TaskOutput = { status: number; reason?: string; token?: string; taskStatus?: string };

type TaskState = { status: "queued" | "leased" | "succeeded" | "failed" | "canceled"; token: string | null };

/** The contract's lease rules: only the current token of a leased task is recorded; a succeeded task keeps its token. */
export const taskModel: Model<TaskState, TaskInput, TaskOutput> = {
  init: () => ({ status: "queued", token: null }),
  key: (s) => `${s.status}:${s.token}`,
  partition: (history) => {
    const byTask = new Map<string, Operation<TaskInput, TaskOutput>[]>();
    for (const op of history) {
      const list = byTask.get(op.input.task) ?? [];
      list.push(op);
      byTask.set(op.input.task, list);
    }
    return [...byTask.values()];
  },
  step(s, input, out) {
    switch (input.op) {
      case "poll":
        if (s.status === "queued") {
          return out.token !== undefined ? { status: "leased", token: out.token } : null;
        }
        return out.token === undefined ? s : null;
      case "get":
        return out.taskStatus === s.status ? s : null;
      case "cancel":
        if (s.status === "queued" || s.status === "leased") {
          return out.status === 200 ? { status: "canceled", token: null } : null;
        }
        return out.status === 409 && out.reason === "already_terminal" ? s : null;
      default: {
        // checkLease: the token must be the current one, on a leased task.
        const refusal =
          s.token !== input.token
            ? "lease_lost"
            : s.status !== "leased"
              ? s.status === "succeeded" || s.status === "failed" || s.status === "canceled"
                ? "already_terminal"
                : "lease_lost"
              : null;
        if (refusal !== null) {
          return out.status === 409 && out.reason === refusal ? s : null;
        }
        if (out.status !== 200) {
          return null;
        }
        return input.op === "complete"
          ? { status: "succeeded", token: s.token }
          : { status: "failed", token: null };
      }
    }
  },
};

// ---- one election: campaign, resign, fence ----

export type ElectionInput = { op: "campaign" | "resign"; candidate: string } | { op: "fence"; term: number };

export type ElectionOutput = {
  status: number;
  reason?: string;
  isLeader?: boolean;
  position?: number;
  leader?: { candidate: string; term: number } | null;
};

/** `term` is NaN while a leadership that began by a resignation has not been observed yet; it must exceed `floor`. */
type ElectionState = { candidates: string[]; leader: string | null; term: number; floor: number };

/** Leader = the oldest live candidate; the term strictly increases at every change of leader and is never reused. */
export const electionModel: Model<ElectionState, ElectionInput, ElectionOutput> = {
  init: () => ({ candidates: [], leader: null, term: 0, floor: 0 }),
  key: (s) => `${s.candidates.join(",")}|${s.leader}|${s.term}|${s.floor}`,
  step(s, input, out) {
    if (input.op === "fence") {
      if (Number.isNaN(s.term)) {
        // The current term is not known yet: a fresh one may be confirmed, and then it is known.
        if (out.status === 200) {
          return s.leader !== null && input.term > s.floor ? { ...s, term: input.term } : null;
        }
        return out.status === 409 && out.reason === "stale_term" ? s : null;
      }
      const current = s.leader !== null && input.term === s.term;
      if (current) {
        return out.status === 200 ? s : null;
      }
      return out.status === 409 && out.reason === "stale_term" ? s : null;
    }
    if (out.status !== 200) {
      return null;
    }
    const candidates =
      input.op === "resign"
        ? s.candidates.filter((c) => c !== input.candidate)
        : s.candidates.includes(input.candidate)
          ? s.candidates
          : [...s.candidates, input.candidate];
    const leader = candidates[0] ?? null;
    let term = s.term;
    let floor = s.floor;
    if (leader !== s.leader && leader !== null) {
      // A new leadership: a term the coordinator mints, strictly above every earlier one.
      floor = Number.isNaN(s.term) ? s.floor : s.term;
      term = Number.NaN;
    }
    if (input.op === "campaign") {
      const position = candidates.indexOf(input.candidate);
      if (
        out.position !== position ||
        out.isLeader !== (position === 0) ||
        out.leader?.candidate !== leader
      ) {
        return null;
      }
      if (Number.isNaN(term)) {
        if (!(out.leader.term > floor)) {
          return null;
        }
        term = out.leader.term;
      } else if (out.leader.term !== term) {
        return null;
      }
    }
    return { candidates, leader, term, floor };
  },
};
