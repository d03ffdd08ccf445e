/**
 * The simulation's timers: `setTimeout` and `clearTimeout` replaced for the length of a run, each
 * timer kept with its deadline in simulated time and the object that set it. The test isolate runs
 * every Durable Object, so the globals are shared; but a timer's callback must run in the context
 * of the object that set it (a long poll's promise resolved from another object's context fails:
 * "Cannot perform I/O on behalf of a different Durable Object"). vitest's fake timers fire every
 * timer wherever they are advanced, hence this small owner-aware queue.
 */

/** The object whose code is running (a shard's region), or null: the test itself, or calls in parallel. */
export type TimerOwner = string | null;

interface SimTimer {
  id: number;
  at: number;
  seq: number;
  owner: TimerOwner;
  callback: () => void;
}

type TimerFunctions = { setTimeout: typeof setTimeout; clearTimeout: typeof clearTimeout };

export class SimTimers {
  private readonly timers = new Map<number, SimTimer>();
  private nextId = 1;
  private saved: TimerFunctions | null = null;
  /** Who sets the timers created from now on: the driver names the object before each call. */
  owner: TimerOwner = null;

  constructor(private readonly now: () => number) {}

  /** Replaces the global timers until `uninstall`. */
  install(): void {
    const global = globalThis as unknown as TimerFunctions;
    this.saved = { setTimeout: global.setTimeout, clearTimeout: global.clearTimeout };
    const fakeSet = (callback: () => void, ms?: number): number => {
      const id = this.nextId++;
      this.timers.set(id, {
        id,
        at: this.now() + Math.max(0, ms ?? 0),
        seq: id,
        owner: this.owner,
        callback,
      });
      return id;
    };
    const fakeClear = (id: unknown): void => {
      this.timers.delete(id as number);
    };
    global.setTimeout = fakeSet as unknown as typeof setTimeout;
    global.clearTimeout = fakeClear as unknown as typeof clearTimeout;
  }

  uninstall(): void {
    if (this.saved) {
      const global = globalThis as unknown as TimerFunctions;
      global.setTimeout = this.saved.setTimeout;
      global.clearTimeout = this.saved.clearTimeout;
      this.saved = null;
    }
    this.timers.clear();
  }

  /** The earliest deadline at or before `until` (of the owners `mine` accepts), or null. */
  nextDue(until: number, mine: (owner: TimerOwner) => boolean = () => true): number | null {
    let next: number | null = null;
    for (const t of this.timers.values()) {
      if (t.at <= until && mine(t.owner) && (next === null || t.at < next)) {
        next = t.at;
      }
    }
    return next;
  }

  /** The owners of the timers due at `at` (in the order the timers were set). */
  ownersDueAt(at: number): TimerOwner[] {
    const owners: TimerOwner[] = [];
    for (const t of this.sorted()) {
      if (t.at <= at && !owners.includes(t.owner)) {
        owners.push(t.owner);
      }
    }
    return owners;
  }

  /** Runs every timer of `owner` due by `at`, in deadline order (call it in the owner's context). */
  fire(owner: TimerOwner, at: number): number {
    let fired = 0;
    for (const t of this.sorted()) {
      if (t.owner === owner && t.at <= at && this.timers.delete(t.id)) {
        const previous = this.owner;
        this.owner = owner;
        try {
          t.callback();
        } finally {
          this.owner = previous;
        }
        fired++;
      }
    }
    return fired;
  }

  /** Forgets the timers of an object that restarts (its memory, timers included, is gone). */
  dropOwner(owner: TimerOwner): void {
    for (const t of [...this.timers.values()]) {
      if (t.owner === owner) {
        this.timers.delete(t.id);
      }
    }
  }

  private sorted(): SimTimer[] {
    return [...this.timers.values()].sort((a, b) => a.at - b.at || a.seq - b.seq);
  }
}
