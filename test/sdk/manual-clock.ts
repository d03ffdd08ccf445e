import { type Clock, sleepOn, type TimerHandle } from "../../src/sdk/clock.ts";

interface Timer {
  id: number;
  at: number;
  fn: () => void;
}

/** More timers than this in one call is a loop that never lets time pass: fail instead of hanging. */
const MAX_STEPS = 100_000;

/**
 * Virtual time for tests: it stands still until the test moves it. Moving it runs the timers that
 * fall due one at a time, earliest first (ties in the order they were set), and before each next
 * timer lets the promise chains the last one started run to their end, so a test takes no real
 * time and runs the same way every time.
 *
 * "Run to their end" is one macrotask turn of the real event loop: that drains every microtask,
 * and the SDK's work between two timers is promise chains only (the fake `fetch` answers in
 * microtasks; the SDK's own waits are all timers of this clock).
 */
export class ManualClock implements Clock {
  private time: number;
  private lastId = 0;
  private readonly timers = new Map<number, Timer>();

  /** Starts at a fixed, realistic instant (epoch ms), so runs do not depend on the day. */
  constructor(start = Date.UTC(2030, 0, 1)) {
    this.time = start;
  }

  now(): number {
    return this.time;
  }

  setTimer(fn: () => void, ms: number): TimerHandle {
    const id = ++this.lastId;
    this.timers.set(id, { id, at: this.time + Math.max(0, ms), fn });
    return id;
  }

  clearTimer(handle: TimerHandle): void {
    if (typeof handle === "number") {
      this.timers.delete(handle);
    }
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return sleepOn(this, ms, signal);
  }

  /** Timers set and not yet run or cleared. */
  get pending(): number {
    return this.timers.size;
  }

  /** Moves time forward by `ms`, running every timer due by then at its own time. */
  async advance(ms: number): Promise<void> {
    const end = this.time + ms;
    await settle();
    for (let steps = 0; ; steps++) {
      const timer = this.next(end);
      if (!timer) {
        break;
      }
      this.guard(steps);
      this.fire(timer);
      await settle();
    }
    this.time = end;
  }

  /**
   * Runs timers until `probe` holds (checked before the first and after each one), leaving the
   * time at that moment; rejects when it does not hold within `limitMs` of virtual time.
   */
  async until(what: string, probe: () => boolean, limitMs = 60_000): Promise<void> {
    const end = this.time + limitMs;
    await settle();
    for (let steps = 0; !probe(); steps++) {
      const timer = this.next(end);
      if (!timer) {
        this.time = end;
        throw new Error(`timed out waiting for ${what} (${limitMs} ms of virtual time)`);
      }
      this.guard(steps);
      this.fire(timer);
      await settle();
    }
  }

  /** Runs timers until `promise` settles (within `limitMs` of virtual time); returns its outcome. */
  async run<T>(promise: Promise<T>, limitMs = 60_000): Promise<T> {
    let settled = false;
    promise.then(
      () => {
        settled = true;
      },
      () => {
        settled = true;
      },
    );
    await this.until("the promise to settle", () => settled, limitMs);
    return promise;
  }

  /** The earliest timer due by `end`: lowest due time, then first set. */
  private next(end: number): Timer | undefined {
    let earliest: Timer | undefined;
    for (const timer of this.timers.values()) {
      if (timer.at <= end && (!earliest || timer.at < earliest.at)) {
        earliest = timer; // the map iterates in insertion order, so a tie keeps the one set first
      }
    }
    return earliest;
  }

  private fire(timer: Timer): void {
    this.timers.delete(timer.id);
    this.time = Math.max(this.time, timer.at);
    timer.fn();
  }

  private guard(steps: number): void {
    if (steps >= MAX_STEPS) {
      throw new Error(`more than ${MAX_STEPS} timers without time settling: a timer loop?`);
    }
  }
}

/** One turn of the real event loop: every pending microtask (and those they queue) has run. */
function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
