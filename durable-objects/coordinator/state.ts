import { leadership } from "../../src/core/election";
import { ApiError, type Result } from "../../src/core/errors";
import { type Credential, can, type Operation, type Principal } from "../../src/core/permissions";
import { checkLease } from "../../src/core/task-lifecycle";
import { TokenBuckets } from "../../src/core/token-bucket";
import { ElectionStore } from "./election-store";
import { Fleet, type NodeRecord } from "./fleet";
import { mintId } from "./minting";
import { Scheduler } from "./scheduler";
import { migrate } from "./schema";
import { TaskQueue } from "./task-queue";
import { TokenStore } from "./token-store";

/** Calls that arrive within this many milliseconds of the one before share a commit (see `start`). */
const GROUP_WINDOW_MS = 5;

/**
 * Everything the coordinator Durable Object holds in memory, and what every RPC shares: the stores,
 * the clock, authorization, node death, election announcements and the alarm. The Durable Object
 * class (`../coordinator.ts`) is the RPC surface over it.
 */
export class CoordinatorState {
  /** The coordinator's clock. Tests replace it to drive time; everything reads time through `now()`. */
  clock: () => number = () => Date.now();
  /** Randomness for back-off jitter; tests may replace it. */
  random: () => number = Math.random;

  private lastNow = 0;
  private alarmAt: number | null = null;
  private pendingAlarm: number | null = null;
  tokens!: TokenStore;
  fleet!: Fleet;
  tasks!: TaskQueue;
  elections!: ElectionStore;
  scheduler!: Scheduler;
  /** Per-token request budget (429 with Retry-After past it). Tests may replace it. */
  limiter!: TokenBuckets;

  constructor(private readonly ctx: DurableObjectState) {}

  /** Loads (and migrates) the state; called once, inside `blockConcurrencyWhile`. */
  async load(env: Env): Promise<void> {
    const ctx = this.ctx;
    const sql = ctx.storage.sql;
    migrate(ctx.storage);
    this.tokens = new TokenStore(sql);
    this.fleet = new Fleet(sql, {
      heartbeatIntervalMs: positiveInt(env.HEARTBEAT_INTERVAL_MS, 2000),
      deadAfterMs: positiveInt(env.NODE_DEAD_AFTER_MS, 10000),
    });
    this.limiter = new TokenBuckets({
      ratePerSec: positiveInt(env.RATE_LIMIT_PER_SEC, 500),
      burst: positiveInt(env.RATE_LIMIT_BURST, 1000),
    });
    this.tasks = new TaskQueue(sql);
    for (const [nodeId, inFlight] of this.tasks.inFlightByNode()) {
      const node = this.fleet.nodes.get(nodeId);
      if (node) {
        node.inFlight = inFlight;
      }
    }
    this.elections = new ElectionStore(sql);
    this.scheduler = new Scheduler(
      this.fleet,
      this.tasks,
      () => this.random(),
      mintId,
      (at) => this.dueAt(at),
    );
    this.alarmAt = await ctx.storage.getAlarm();
  }

  /** Monotonic milliseconds: never goes backwards, even if the wall clock does. */
  now(): number {
    this.lastNow = Math.max(this.lastNow, this.clock());
    return this.lastNow;
  }

  /** Records a due time; the alarm is moved earlier when needed at the end of the call. */
  dueAt(at: number): void {
    if (
      (this.alarmAt === null || at < this.alarmAt) &&
      (this.pendingAlarm === null || at < this.pendingAlarm)
    ) {
      this.pendingAlarm = at;
    }
  }

  /** Ends a call or an alarm: writes the tasks held back for one statement, then moves the alarm. */
  private async settle(): Promise<void> {
    this.tasks.flush();
    const at = this.pendingAlarm;
    this.pendingAlarm = null;
    if (at !== null && (this.alarmAt === null || at < this.alarmAt)) {
      this.alarmAt = at;
      await this.ctx.storage.setAlarm(at);
    }
  }

