import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  applyElection,
  type Candidate,
  type ElectionEvent,
  type ElectionState,
  emptyElection,
  leadership,
  nextExpiry,
  nextTerm,
  positionOf,
} from "../../src/core/election";

/** Applies events at the given times, returning every intermediate result. */
function run(steps: [ElectionEvent, number][], from: ElectionState = emptyElection) {
  const results: { state: ElectionState; leaderChanged: boolean }[] = [];
  let state = from;
  for (const [event, now] of steps) {
    const result = applyElection(state, event, now);
    results.push(result);
    state = result.state;
  }
  return { state, results };
}

const campaign = (candidate: string, ttlMs = 1000): ElectionEvent => ({ kind: "campaign", candidate, ttlMs });
const resign = (candidate: string): ElectionEvent => ({ kind: "resign", candidate });
const remove = (candidate: string): ElectionEvent => ({ kind: "remove", candidate });
const tick: ElectionEvent = { kind: "tick" };

describe("nextTerm", () => {
  it.each([
    [0, 1000, 1000],
    [1000, 1000, 1001],
    [5000, 1000, 5001],
    [0, 0, 1],
  ])("nextTerm(%i, now %i) = %i", (previous, now, expected) => {
    expect(nextTerm(previous, now)).toBe(expected);
  });
});

describe("applyElection examples", () => {
  it("the first candidate becomes leader with term = now", () => {
    const { state, leaderChanged } = applyElection(emptyElection, campaign("a"), 1000);
    expect(leaderChanged).toBe(true);
    expect(state).toEqual({
      term: 1000,
      leader: "a",
      since: 1000,
      candidates: [{ candidate: "a", joinedAt: 1000, expiresAt: 2000 }],
    });
    expect(leadership(state)).toEqual({ candidate: "a", term: 1000, since: 1000, expiresAt: 2000 });
  });

  it("a later candidate waits in line; renewing keeps seniority", () => {
    const { state, results } = run([
      [campaign("b"), 1000],
      [campaign("a"), 1100],
      [campaign("a"), 1200],
      [campaign("b", 500), 1300],
    ]);
    expect(results.map((r) => r.leaderChanged)).toEqual([true, false, false, false]);
    expect(state.leader).toBe("b");
    expect(state.term).toBe(1000);
    expect(state.candidates).toEqual([
      { candidate: "b", joinedAt: 1000, expiresAt: 1800 },
      { candidate: "a", joinedAt: 1100, expiresAt: 2200 },
    ]);
    expect(positionOf(state, "b")).toBe(0);
    expect(positionOf(state, "a")).toBe(1);
    expect(positionOf(state, "z")).toBe(-1);
    expect(nextExpiry(state)).toBe(1800);
  });

  it.each([
    ["resign", resign("a")],
    ["remove", remove("a")],
  ])("on %s the next oldest takes over with a new term", (_, event) => {
    const { state, results } = run([
      [campaign("a"), 1000],
      [campaign("b"), 1000],
      [campaign("c"), 1001],
      [event, 1500],
    ]);
    expect(results.at(-1)?.leaderChanged).toBe(true);
    expect(state).toMatchObject({ leader: "b", term: 1500, since: 1500 });
  });

  it("an expired leader is dropped on tick; expiry at exactly now counts as expired", () => {
    const { state, results } = run([
      [campaign("a", 100), 1000],
      [campaign("b", 1000), 1050],
      [tick, 1099],
      [tick, 1100],
    ]);
    expect(results.map((r) => r.leaderChanged)).toEqual([true, false, false, true]);
    expect(state).toMatchObject({ leader: "b", term: 1100, since: 1100 });
    expect(positionOf(state, "a")).toBe(-1);
  });

  it("when everyone leaves: no leader, since null, term kept; the next leader gets a higher term", () => {
    const { state, results } = run([
      [campaign("a"), 5000],
      [resign("a"), 5000],
      [campaign("b"), 5000],
    ]);
    expect(results[1]).toEqual({
      state: { term: 5000, leader: null, since: null, candidates: [] },
      leaderChanged: true,
    });
    expect(state).toMatchObject({ leader: "b", term: 5001, since: 5000 });
    expect(leadership(results[1]?.state as ElectionState)).toBeNull();
    expect(nextExpiry(results[1]?.state as ElectionState)).toBeNull();
  });

  it("same millisecond: a newcomer queues behind the leader, whatever its name", () => {
    const { state, results } = run([
      [campaign("b"), 1000],
      [campaign("a"), 1000],
    ]);
    expect(results.map((r) => r.leaderChanged)).toEqual([true, false]);
    expect(state).toMatchObject({ leader: "b", term: 1000, since: 1000 });
    expect(state.candidates.map((c) => [c.candidate, c.joinedAt])).toEqual([
      ["b", 1000],
      ["a", 1001],
    ]);
  });

  it("a candidate that expired and comes back rejoins at the back of the line", () => {
    const { state } = run([
      [campaign("a", 100), 1000],
      [campaign("b", 1000), 1010],
      [campaign("a", 1000), 1200],
    ]);
    expect(state.leader).toBe("b");
    expect(state.candidates.map((c) => c.candidate)).toEqual(["b", "a"]);
  });

  it("a leader that lapses and re-campaigns in the same step starts a new term", () => {
    const { state, results } = run([
      [campaign("a", 100), 1000],
      [campaign("a", 100), 1100],
    ]);
    expect(results[1]?.leaderChanged).toBe(true);
    expect(state).toMatchObject({ leader: "a", term: 1100, since: 1100 });
    expect(state.candidates).toEqual([{ candidate: "a", joinedAt: 1100, expiresAt: 1200 }]);
  });

  it("campaign with ttlMs <= 0 registers nothing: for the leader it is a resignation", () => {
    const { state, results } = run([
      [campaign("a"), 1000],
      [campaign("b"), 1001],
      [campaign("a", 0), 1002],
      [campaign("c", -5), 1003],
    ]);
    expect(results.map((r) => r.leaderChanged)).toEqual([true, false, true, false]);
    expect(state.candidates.map((c) => c.candidate)).toEqual(["b"]);
  });

  it("resigning a non-candidate or ticking with nothing expired changes nothing", () => {
    const first = applyElection(emptyElection, campaign("a"), 1000).state;
    for (const event of [resign("zz"), remove("zz"), tick]) {
      const { state, leaderChanged } = applyElection(first, event, 1500);
      expect(leaderChanged).toBe(false);
      expect(state).toEqual(first);
    }
  });

  it("a clock behind the last term still gets a strictly higher term", () => {
    const start: ElectionState = { term: 9000, leader: null, since: null, candidates: [] };
    const { state } = applyElection(start, campaign("a"), 1000);
    expect(state.term).toBe(9001);
  });

  it("unsorted stored candidates are put back in seniority order", () => {
    const stored: ElectionState = {
      term: 10,
      leader: "a",
      since: 10,
      candidates: [
        { candidate: "c", joinedAt: 20, expiresAt: 500 },
        { candidate: "a", joinedAt: 5, expiresAt: 500 },
        { candidate: "b", joinedAt: 20, expiresAt: 500 },
      ],
    };
    const { state, leaderChanged } = applyElection(stored, tick, 100);
    expect(leaderChanged).toBe(false);
    expect(state.candidates.map((c) => c.candidate)).toEqual(["a", "b", "c"]);
  });

  it("emptyElection is frozen and applyElection never mutates its input", () => {
    expect(Object.isFrozen(emptyElection)).toBe(true);
    expect(Object.isFrozen(emptyElection.candidates)).toBe(true);
    const before = run([
      [campaign("a"), 1000],
      [campaign("b"), 1001],
    ]).state;
    const snapshot = structuredClone(before);
    applyElection(before, campaign("a", 5000), 1500);
    applyElection(before, resign("a"), 1500);
    applyElection(before, tick, 3000);
    expect(before).toEqual(snapshot);
  });
});

