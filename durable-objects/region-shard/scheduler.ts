import { leftForOwner } from "../../src/core/admission";
import { ApiError } from "../../src/core/errors";
import { LeastLoadedIndex } from "../../src/core/least-loaded-index";
import type { LeasedTask, SubmitCommand, TaskRouting } from "../../src/core/task-commands";
import {
  afterFailedAttempt,
  cancel,
  checkLease,
  lease,
  replay,
  succeed,
  type TaskStatus,
  waitingStatus,
} from "../../src/core/task-lifecycle";
import type { NodeRecord, NodeTable } from "./node-table";
import { type RecordEvent, taskFailed, taskLeased, taskRouted, taskSucceeded } from "./shard-events";
import type { ShardMetrics } from "./shard-metrics";
import { parseTask, type TaskQueue, type TaskRecord, type TaskRow } from "./task-queue";

export type { LeasedTask, SubmitCommand } from "../../src/core/task-commands";

/**
 * Whoever tasks are leased to: a node, or a push endpoint (the shard delivers its tasks by HTTP).
 * `capacity` is what it may hold at once; an endpoint's is its breaker's room.
 */
export type Holder = Pick<NodeRecord, "id" | "capacity" | "inFlight" | "tenant">;

/** The push endpoints, as the scheduler sees them: holders with their own availability and lease length. */
export interface EndpointHolders {
  holder(id: string): Holder | undefined;
  /** How long a lease to this endpoint lasts for a task with `timeoutMs` (its delivery timeout and a margin). */
  leaseMs(id: string, timeoutMs: number): number;
}

/** Told about a row that could not be handled (it is logged, and the loop goes on). */
export type RowErrorHandler = (id: string, error: unknown) => void;

/**
 * A node waiting for work: a long poll (answered once, then gone) or a channel (pushed to while it
 * has credit; `max` is that credit). A node may have one of each.
 */
interface Waiter {
  key: string;
  node: Holder;
  max: number;
  resolve: (tasks: LeasedTask[]) => void;
  timer: ReturnType<typeof setTimeout> | null;
  channel: boolean;
}

const channelKey = (nodeId: string) => `channel:${nodeId}`;

/** How many affinity-owned tasks a poll steps over (left for their owners) before it stops looking. */
const AFFINITY_SLACK = 32;

/**
 * The task side of a region shard: leases, outcomes, retries and long polls. It applies the core's
 * task lifecycle to the task table; it never reads a clock (`now` is given).
 */
export class Scheduler {
  /** Long polls waiting for work, least-loaded first. */
  /** Tasks were submitted in this call and not yet handed out. */
  private heldDispatch = false;
  private readonly waiters = { order: new LeastLoadedIndex<string>(), byNode: new Map<string, Waiter>() };
  /** The region's push endpoints (set by the engine once they are loaded). */
  endpoints: EndpointHolders | null = null;

  constructor(
    private readonly nodes: NodeTable,
    private readonly tasks: TaskQueue,
    private readonly random: () => number,
    /** Mints an opaque id (lease tokens). */
    private readonly newId: (prefix: string) => string,
    /** Told of every new due time (a lease's end, a retry), so the alarm can be set early enough. */
    private readonly deadline: (at: number) => void,
    /** Counts what the scheduler does, for `/metrics` (in memory; saved at most every few seconds). */
    private readonly metrics: ShardMetrics,
    /** Told of what happens to tasks (routed, leased, succeeded, failed), for GET /v1/events. */
    private readonly record: RecordEvent = () => {},
  ) {}

  /** Stores a new task (the caller has checked that the region takes it) and wakes a waiting node. */
  submit(command: SubmitCommand, region: string, scope: string, tenant: string, now: number): TaskRecord {
    const runAt = command.runAt ?? now + (command.delayMs ?? 0);
    const task = this.tasks.insert({
      id: command.id,
      type: command.type,
      payload: command.payload ?? null,
      status: waitingStatus(runAt, now),
      priority: command.priority,
      region,
      nodeId: null,
      attempts: 0,
      maxAttempts: command.maxAttempts,
      timeoutMs: command.timeoutMs,
      result: null,
      lastError: null,
      createdAt: now,
      updatedAt: now,
      runAt,
      leaseToken: null,
      leaseExpiresAt: null,
      idempotencyScope: command.idempotencyKey === null ? null : scope,
      idempotencyKey: command.idempotencyKey,
      requestHash: command.requestHash,
      affinityKey: command.affinityKey,
      routing: command.routing,
      leasedAt: null,
      allow: command.allow,
      retryOf: command.retryOf,
      retriedAs: null,
      scheduleId: command.scheduleId ?? null,
      tenant,
    });
    this.record(taskRouted(task, now));
    this.metrics.submitted();
    if (task.status === "queued") {
      // Handed out when the call ends (`dispatchHeld`): the tasks of one batch go to waiting nodes
      // together — one lease pass and one pushed frame per node, not one per task.
      this.heldDispatch = true;
    } else {
      this.deadline(runAt);
    }
    return task;
  }