  /**
   * Group commit, when busy. The Durable Object commits the writes of one turn of its event loop
   * together, and under `wrangler dev` each commit ends in an fsync that blocks its only thread
   * (0.65 ms, docs/BENCHMARKS.md). A call that arrives within `groupWindowMs` of the one before
   * does not start at once: it joins the calls that arrive before the next turn, and they run one
   * after another, in arrival order, in that turn, so their writes share one commit. Each still runs
   * alone, its writes without an await in between, and every answer waits for the commit that holds
   * its writes. An isolated call starts at once: grouping costs a turn (1 to 2 ms), worth paying
   * only when other calls are coming (PostgreSQL's commit_delay with commit_siblings, in spirit).
   */
  groupWindowMs = GROUP_WINDOW_MS;
  private lastArrival = Number.NEGATIVE_INFINITY;
  private group: Promise<void> | null = null;

  /** Resolves when the call may start: at once, or in the next turn with its group. */
  private start(): Promise<void> | undefined {
    const arrival = Date.now(); // the wall clock: how close calls come, not the coordinator's time
    const busy = arrival - this.lastArrival < this.groupWindowMs;
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
   * Runs one RPC: authorizes, runs `body`, and turns an ApiError into the contract's error data.
   * Each call's writes happen without an await in between, so they commit together (and with
   * those of the other calls of its group).
   */
  async call<T>(
    credential: Credential,
    operation: Operation,
    body: (principal: Principal, now: number) => T | Promise<T>,
  ): Promise<Result<T>> {
    const turn = this.start();
    if (turn) {
      await turn; // not even a microtask otherwise: an isolated call runs as it arrives
    }
    try {
      const principal = this.authorize(credential, operation);
      const now = this.now();
      const retryAfter = this.limiter.take(principal.tokenId, now);
      if (retryAfter > 0) {
        throw new ApiError({ code: "rate_limited", message: "too many requests for this token", retryAfter });
      }
      const value = await body(principal, now);
      await this.settle();
      return { ok: true, value };
    } catch (error) {
      await this.settle();
      if (error instanceof ApiError) {
        return { ok: false, error: error.body };
      }
      throw error;
    }
  }

  /** The caller's role, or 401 / 403. */
  authorize(credential: Credential, operation: Operation): Principal {
    const principal = this.authenticate(credential);
    if (!can(principal.role, operation)) {
      throw ApiError.of("forbidden", `a ${principal.role} token may not do ${operation}`);
    }
    return principal;
  }

  private authenticate(credential: Credential): Principal {
    if ("admin" in credential) {
      return { role: "admin", tokenId: "admin" };
    }
    const token = this.tokens.lookup(credential.tokenHash);
    if (!token) {
      throw ApiError.of("unauthorized", "unknown or revoked token");
    }
    return { role: token.role, tokenId: token.id };
  }

  /**
   * The node a caller acts as: 404 unknown, 403 bound to another token, 409 `node_dead` once it has
   * missed its deadline (declared dead on the spot if the alarm has not done it yet).
   */
  actingNode(principal: Principal, nodeId: string, now: number): NodeRecord {
    const node = this.ownedNode(principal, nodeId);
    if (!node.dead && this.fleet.statusOf(node, now) === "dead") {
      this.nodeDied(node, "node missed its heartbeat deadline", now);
    }
    if (node.dead) {
      throw ApiError.of("conflict", `node ${nodeId} was declared dead; register again`, "node_dead");
    }
    return node;
  }

  /** Whether the principal may act for a node: an admin, or the token that registered it. */
  ownsNode(principal: Principal, node: NodeRecord): boolean {
    return principal.role === "admin" || node.tokenId === principal.tokenId;
  }

