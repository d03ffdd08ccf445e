/**
 * A linearizability checker in the Wing–Gong / Lowe / Porcupine style: given a concurrent history
 * (each operation with its call and return times, input and output) and a sequential model, it
 * searches for an order of the operations that respects real time (an operation that returned
 * before another was called comes first) and in which the model produces every observed output.
 * The search backtracks, and memoizes (set of linearized operations, model state) pairs already
 * explored, which keeps it fast on histories of a few hundred operations.
 */

/** One completed operation of a history. */
export interface Operation<I, O> {
  client: string;
  call: number;
  return: number;
  input: I;
  output: O;
}

/** A sequential specification. `step` returns the next state when `output` is what the model allows, else null. */
export interface Model<S, I, O> {
  init(): S;
  step(state: S, input: I, output: O): S | null;
  /** A canonical string of a state, for memoization. */
  key(state: S): string;
  /** Splits a history into independent parts (P-compositionality), each checked alone. */
  partition?(history: Operation<I, O>[]): Operation<I, O>[][];
}

export interface CheckResult {
  ok: boolean;
  /** States explored (after memoization), for the report. */
  explored: number;
  /** On failure: the longest linearizable prefix found, by operation index, and the operations left. */
  stuckAt?: number[];
}

/** Checks one history against the model. */
export function checkLinearizable<S, I, O>(model: Model<S, I, O>, history: Operation<I, O>[]): CheckResult {
  const parts = model.partition ? model.partition(history) : [history];
  let explored = 0;
  for (const part of parts) {
    const result = checkPart(model, part);
    explored += result.explored;
    if (!result.ok) {
      return { ok: false, explored, stuckAt: result.stuckAt };
    }
  }
  return { ok: true, explored };
}

function checkPart<S, I, O>(model: Model<S, I, O>, ops: Operation<I, O>[]): CheckResult {
  const n = ops.length;
  const linearized = new Uint8Array(n);
  const seen = new Set<string>();
  let explored = 0;
  let best: number[] = [];

  // Depth-first search, as in Lowe's algorithm: at each step, try to linearize any operation not
  // yet linearized that was called before the earliest return still outstanding.
  const stack: { state: S; order: number[] }[] = [{ state: model.init(), order: [] }];
  while (stack.length > 0) {
    const { state, order } = stack.pop()!;
    linearized.fill(0);
    for (const id of order) {
      linearized[id] = 1;
    }
    if (order.length === n) {
      return { ok: true, explored };
    }
    if (order.length > best.length) {
      best = order;
    }
    // Candidates: operations not yet linearized whose call precedes the earliest outstanding return.
    let horizon = Number.POSITIVE_INFINITY;
    for (let id = 0; id < n; id++) {
      if (!linearized[id]) {
        horizon = Math.min(horizon, ops[id]!.return);
      }
    }
    for (let id = n - 1; id >= 0; id--) {
      const op = ops[id]!;
      if (linearized[id] || op.call > horizon) {
        continue;
      }
      const next = model.step(state, op.input, op.output);
      if (next === null) {
        continue;
      }
      const nextOrder = [...order, id];
      const memo = `${bitset(nextOrder, n)}|${model.key(next)}`;
      if (seen.has(memo)) {
        continue;
      }
      seen.add(memo);
      explored++;
      stack.push({ state: next, order: nextOrder });
    }
  }
  return { ok: false, explored, stuckAt: best };
}

function bitset(order: number[], n: number): string {
  const bits = new Uint8Array(Math.ceil(n / 8));
  for (const id of order) {
    bits[id >> 3]! |= 1 << (id & 7);
  }
  return Array.from(bits, (b) => b.toString(16).padStart(2, "0")).join("");
}