  /** Leases up to `max` runnable tasks of the node's region to the node, within its free capacity. */
  leaseFor(node: Holder, max: number, now: number): LeasedTask[] {
    const room = Math.min(max, node.capacity - node.inFlight);
    if (room <= 0 || !this.isAvailable(node, now)) {
      return [];
    }
    const leased: LeasedTask[] = [];
    // Reads only as many rows as it may take; each task left for its affinity owner stays queued
    // ahead of the rest, so the next read starts past the ones skipped so far.
    let skipped = 0;
    while (leased.length < room && skipped <= AFFINITY_SLACK) {
      const wanted = room - leased.length;
      const batch = this.tasks.runnable(node.tenant, wanted, skipped);
      for (const task of batch) {
        if (this.isLeftForOwner(task, node, now)) {
          skipped++;
          continue;
        }
        leased.push(this.leaseTo(task, node, now));
      }
      if (batch.length < wanted) {
        break; // the queue ran out
      }
    }
    return leased;
  }

  /** A node by its heartbeats; an endpoint whenever its breaker leaves it room (its capacity says so). */
  private isAvailable(holder: Holder, now: number): boolean {
    const node = this.nodes.nodes.get(holder.id);
    return node === undefined
      ? this.endpoints?.holder(holder.id) === holder
      : this.nodes.isAvailable(node, now);
  }

  /** Whether an affinity task belongs to another healthy node of the region that has room for it. */
  private isLeftForOwner(task: TaskRecord, node: Holder, now: number): boolean {
    if (task.affinityKey === null) {
      return false;
    }
    return leftForOwner(this.nodes.ownerOf(task.affinityKey, task.tenant, now), node.id);
  }

  private leaseTo(task: TaskRecord, node: Holder, now: number): LeasedTask {
    const leaseMs = this.endpoints?.holder(node.id)
      ? this.endpoints.leaseMs(node.id, task.timeoutMs)
      : task.timeoutMs;
    const next = lease(task, node.id, this.newId("l"), now + leaseMs);
    this.tasks.save(task, { ...next, leasedAt: now, updatedAt: now });
    this.metrics.leased(task, now);
    node.inFlight++;
    this.deadline(next.leaseExpiresAt!);
    this.record(taskLeased(task, node.id, next.attempts, now));
    return {
      id: task.id,
      type: task.type,
      payload: task.payload,
      attempt: next.attempts,
      leaseToken: next.leaseToken!,
      leaseExpiresAt: next.leaseExpiresAt!,
    };
  }

  /** A long poll: resolves with work as soon as some is leased to this node, or [] when the wait ends. */
  waitForWork(node: NodeRecord, max: number, waitMs: number): Promise<LeasedTask[]> {
    return new Promise((resolve) => {
      const waiters = this.waiters;
      // A newer poll replaces an older one of the same node; the older one's timer must go with it,
      // or when it fires it ends the newer poll's wait without answering it.
      const replaced = waiters.byNode.get(node.id);
      if (replaced?.timer) {
        clearTimeout(replaced.timer);
        replaced.resolve([]);
      }
      const timer = setTimeout(() => {
        this.removeWaiter(node.id);
        resolve([]);
      }, waitMs);
      waiters.byNode.set(node.id, { key: node.id, node, max, resolve, timer, channel: false });
      waiters.order.set(node.id, node.inFlight, node.capacity);
      this.nodes.waiting.add(node.id);
    });
  }

  /**
   * A node's channel has `credit` for more work: runnable tasks are pushed to it (through `push`) as
   * they come, each lowering its credit, never past its free capacity. Credit 0 stops the pushes.
   */
  offerCredit(node: Holder, credit: number, push: (tasks: LeasedTask[]) => void, now: number): void {
    const key = channelKey(node.id);
    this.removeWaiter(key);
    if (credit > 0) {
      this.waiters.byNode.set(key, { key, node, max: credit, resolve: push, timer: null, channel: true });
      this.waiters.order.set(key, node.inFlight, node.capacity);
      this.dispatch(now);
    }
  }