// ---- Properties over random event sequences -------------------------------------------------

const names = ["a", "b", "c", "d", "e"];
const eventArb: fc.Arbitrary<ElectionEvent> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant("campaign" as const),
      candidate: fc.constantFrom(...names),
      ttlMs: fc.oneof(fc.integer({ min: 1, max: 20 }), fc.constantFrom(0, 50, 1000, 60_000)),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant("resign" as const), candidate: fc.constantFrom(...names) }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant("remove" as const), candidate: fc.constantFrom(...names) }),
  },
  { weight: 2, arbitrary: fc.constant({ kind: "tick" as const }) },
);
// Time steps: often equal timestamps, small steps (so expiresAt === now happens often), larger
// steps, and occasional big jumps (e.g. a hibernation).
const stepArb = fc.oneof(
  { weight: 3, arbitrary: fc.constant(0) },
  { weight: 4, arbitrary: fc.integer({ min: 1, max: 10 }) },
  { weight: 2, arbitrary: fc.integer({ min: 11, max: 150 }) },
  { weight: 1, arbitrary: fc.integer({ min: 1000, max: 10_000_000 }) },
);
const historyArb = fc.record({
  start: fc.integer({ min: 0, max: 2 ** 41 }),
  steps: fc.array(fc.tuple(eventArb, stepArb), { maxLength: 80 }),
});

/** The ZooKeeper recipe as a plain map: the obviously-correct model of who is registered. */
function modelStep(model: Map<string, Candidate>, event: ElectionEvent, now: number): void {
  for (const [name, c] of model) {
    if (c.expiresAt <= now) {
      model.delete(name);
    }
  }
  if (event.kind === "campaign") {
    const existing = model.get(event.candidate);
    // A newcomer queues behind every live candidate (strictly increasing join order).
    const newest = Math.max(Number.NEGATIVE_INFINITY, ...[...model.values()].map((c) => c.joinedAt));
    const joinedAt = existing?.joinedAt ?? Math.max(now, newest + 1);
    model.set(event.candidate, { candidate: event.candidate, joinedAt, expiresAt: now + event.ttlMs });
    if (now + event.ttlMs <= now) {
      model.delete(event.candidate);
    }
  } else if (event.kind !== "tick") {
    model.delete(event.candidate);
  }
}

