import { type Config, parseConfig } from "../src/core/config";
import { ApiError, type Result } from "../src/core/errors";
import { can, type Operation, type Principal } from "../src/core/permissions";
import { TokenBuckets } from "../src/core/token-bucket";

/** Calls that arrive within this many milliseconds of the one before share a commit (see `start`). */
export const GROUP_WINDOW_MS = 5;

/** What a gate is built with: the object's clock, its rate limit (null: none) and its grouping window. */
export interface GateOptions {
  clock: () => number;
  limiter: TokenBuckets | null;
  groupWindowMs: number;
  /** Runs at the end of every call and alarm, before the answer leaves (held writes, the alarm). */
  settle: () => Promise<void>;
  /**
   * Whether a token was revoked since the edge that sent the call may have cached it (its calls are
   * refused 401 here, before anything is done for them). Absent: the object keeps no such list.
   */
  revoked?: (tokenId: string) => boolean;
}

/**
 * The commit gate every RPC of a Durable Object passes: the object's monotonic clock, the caller's
 * role and rate limit, group commit when busy, and errors turned into the contract's data.
 *
 * Group commit: the Durable Object commits the writes of one turn of its event loop together, and
 * under `wrangler dev` each commit ends in an fsync that blocks its only thread (0.65 ms,
 * docs/BENCHMARKS.md). A call that arrives within `groupWindowMs` of the one before does not start
 * at once: it joins the calls that arrive before the next turn, and they run one after another, in
 * arrival order, in that turn, so their writes share one commit. Each still runs alone, its writes
 * without an await in between, and every answer waits for the commit that holds its writes. An
 * isolated call starts at once: grouping costs a turn (1 to 2 ms), worth paying only when other
 * calls are coming (PostgreSQL's commit_delay with commit_siblings, in spirit).
 */
export class CallGate {
  private lastNow = 0;
  private lastArrival = Number.NEGATIVE_INFINITY;
  private group: Promise<void> | null = null;

  constructor(private readonly options: GateOptions) {}

  /** Monotonic milliseconds: never goes backwards, even if the wall clock does. */
  now(): number {
    this.lastNow = Math.max(this.lastNow, this.options.clock());
    return this.lastNow;
  }

  /** Resolves when the call may start: at once, or in the next turn with its group. */
  private start(): Promise<void> | undefined {
    const arrival = Date.now(); // the wall clock: how close calls come, not the object's time
    const busy = arrival - this.lastArrival < this.options.groupWindowMs;
    this.lastArrival = arrival;
    if (!busy && this.group === null) {
      return undefined;
    }
    this.group ??= scheduler.wait(0).then(() => {
      this.group = null;
    });
    return this.group;
  }

  /**
   * Runs one RPC: checks the role (the edge did too), spends `cost` units of the caller's rate limit,
   * runs `body`, settles, and turns an ApiError into the contract's error data. A null principal is
   * an internal call (object to object), which is neither authorized nor limited.
   */
  async run<T>(
    principal: Principal | null,
    operation: Operation | null,
    body: (now: number) => T | Promise<T>,
    /** Units of the rate limit the call spends: a submit, one per task (a batch of 100 costs 100). */
    cost = 1,
  ): Promise<Result<T>> {
    const turn = this.start();
    if (turn) {
      await turn; // not even a microtask otherwise: an isolated call runs as it arrives
    }
    try {
      const now = this.now();
      if (principal !== null) {
        if (this.options.revoked?.(principal.tokenId)) {
          throw ApiError.of("unauthorized", "unknown or revoked token");
        }
        if (operation !== null && !can(principal.role, operation)) {
          throw ApiError.of("forbidden", `a ${principal.role} token may not do ${operation}`);
        }
        const retryAfter = this.options.limiter?.take(principal.tokenId, now, cost) ?? 0;
        if (retryAfter > 0) {
          throw new ApiError({
            code: "rate_limited",
            message: "too many requests for this token",
            retryAfter,
          });
        }
      }
      const value = await body(now);
      await this.options.settle();
      return { ok: true, value };
    } catch (error) {
      await this.options.settle();
      if (error instanceof ApiError) {
        return { ok: false, error: error.body };
      }
      throw error;
    }
  }
}

/** The settings every object reads (src/core/config.ts). */
export type ObjectConfig = Config;

/**
 * The objects' settings. A bad value throws ConfigError; the edge has already answered every
 * request 500 `misconfigured` for the same env, so no call reaches an object with one.
 */
export function objectConfig(env: Env): ObjectConfig {
  return parseConfig(env as unknown as Record<string, unknown>);
}

/** Logs a row (task, node, election) that an alarm pass skipped after an error. */
export function logRowError(id: string, error: unknown): void {
  console.error(`skipping ${id} after an error`, error);
}

export { TokenBuckets };
