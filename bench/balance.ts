/**
 * How evenly work is spread, with the real core classes:
 * - placement: 10^6 tasks placed one by one on N equal nodes by least-loaded (LeastLoadedIndex),
 *   power-of-two-choices and uniform random; max load ÷ average load after the last one;
 * - ring: affinity keys on BoundedHashRing (bounded loads, assign) and on the same ring's plain
 *   consistent hashing (ownerOf): max ÷ average, and the fraction of keys that move when one node joins.
 */
import { BoundedHashRing } from "../src/core/bounded-hash-ring.ts";
import { LeastLoadedIndex } from "../src/core/least-loaded-index.ts";
import { seededRandom } from "./stats.ts";

type Numbers = Record<string, number>;

export interface BalanceBenchOptions {
  /** Tasks placed per strategy. */
  tasks: number;
  /** Keys on the ring. */
  keys: number;
  /** Nodes on the ring before one joins. */
  ringNodes: number;
  log: (line: string) => void;
}

function maxOverAverage(loads: ArrayLike<number>, total: number): number {
  let max = 0;
  for (let i = 0; i < loads.length; i++) {
    max = Math.max(max, loads[i] as number);
  }
  return max / (total / loads.length);
}

type Strategy = "random" | "twoChoices" | "leastLoaded";

/** Places `tasks` tasks on `nodes` nodes; returns max ÷ average and the cost per placement. */
function place(strategy: Strategy, nodes: number, tasks: number): { maxOverAvg: number; nsPerTask: number } {
  const random = seededRandom(42);
  const loads = new Float64Array(nodes);
  const start = process.hrtime.bigint();
  if (strategy === "random") {
    for (let t = 0; t < tasks; t++) {
      const i = Math.floor(random() * nodes);
      loads[i] = (loads[i] as number) + 1;
    }
  } else if (strategy === "twoChoices") {
    for (let t = 0; t < tasks; t++) {
      const a = Math.floor(random() * nodes);
      const b = Math.floor(random() * nodes);
      const i = (loads[b] as number) < (loads[a] as number) ? b : a;
      loads[i] = (loads[i] as number) + 1;
    }
  } else {
    // Equal capacities, large enough that no node is ever full: the order is the order of loads.
    const index = new LeastLoadedIndex<number>();
    for (let i = 0; i < nodes; i++) {
      index.set(i, 0, tasks);
    }
    for (let t = 0; t < tasks; t++) {
      const i = index.peek() as number;
      loads[i] = (loads[i] as number) + 1;
      index.set(i, loads[i] as number, tasks);
    }
  }
  const ns = Number(process.hrtime.bigint() - start);
  return { maxOverAvg: maxOverAverage(loads, tasks), nsPerTask: ns / tasks };
}

/** Loads per node and owner per key (as node indexes) for one way of assigning keys. */
interface Assignment {
  owners: Uint32Array;
  loads: Uint32Array;
  nsPerKey: number;
}

function assignment(ring: BoundedHashRing, keys: string[], bounded: boolean): Assignment {
  const indexOf = new Map(ring.nodes.map((name, i) => [name, i]));
  const owners = new Uint32Array(keys.length);
  const loads = new Uint32Array(ring.nodes.length);
  const start = process.hrtime.bigint();
  if (bounded) {
    const assigned = ring.assign(keys);
    for (let k = 0; k < keys.length; k++) {
      owners[k] = indexOf.get(assigned.get(keys[k] as string) as string) as number;
    }
  } else {
    for (let k = 0; k < keys.length; k++) {
      owners[k] = indexOf.get(ring.ownerOf(keys[k] as string) as string) as number;
    }
  }
  const ns = Number(process.hrtime.bigint() - start);
  for (const owner of owners) {
    loads[owner] = (loads[owner] as number) + 1;
  }
  return { owners, loads, nsPerKey: ns / keys.length };
}

/** Fraction of keys whose owner (by name) differs between two assignments over the same keys. */
function movedFraction(
  before: Assignment,
  beforeRing: BoundedHashRing,
  after: Assignment,
  afterRing: BoundedHashRing,
): number {
  let moved = 0;
  for (let k = 0; k < before.owners.length; k++) {
    if (beforeRing.nodes[before.owners[k] as number] !== afterRing.nodes[after.owners[k] as number]) {
      moved++;
    }
  }
  return moved / before.owners.length;
}

/** Runs the placement and ring comparisons; returns the `placement.*` and `ring.*` numbers. */
export function benchBalance(options: BalanceBenchOptions): Numbers {
  const out: Numbers = { "placement.tasks": options.tasks };
  for (const [label, nodes] of [
    ["1k", 1_000],
    ["10k", 10_000],
  ] as const) {
    const parts: string[] = [];
    for (const strategy of ["leastLoaded", "twoChoices", "random"] as const) {
      const r = place(strategy, nodes, options.tasks);
      out[`placement.${label}.${strategy}.maxOverAvg`] = r.maxOverAvg;
      out[`placement.${label}.${strategy}.nsPerTask`] = r.nsPerTask;
      parts.push(`${strategy} ${r.maxOverAvg.toFixed(3)}`);
    }
    options.log(`  placement ${label.padEnd(4)} nodes, max/avg: ${parts.join("  ")}`);
  }

  const n = options.ringNodes;
  const names = Array.from({ length: n }, (_, i) => `node-${i}`);
  const keys = Array.from({ length: options.keys }, (_, i) => `key-${i}`);
  const before = new BoundedHashRing(names);
  const after = new BoundedHashRing([...names, `node-${n}`]);
  const bounded = assignment(before, keys, true);
  const boundedJoined = assignment(after, keys, true);
  const plain = assignment(before, keys, false);
  const plainJoined = assignment(after, keys, false);
  const moved = movedFraction(bounded, before, boundedJoined, after);
  const plainMoved = movedFraction(plain, before, plainJoined, after);
  Object.assign(out, {
    "ring.nodes": n,
    "ring.keys": options.keys,
    "ring.vnodes": before.vnodes,
    "ring.c": before.c,
    "ring.maxOverAvg": maxOverAverage(bounded.loads, options.keys),
    "ring.movedFraction": moved,
    "ring.movedOverOneOverN": moved * n,
    "ring.nsPerKey": bounded.nsPerKey,
    "ring.plain.maxOverAvg": maxOverAverage(plain.loads, options.keys),
    "ring.plain.movedFraction": plainMoved,
    "ring.plain.movedOverOneOverN": plainMoved * n,
    "ring.plain.nsPerKey": plain.nsPerKey,
  });
  options.log(
    `  ring ${n} nodes, ${options.keys} keys: bounded max/avg ${out["ring.maxOverAvg"]?.toFixed(3)} moved ${moved.toFixed(4)} · plain max/avg ${out["ring.plain.maxOverAvg"]?.toFixed(3)} moved ${plainMoved.toFixed(4)} · 1/n ${(1 / n).toFixed(4)}`,
  );
  return out;
}