const oldestFirst = (a: Candidate, b: Candidate): number =>
  a.joinedAt - b.joinedAt || (a.candidate < b.candidate ? -1 : a.candidate > b.candidate ? 1 : 0);

function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) {
      deepFreeze(child);
    }
  }
  return value;
}

interface Step {
  before: ElectionState;
  after: ElectionState;
  changed: boolean;
  now: number;
  model: Candidate[];
}

/**
 * Runs a history against the model, calling `check` after every step. Every input state is deep
 * frozen first, so a mutation of the input anywhere in applyElection throws (ES modules are strict).
 */
function replay(
  { start, steps }: { start: number; steps: [ElectionEvent, number][] },
  check: (step: Step) => void,
) {
  const model = new Map<string, Candidate>();
  let state = emptyElection;
  let now = start;
  for (const [event, dt] of steps) {
    now += dt;
    const { state: after, leaderChanged } = applyElection(deepFreeze(state), event, now);
    modelStep(model, event, now);
    check({
      before: state,
      after,
      changed: leaderChanged,
      now,
      model: [...model.values()].sort(oldestFirst),
    });
    state = after;
  }
}

describe("applyElection properties", () => {
  it("property: candidates equal the ZooKeeper model (live registrations, oldest first)", () => {
    fc.assert(
      fc.property(historyArb, (history) => {
        replay(history, ({ after, model }) => {
          expect(after.candidates).toEqual(model);
        });
      }),
    );
  });

  it("property: never two leaders - leader is null iff no live candidate, else exactly one live candidate", () => {
    fc.assert(
      fc.property(historyArb, (history) => {
        replay(history, ({ after, now }) => {
          expect(after.candidates.every((c) => c.expiresAt > now)).toBe(true);
          if (after.leader === null) {
            expect(after.candidates).toHaveLength(0);
            expect(after.since).toBeNull();
            expect(leadership(after)).toBeNull();
          } else {
            expect(after.candidates.filter((c) => c.candidate === after.leader)).toHaveLength(1);
            expect(positionOf(after, after.leader)).toBe(0);
          }
        });
      }),
    );
  });

  it("property: the leader is always the oldest live candidate (by joinedAt, then name)", () => {
    fc.assert(
      fc.property(historyArb, (history) => {
        replay(history, ({ after, model }) => {
          expect(after.leader).toBe(model[0]?.candidate ?? null);
        });
      }),
    );
  });

  it("property: terms never decrease and strictly increase at every change to a new leader", () => {
    fc.assert(
      fc.property(historyArb, (history) => {
        replay(history, ({ before, after, changed }) => {
          expect(after.term).toBeGreaterThanOrEqual(before.term);
          if (changed && after.leader !== null) {
            expect(after.term).toBeGreaterThan(before.term);
          }
          if (!changed) {
            expect(after.term).toBe(before.term);
            expect(after.since).toBe(before.since);
          }
        });
      }),
    );
  });

  it("property: leaderChanged iff the leader registration (name, joinedAt) changed", () => {
    fc.assert(
      fc.property(historyArb, (history) => {
        replay(history, ({ before, after, changed }) => {
          const identity = (s: ElectionState): string =>
            s.leader === null ? "none" : `${s.leader}@${s.candidates[0]?.joinedAt}`;
          expect(changed).toBe(identity(before) !== identity(after));
        });
      }),
    );
  });

  it("property: term >= the now at which the leadership began, and since is that now", () => {
    fc.assert(
      fc.property(historyArb, (history) => {
        replay(history, ({ after, changed, now }) => {
          if (after.leader !== null) {
            expect(after.since).not.toBeNull();
            expect(after.term).toBeGreaterThanOrEqual(after.since as number);
            if (changed) {
              expect(after.since).toBe(now);
              expect(after.term).toBeGreaterThanOrEqual(now);
            }
          }
        });
      }),
    );
  });

  it("property: leadership() and nextExpiry() agree with the state", () => {
    fc.assert(
      fc.property(historyArb, (history) => {
        replay(history, ({ after, model }) => {
          const head = model[0];
          expect(leadership(after)).toEqual(
            head === undefined
              ? null
              : {
                  candidate: head.candidate,
                  term: after.term,
                  since: after.since,
                  expiresAt: head.expiresAt,
                },
          );
          expect(nextExpiry(after)).toBe(
            model.length === 0 ? null : Math.min(...model.map((c) => c.expiresAt)),
          );
        });
      }),
    );
  });

  it("property: pure - the same state and event always give the same result, input untouched", () => {
    fc.assert(
      fc.property(historyArb, eventArb, stepArb, (history, event, dt) => {
        replay(history, ({ after, now }) => {
          const clone = structuredClone(after);
          const first = applyElection(after, event, now + dt);
          const second = applyElection(after, event, now + dt);
          expect(second).toEqual(first);
          expect(after).toEqual(clone);
        });
      }),
      { numRuns: 50 },
    );
  });
});