  /** A node the principal may act for, dead or alive: 404 unknown, 403 bound to another token. */
  ownedNode(principal: Principal, nodeId: string): NodeRecord {
    const node = this.fleet.nodes.get(nodeId);
    if (!node) {
      throw ApiError.of("not_found", `no node ${nodeId}`);
    }
    if (!this.ownsNode(principal, node)) {
      throw ApiError.of("forbidden", `node ${nodeId} belongs to another token`);
    }
    return node;
  }

  /** Whether the principal may act for the node that holds a task's valid lease. */
  holdsLeaseOf(principal: Principal, nodeId: string | null): boolean {
    const node = nodeId === null ? undefined : this.fleet.nodes.get(nodeId);
    return principal.role === "admin" || (node !== undefined && this.ownsNode(principal, node));
  }

  /** 403 when a valid lease is presented by a token that does not own the holding node. */
  checkLeaseOwner(principal: Principal, taskId: string, leaseToken: string, now: number) {
    const task = this.tasks.get(taskId);
    if (!task) {
      throw ApiError.of("not_found", `no task ${taskId}`);
    }
    if (checkLease(task, leaseToken, now) === null && !this.holdsLeaseOf(principal, task.nodeId)) {
      throw ApiError.of("forbidden", `task ${taskId} is held by a node of another token`);
    }
    return task;
  }

  /** A node is gone: its work back to the queue, out of every election, no new work. */
  nodeDied(node: NodeRecord, reason: string, now: number): void {
    this.fleet.markDead(node);
    this.scheduler.reclaim(node, reason, now, logRowError);
    this.leaveElections(node.id, now);
  }

  leaveElections(nodeId: string, now: number): void {
    for (const { election, candidate } of this.elections.candidaciesOf(nodeId)) {
      this.announce(this.elections.apply(election, { kind: "remove", candidate }, now));
    }
  }

  /** Tells the election's observers about a change of leader. */
  announce(change: ReturnType<ElectionStore["apply"]>): void {
    const expiry = change.state.candidates.reduce<number | null>(
      (min, c) => (min === null ? c.expiresAt : Math.min(min, c.expiresAt)),
      null,
    );
    if (expiry !== null) {
      this.dueAt(expiry);
    }
    if (!change.leaderChanged) {
      return;
    }
    const message = JSON.stringify({
      name: change.name,
      term: change.state.term,
      leader: leadership(change.state),
    });
    for (const ws of this.ctx.getWebSockets(change.name)) {
      try {
        ws.send(message);
      } catch (error) {
        console.warn("observer send failed", error);
      }
    }
  }

  /**
   * One alarm serves every deadline: node deaths, lease expiry, due retries and delayed tasks,
   * candidate ttl. Every step is idempotent and a failing row is logged and skipped.
   */
  async alarm(): Promise<void> {
    const now = this.now();
    this.alarmAt = null;
    this.limiter.sweep(now);
    for (const node of this.fleet.overdue(now)) {
      try {
        this.nodeDied(node, "node missed its heartbeat deadline", now);
      } catch (error) {
        logRowError(node.id, error);
      }
    }
    this.scheduler.expireLeases(now, logRowError);
    this.scheduler.promoteDue(now, logRowError);
    for (const name of this.elections.withExpiredCandidates(now)) {
      try {
        this.announce(this.elections.apply(name, { kind: "tick" }, now));
      } catch (error) {
        logRowError(name, error);
      }
    }
    const next = [
      this.tasks.nextDeadline(),
      this.fleet.nextDeathDeadline(),
      this.elections.nextExpiry(),
    ].filter((t): t is number => t !== null);
    if (next.length > 0) {
      this.dueAt(Math.max(Math.min(...next), now + 1));
    }
    await this.settle();
  }
}

function positiveInt(value: string | undefined, fallback: number): number {
  const n = Number(value);
  return Number.isInteger(n) && n > 0 ? n : fallback;
}

function logRowError(id: string, error: unknown): void {
  console.error(`coordinator: skipping ${id} after an error`, error);
}
