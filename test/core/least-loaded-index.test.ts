import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { LeastLoadedIndex } from "../../src/core/least-loaded-index";

/** The model: a plain map and a full scan, the obviously-correct version of the index. */
class Model {
  readonly entries = new Map<string, { inFlight: number; capacity: number; seq: number }>();
  private nextSeq = 0;

  set(key: string, inFlight: number, capacity: number): void {
    const seq = this.entries.get(key)?.seq ?? this.nextSeq++;
    this.entries.set(key, { inFlight, capacity, seq });
  }

  ratioOf(key: string): number | undefined {
    const e = this.entries.get(key);
    if (e === undefined) {
      return undefined;
    }
    return e.capacity > 0 ? e.inFlight / e.capacity : Number.POSITIVE_INFINITY;
  }

  /** Least loaded among the keys with room, by (ratio, insertion order). */
  peek(): string | undefined {
    let best: string | undefined;
    for (const [key, e] of this.entries) {
      if (e.inFlight >= e.capacity) {
        continue;
      }
      if (best === undefined) {
        best = key;
        continue;
      }
      const b = this.entries.get(best) as { seq: number };
      const r = this.ratioOf(key) as number;
      const rb = this.ratioOf(best) as number;
      if (r < rb || (r === rb && e.seq < b.seq)) {
        best = key;
      }
    }
    return best;
  }
}

describe("LeastLoadedIndex examples", () => {
  it("is empty at first", () => {
    const index = new LeastLoadedIndex<string>();
    expect(index.size).toBe(0);
    expect(index.peek()).toBeUndefined();
    expect(index.peekAny()).toBeUndefined();
    expect(index.has("a")).toBe(false);
    expect(index.ratioOf("a")).toBeUndefined();
    expect(index.delete("a")).toBe(false);
  });

  it.each<{ name: string; ops: [string, number, number][]; peek: string | undefined }>([
    {
      name: "lowest ratio wins, not lowest inFlight",
      ops: [
        ["a", 2, 4],
        ["b", 3, 10],
        ["c", 1, 1],
      ],
      peek: "b",
    },
    {
      name: "equal ratios: earliest inserted wins",
      ops: [
        ["b", 1, 2],
        ["a", 2, 4],
        ["c", 5, 10],
      ],
      peek: "b",
    },
    {
      name: "an update keeps the insertion order",
      ops: [
        ["a", 1, 2],
        ["b", 1, 2],
        ["a", 3, 4],
        ["a", 1, 2],
      ],
      peek: "a",
    },
    {
      name: "an update can move a key up",
      ops: [
        ["a", 1, 10],
        ["b", 5, 10],
        ["b", 0, 10],
      ],
      peek: "b",
    },
    {
      name: "an update can move a key down",
      ops: [
        ["a", 1, 10],
        ["b", 5, 10],
        ["a", 9, 10],
      ],
      peek: "b",
    },
    {
      name: "everyone full: undefined",
      ops: [
        ["a", 2, 2],
        ["b", 7, 3],
      ],
      peek: undefined,
    },
    {
      name: "capacity 0 never has room and sorts last",
      ops: [
        ["a", 0, 0],
        ["b", 9, 10],
      ],
      peek: "b",
    },
    { name: "only capacity 0: undefined", ops: [["a", 0, 0]], peek: undefined },
  ])("$name", ({ ops, peek }) => {
    const index = new LeastLoadedIndex<string>();
    for (const [key, inFlight, capacity] of ops) {
      index.set(key, inFlight, capacity);
    }
    expect(index.peek()).toBe(peek);
  });

  it("delete removes the top and the next least loaded takes its place", () => {
    const index = new LeastLoadedIndex<string>();
    index.set("a", 0, 10);
    index.set("b", 5, 10);
    index.set("c", 2, 10);
    expect(index.delete("a")).toBe(true);
    expect(index.has("a")).toBe(false);
    expect(index.size).toBe(2);
    expect(index.peek()).toBe("c");
    expect(index.delete("a")).toBe(false);
  });

  it("ratioOf reports the ratio, Infinity for capacity 0", () => {
    const index = new LeastLoadedIndex<number>();
    index.set(1, 3, 4);
    index.set(2, 1, 0);
    expect(index.ratioOf(1)).toBe(0.75);
    expect(index.ratioOf(2)).toBe(Number.POSITIVE_INFINITY);
  });

  it("a NaN load sorts last instead of corrupting the order", () => {
    const index = new LeastLoadedIndex<string>();
    index.set("a", Number.NaN, 10);
    index.set("b", 9, 10);
    expect(index.peek()).toBe("b");
    expect(index.ratioOf("a")).toBe(Number.POSITIVE_INFINITY);
  });

  it("a deleted and re-added key counts as newly inserted for ties", () => {
    const index = new LeastLoadedIndex<string>();
    index.set("a", 1, 2);
    index.set("b", 1, 2);
    index.delete("a");
    index.set("a", 1, 2);
    expect(index.peek()).toBe("b");
  });
});