  /** The credit a node's channel has left (0 without a channel). */
  creditOf(nodeId: string): number {
    return this.waiters.byNode.get(channelKey(nodeId))?.max ?? 0;
  }

  /** Ends a node's waiting, long poll (answered with no work when `answer`) and channel alike (it died, drained or left). */
  stopWaiting(nodeId: string, answer = false): void {
    const poll = this.waiters.byNode.get(nodeId);
    this.removeWaiter(nodeId);
    this.removeWaiter(channelKey(nodeId));
    if (answer) {
      poll?.resolve([]);
    }
  }

  /** Stops pushing to a node's channel (it closed). */
  closeChannel(nodeId: string): void {
    this.removeWaiter(channelKey(nodeId));
  }

  private removeWaiter(key: string): void {
    const waiters = this.waiters;
    const waiter = waiters.byNode.get(key);
    if (!waiter) {
      return;
    }
    if (waiter.timer) {
      clearTimeout(waiter.timer);
    }
    waiters.byNode.delete(key);
    waiters.order.delete(key);
    if (!waiter.channel) {
      this.nodes.waiting.delete(waiter.node.id);
    }
  }

  /** Hands out the work submitted during the call that is ending (see `submit`). */
  dispatchHeld(now: number): void {
    if (this.heldDispatch) {
      this.heldDispatch = false;
      this.dispatch(now);
    }
  }

  /** Hands the runnable work to the waiting nodes, least loaded first. */
  dispatch(now: number): void {
    const entry = this.waiters;
    const skipped: Waiter[] = [];
    while (this.tasks.depth().queued > 0) {
      const nodeId = entry.order.peek();
      const waiter = nodeId === undefined ? undefined : entry.byNode.get(nodeId);
      if (!waiter) {
        break;
      }
      entry.order.delete(waiter.key);
      const leased = this.leaseFor(waiter.node, waiter.max, now);
      if (leased.length === 0) {
        skipped.push(waiter);
        continue;
      }
      if (waiter.channel) {
        waiter.max -= leased.length;
        if (waiter.max > 0) {
          entry.order.set(waiter.key, waiter.node.inFlight, waiter.node.capacity);
        } else {
          this.removeWaiter(waiter.key);
        }
      } else {
        this.removeWaiter(waiter.key);
      }
      waiter.resolve(leased);
    }
    for (const waiter of skipped) {
      entry.order.set(waiter.key, waiter.node.inFlight, waiter.node.capacity);
    }
  }

  /** Records success. Refusals: lease_lost / already_terminal. */
  complete(task: TaskRecord, leaseToken: string, result: unknown, now: number): TaskStatus {
    this.requireLease(task, leaseToken, now);
    this.release(task, now);
    this.tasks.save(task, { ...succeed(task), result: result ?? null, updatedAt: now });
    this.record(taskSucceeded(task, now)); // `task` is the row as its holder had it: its node, its attempts
    this.metrics.completed("succeeded");
    this.dispatch(now); // the freed slot may be a waiting node's
    return "succeeded";
  }

  /** Records a failed attempt: retried after a back-off, or failed for good. */
  fail(task: TaskRecord, leaseToken: string, error: string, retryable: boolean, now: number): TaskRecord {
    this.requireLease(task, leaseToken, now);
    return this.failAttempt(task, error, retryable, now);
  }

  extend(task: TaskRecord, leaseToken: string, extendMs: number, now: number): number {
    this.requireLease(task, leaseToken, now);
    const leaseExpiresAt = Math.max(task.leaseExpiresAt ?? now, now + extendMs);
    this.tasks.save(task, { ...task, leaseExpiresAt, updatedAt: now });
    return leaseExpiresAt;
  }

  cancel(task: TaskRecord, now: number): void {
    const next = cancel(task);
    if (!next) {
      throw ApiError.of("conflict", `task ${task.id} has already ended (${task.status})`, "already_terminal");
    }
    this.release(task, now);
    this.tasks.save(task, { ...next, updatedAt: now });
    this.metrics.completed("canceled");
    this.dispatch(now);
  }

