import type { NodeChannel } from "./channel.ts";
import type { Clock } from "./clock.ts";
import { errorMessage, isPermanent } from "./errors.ts";
import type { HttpClient } from "./http.ts";
import { LeaseKeeper } from "./lease-keeper.ts";
import type { AgentLogger } from "./logger.ts";
import { OutcomeReporter } from "./outcome-reporter.ts";
import type { LeasedTaskView, RegisteredNodeView } from "./types.ts";

/** What a handler gets besides the payload. */
export interface TaskContext<A = unknown> {
  /** Task id. */
  id: string;
  type: string;
  /** 1 on the first attempt. */
  attempt: number;
  /** The node (and region) running it. */
  nodeId: string;
  region: string;
  /**
   * Aborted when the task's lease is lost (Meridian gave the task back to the queue, e.g. because
   * this node was declared dead) or the agent stops without draining: stop work, nothing more is recorded.
   */
  signal: AbortSignal;
  /** The agent running the task, e.g. to ask `ctx.agent.leadership("name")?.isLeader`. */
  agent: A;
}

/**
 * Runs one task. Its return value (JSON) is the task's result; a throw fails the attempt with the
 * error's message, retried later unless the error is a `PermanentError` (or has `retryable: false`).
 */
// biome-ignore lint/suspicious/noExplicitAny: payloads are whatever the submitter sent; handlers narrow them.
export type Handler<P = any, R = unknown, A = unknown> = (payload: P, ctx: TaskContext<A>) => R | Promise<R>;

/** Handlers by task type; `"*"` catches types without their own handler. */
export type Handlers<A = unknown> = Record<string, Handler<never, unknown, A>>;

/** Where a node's work goes when it runs over a node channel (see ChannelLink.forNode). */
export interface TaskChannels {
  forNode(nodeId: string, until: number, signal?: AbortSignal): Promise<NodeChannel | null>;
}

export interface TaskRunnerOptions<A> {
  http: HttpClient;
  /** The agent's node channels, when it uses them: outcomes and extensions go over them. */
  channels?: TaskChannels;
  /** A slot freed (an outcome was recorded or given up). */
  onSlotFreed?: () => void;
  handlers: Handlers<A>;
  capacity: number;
  log: AgentLogger;
  /** Handed to handlers as `ctx.agent`. */
  agent: A;
  /** Told when Meridian says the node is dead or unknown. */
  onNodeGone: (nodeId: string) => void;
  /** Aborted when the agent has stopped: outcome retries end. */
  signal: AbortSignal;
  clock: Clock;
  random?: () => number;
}

interface Running {
  task: LeasedTaskView;
  nodeId: string;
  controller: AbortController;
  /** Why the outcome will not be recorded (the lease is gone), or null. */
  lost: string | null;
}

/**
 * The tasks an agent holds: runs their handlers concurrently, keeps their leases alive, records
 * their outcomes, and frees a slot only once Meridian has the outcome (so the agent never asks for
 * more than Meridian thinks it has room for).
 */
export class TaskRunner<A = unknown> {
  private readonly options: TaskRunnerOptions<A>;
  private readonly running = new Map<string, Running>();
  private readonly leases: LeaseKeeper;
  private readonly reporter: OutcomeReporter;
  private waiters: (() => void)[] = [];

  constructor(options: TaskRunnerOptions<A>) {
    this.options = options;
    const { channels } = options;
    this.leases = new LeaseKeeper({
      extend: async (id, leaseToken, extendMs) => {
        const nodeId = this.running.get(id)?.nodeId;
        // No wait for a channel that is reconnecting: the keeper tries again before the lease ends.
        const channel = channels && nodeId ? await channels.forNode(nodeId, options.clock.now()) : null;
        if (channel) {
          return channel.extend(id, leaseToken, extendMs);
        }
        return options.http.post(
          `/v1/tasks/${encodeURIComponent(id)}/extend`,
          { leaseToken, extendMs },
          { timeoutMs: 10_000 },
        );
      },
      onLost: (id, reason) => {
        const entry = this.running.get(id);
        if (entry && entry.lost === null) {
          options.log.warn(`lost the lease of ${id}: ${reason}`);
          this.abandon(entry, reason);
        }
      },
      clock: options.clock,
    });
    this.reporter = new OutcomeReporter({
      http: options.http,
      channelFor: channels && ((nodeId, until) => channels.forNode(nodeId, until, options.signal)),
      onNodeGone: options.onNodeGone,
      signal: options.signal,
      clock: options.clock,
      random: options.random,
    });
  }

