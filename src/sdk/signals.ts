import type { Clock } from "./clock.ts";

/** The slice of Node's `process` the agent uses; absent in Workers and browsers. */
interface SignalTarget {
  on(signal: string, listener: () => void): unknown;
  off(signal: string, listener: () => void): unknown;
  versions?: { node?: string };
}

function nodeProcess(): SignalTarget | undefined {
  const p = (globalThis as { process?: Partial<SignalTarget> }).process;
  return typeof p?.versions?.node === "string" && typeof p.on === "function" && typeof p.off === "function"
    ? (p as SignalTarget)
    : undefined;
}

/** Whether this runs on Node (where SIGTERM / SIGINT can be handled). */
export function canHandleSignals(): boolean {
  return nodeProcess() !== undefined;
}

/** A repeat sooner than this is the same press of Ctrl-C (npm forwards the signal the terminal also sent). */
const SAME_SIGNAL_MS = 1000;

/**
 * Calls `first` on the first SIGTERM or SIGINT and `again` on a later one (a repeat within a
 * second is taken as the same signal, delivered twice). Returns a function that removes the
 * listeners (so a process whose agents have stopped exits by itself).
 */
export function installSignalHandlers(
  clock: Pick<Clock, "now">,
  first: () => void,
  again: () => void,
): () => void {
  const target = nodeProcess();
  if (!target) {
    return () => {};
  }
  let firstAt: number | null = null;
  const listener = () => {
    if (firstAt === null) {
      firstAt = clock.now();
      first();
    } else if (clock.now() - firstAt >= SAME_SIGNAL_MS) {
      again();
    }
  };
  target.on("SIGTERM", listener);
  target.on("SIGINT", listener);
  return () => {
    target.off("SIGTERM", listener);
    target.off("SIGINT", listener);
  };
}