type Real = LeastLoadedIndex<string>;

class SetCommand implements fc.Command<Model, Real> {
  constructor(
    readonly key: string,
    readonly inFlight: number,
    readonly capacity: number,
  ) {}
  check(): boolean {
    return true;
  }
  run(model: Model, real: Real): void {
    model.set(this.key, this.inFlight, this.capacity);
    real.set(this.key, this.inFlight, this.capacity);
    expectSame(model, real);
  }
  toString(): string {
    return `set(${this.key}, ${this.inFlight}, ${this.capacity})`;
  }
}

class DeleteCommand implements fc.Command<Model, Real> {
  constructor(readonly key: string) {}
  check(): boolean {
    return true;
  }
  run(model: Model, real: Real): void {
    expect(real.delete(this.key)).toBe(model.entries.delete(this.key));
    expectSame(model, real);
  }
  toString(): string {
    return `delete(${this.key})`;
  }
}

const KEYS = ["k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7"];

/** Observable state, compared in one assertion (thousands of commands run per property). */
function observe(index: {
  size: number;
  peek(): string | undefined;
  has(k: string): boolean;
  ratioOf(k: string): number | undefined;
}): string {
  const perKey = KEYS.map((k) => `${k}:${index.has(k)}:${index.ratioOf(k)}`).join(" ");
  return `size=${index.size} peek=${index.peek()} ${perKey}`;
}

function expectSame(model: Model, real: Real): void {
  expect(observe(real)).toBe(
    observe({
      size: model.entries.size,
      peek: () => model.peek(),
      has: (k) => model.entries.has(k),
      ratioOf: (k) => model.ratioOf(k),
    }),
  );
}

describe("LeastLoadedIndex properties", () => {
  const key = fc.constantFrom(...KEYS);
  const commands = fc.commands(
    [
      fc
        .tuple(key, fc.integer({ min: 0, max: 12 }), fc.integer({ min: 0, max: 8 }))
        .map(([k, inFlight, capacity]) => new SetCommand(k, inFlight, capacity)),
      key.map((k) => new DeleteCommand(k)),
    ],
    { size: "+1" },
  );

  it("property: peek, size, has and ratioOf equal a brute-force scan under random set/delete sequences", () => {
    fc.assert(
      fc.property(commands, (cmds) => {
        fc.modelRun(() => ({ model: new Model(), real: new LeastLoadedIndex<string>() }), cmds);
      }),
      { numRuns: 500 },
    );
  });

  it("property: draining by peek visits keys in (ratio, insertion) order", () => {
    const loads = fc.array(fc.tuple(fc.integer({ min: 0, max: 20 }), fc.integer({ min: 1, max: 20 })), {
      maxLength: 200,
    });
    fc.assert(
      fc.property(loads, (entries) => {
        const index = new LeastLoadedIndex<number>();
        entries.forEach(([inFlight, capacity], i) => {
          index.set(i, inFlight, capacity);
        });
        const expected = entries
          .map(([inFlight, capacity], i) => ({ i, r: inFlight / capacity, room: inFlight < capacity }))
          .filter((e) => e.room)
          .sort((a, b) => a.r - b.r || a.i - b.i)
          .map((e) => e.i);
        const drained: number[] = [];
        for (let top = index.peek(); top !== undefined; top = index.peek()) {
          drained.push(top);
          index.delete(top);
        }
        expect(drained).toEqual(expected);
      }),
    );
  });
});