  /** Tasks held now. */
  get size(): number {
    return this.running.size;
  }

  /** Free slots. */
  get free(): number {
    return this.options.capacity - this.running.size;
  }

  /** Starts a task leased by a poll that answered at `receivedAt` (local ms). */
  start(task: LeasedTaskView, node: RegisteredNodeView, receivedAt: number): void {
    const entry: Running = { task, nodeId: node.id, controller: new AbortController(), lost: null };
    this.running.set(task.id, entry);
    this.leases.hold(task, receivedAt);
    void this.run(entry, node);
  }

  /** Resolves when a slot frees up or `wake()` is called. */
  waitForSlot(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Wakes whoever waits for a slot (the agent's state changed). */
  wake(): void {
    for (const wake of this.waiters.splice(0)) {
      wake();
    }
  }

  /** The tasks of a node that Meridian declared dead: their leases are gone. */
  abandonNode(nodeId: string, reason: string): void {
    for (const entry of this.running.values()) {
      if (entry.nodeId === nodeId) {
        this.abandon(entry, reason);
      }
    }
  }

  /** Every task: the agent stops without waiting for them. */
  abandonAll(reason: string): void {
    for (const entry of this.running.values()) {
      this.abandon(entry, reason);
    }
  }

  /** Resolves when no task is held, `timeoutMs` passes, or `cut` aborts. */
  async finished(timeoutMs: number, cut: AbortSignal): Promise<void> {
    const { clock } = this.options;
    const deadline = clock.now() + timeoutMs;
    while (this.running.size > 0 && clock.now() < deadline && !cut.aborted) {
      await new Promise<void>((resolve) => {
        const done = () => {
          clock.clearTimer(timer);
          cut.removeEventListener("abort", done);
          resolve();
        };
        const timer = clock.setTimer(done, deadline - clock.now());
        this.waiters.push(done);
        cut.addEventListener("abort", done, { once: true });
      });
    }
  }

  /** Resolves when no outcome is waiting to be sent. */
  reported(): Promise<void> {
    return this.reporter.idle();
  }

  /** Stops keeping leases (the agent has stopped). */
  close(): void {
    this.leases.releaseAll();
  }

  private async run(entry: Running, node: RegisteredNodeView): Promise<void> {
    const { task } = entry;
    const { handlers, log } = this.options;
    const handler = handlers[task.type] ?? handlers["*"];
    const ctx: TaskContext<A> = {
      id: task.id,
      type: task.type,
      attempt: task.attempt,
      nodeId: node.id,
      region: node.region,
      signal: entry.controller.signal,
      agent: this.options.agent,
    };
    let outcome:
      | { outcome: "succeeded"; result: unknown }
      | { outcome: "failed"; error: string; retryable: boolean };
    try {
      if (!handler) {
        // Retryable: another node of the region may know the type.
        throw new Error(`no handler for task type ${task.type} on this node`);
      }
      // Handlers are declared per payload type; the payload is whatever the submitter sent.
      const run = handler as Handler<unknown, unknown, A>;
      const result = (await run(task.payload, ctx)) ?? null;
      outcome = { outcome: "succeeded", result: portable(result) };
    } catch (error) {
      outcome = {
        outcome: "failed",
        error: errorMessage(error).slice(0, 10_000),
        retryable: !isPermanent(error),
      };
    }
    if (entry.lost === null) {
      const recorded = await this.reporter.report(
        entry.nodeId,
        { id: task.id, leaseToken: task.leaseToken, ...outcome },
        () => this.leases.deadlineOf(task.id),
      );
      if (!recorded.recorded) {
        log.warn(`outcome of ${task.id} not recorded: ${recorded.reason}`);
      }
    } else {
      log.warn(`task ${task.id} ended after its lease was lost (${entry.lost}); its outcome is dropped`);
    }
    this.leases.release(task.id);
    this.running.delete(task.id);
    this.wake();
    this.options.onSlotFreed?.();
  }

  private abandon(entry: Running, reason: string): void {
    if (entry.lost === null) {
      entry.lost = reason;
    }
    this.leases.release(entry.task.id);
    entry.controller.abort(new Error(reason));
  }
}

/** A result that can travel as JSON, or a PermanentError-like failure saying why not. */
function portable(result: unknown): unknown {
  try {
    JSON.stringify(result);
    return result;
  } catch (error) {
    throw Object.assign(new Error(`the handler's result is not JSON: ${errorMessage(error)}`), {
      retryable: false,
    });
  }
}