  /**
   * Runs a failed or canceled task again here (the caller checked `retryRefusal`): queued now with a
   * fresh attempt budget, under `routing` (a reroute's new explanation, or the one it had), and
   * routed again as far as the event stream is concerned. Clears `retriedAs` (a stale reservation).
   */
  replay(task: TaskRecord, routing: TaskRouting, now: number): TaskRecord {
    const next: TaskRecord = { ...replay(task, now), routing, result: null, retriedAs: null, updatedAt: now };
    this.tasks.replay(task, next);
    this.record(taskRouted(next, now));
    this.heldDispatch = true;
    return next;
  }

  /** A failed attempt whatever its cause: frees the node's slot and applies the retry policy. */
  failAttempt(task: TaskRecord, error: string, retryable: boolean, now: number): TaskRecord {
    this.release(task, now);
    const next = { ...afterFailedAttempt(task, error, retryable, now, this.random), updatedAt: now };
    this.tasks.save(task, next);
    this.record(taskFailed(task, next.status === "failed", now));
    this.metrics.failedAttempt(next.status === "scheduled" ? "scheduled" : "failed");
    if (next.status === "scheduled") {
      this.deadline(next.runAt);
    }
    this.dispatch(now);
    return next;
  }

  /** Expires every lease that has run out. */
  expireLeases(now: number, onError: RowErrorHandler): number {
    return this.eachRow(this.tasks.expired(now, 1000), now, onError, (task) => {
      this.failAttempt(task, "lease expired", true, now);
      this.metrics.leaseExpired();
    });
  }

  /** Moves due scheduled tasks to the queue and wakes the nodes waiting in their regions. */
  promoteDue(now: number, onError: RowErrorHandler): number {
    if (this.tasks.depth().scheduled === 0) {
      return 0; // nothing delayed or backing off: skip the query (poll runs this every time)
    }
    const promoted = this.eachRow(this.tasks.due(now, 1000), now, onError, (task) => {
      this.tasks.save(task, { ...task, status: "queued", updatedAt: now });
    });
    if (promoted > 0) {
      this.dispatch(now);
    }
    return promoted;
  }

  /** Everything a node holds goes back to the queue, each a failed attempt. */
  reclaim(node: Pick<Holder, "id">, reason: string, now: number, onError: RowErrorHandler): number {
    this.stopWaiting(node.id, true);
    return this.eachRow(this.tasks.heldBy(node.id), now, onError, (task) => {
      this.failAttempt(task, reason, true, now);
    });
  }

  /**
   * Applies `step` to each row on its own: a row that fails is quarantined and reported, and the
   * rest go on. Returns how many rows succeeded.
   */
  private eachRow(
    rows: TaskRow[],
    now: number,
    onError: RowErrorHandler,
    step: (task: TaskRecord) => void,
  ): number {
    let done = 0;
    for (const row of rows) {
      try {
        step(parseTask(row));
        done++;
      } catch (error) {
        onError(row.id, error);
        try {
          this.tasks.quarantine(row, error instanceof Error ? error.message : String(error), now);
          this.metrics.quarantined();
        } catch (again) {
          onError(row.id, again);
        }
      }
    }
    return done;
  }

  private requireLease(task: TaskRecord, leaseToken: string, now: number): void {
    const refusal = checkLease(task, leaseToken, now);
    if (refusal === "already_terminal") {
      throw ApiError.of("conflict", `task ${task.id} has already ended (${task.status})`, "already_terminal");
    }
    if (refusal === "lease_lost") {
      throw ApiError.of("conflict", `the lease on task ${task.id} is no longer held`, "lease_lost");
    }
  }

  /** Ends a leased task's attempt: its run time is counted, and its node's slot is freed. */
  private release(task: TaskRecord, now: number): void {
    if (task.status === "leased") {
      this.metrics.attemptEnded(task.leasedAt, now);
    }
    if (task.status === "leased" && task.nodeId !== null) {
      const node = this.nodes.nodes.get(task.nodeId) ?? this.endpoints?.holder(task.nodeId);
      if (node) {
        node.inFlight = Math.max(0, node.inFlight - 1);
        // A waiting node is ranked by its load: keep its rank current, or it looks full.
        for (const key of [node.id, channelKey(node.id)]) {
          if (this.waiters.order.has(key)) {
            this.waiters.order.set(key, node.inFlight, node.capacity);
          }
        }
      }
    }
  }
}
