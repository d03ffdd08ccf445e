import type { AgentOptions, AgentState } from "./agent-options.ts";
import type { Candidacy } from "./candidacy.ts";
import { ChannelLink } from "./channel-link.ts";
import type { Clock } from "./clock.ts";
import { Elections } from "./elections.ts";
import { errorMessage, isConflict, isTransient, MeridianError } from "./errors.ts";
import { HttpClient } from "./http.ts";
import { type AgentLogger, makeLogger } from "./logger.ts";
import { NodeSession } from "./node-session.ts";
import { backoffMs, settlesWithin } from "./retry.ts";
import { canHandleSignals, installSignalHandlers } from "./signals.ts";
import { TaskRunner } from "./task-runner.ts";
import type { PollAnswer, RegisteredNodeView } from "./types.ts";

export type { AgentOptions, AgentState } from "./agent-options.ts";

/**
 * An executor node. It registers in its region, heartbeats on the interval Meridian gives, takes
 * work up to its free capacity, runs handlers concurrently, keeps their leases alive, records
 * outcomes (several in one call when they finish together), backs off while Meridian cannot be
 * reached, registers again when declared dead, and on `stop()` (or SIGTERM / SIGINT) drains: no new
 * work, finishes what it holds, deregisters. Work comes over the node channel (a WebSocket the
 * shard pushes tasks down, see ChannelLink) or, with `transport: "http"` or when Meridian offers no
 * channel, by long polls.
 *
 * ```ts
 * const agent = new Agent({ url, token, region: "eu-west-1", capacity: 4, handlers: {
 *   "thumbnail.render": async (payload, ctx) => render(payload, ctx.signal),
 * }});
 * await agent.run(); // until stopped
 * ```
 */
export class Agent {
  private readonly options: AgentOptions;
  private readonly http: HttpClient;
  private readonly clock: Clock;
  private readonly log: AgentLogger;
  private readonly capacity: number;
  private readonly tasks: TaskRunner<Agent>;
  private readonly elections: Elections;
  /** Aborted when stopping begins: back-off sleeps end, no new registration. */
  private readonly quit = new AbortController();
  /** Aborted to cut a drain short (second signal, `stop({ drain: false })`). */
  private readonly hurry = new AbortController();
  /** Aborted once stopped: heartbeats and outcome retries end. */
  private readonly lifetime = new AbortController();
  private readonly session: NodeSession;
  /** The node channel, unless the transport is HTTP. */
  private readonly link: ChannelLink | null;
  private pollAbort: AbortController | null = null;
  private pollLoopDone: Promise<void> = Promise.resolve();
  private heartbeatLoopDone: Promise<void> = Promise.resolve();
  private stopping: Promise<void> | null = null;
  private fatal: unknown = null;
  private resolveStopped: () => void = () => {};
  private readonly stopped = new Promise<void>((resolve) => {
    this.resolveStopped = resolve;
  });
  private removeSignalHandlers: () => void = () => {};
  private _state: AgentState = "idle";

  constructor(options: AgentOptions) {
    const capacity = options.capacity ?? 1;
    if (!Number.isInteger(capacity) || capacity < 1 || capacity > 10_000) {
      throw new RangeError(`capacity must be an integer in 1..10000, not ${capacity}`);
    }
    this.options = options;
    this.capacity = capacity;
    this.http = new HttpClient(options);
    this.clock = this.http.clock;
    this.log = makeLogger(options.logger, () => {
      const who = options.name ?? options.region;
      const node = this.session?.node;
      return node ? `[agent ${who} ${node.id}]` : `[agent ${who}]`;
    });
    this.link = (options.transport ?? "channel") === "channel" ? this.makeLink(options) : null;
    this.tasks = new TaskRunner<Agent>({
      http: this.http,
      channels: this.link ?? undefined,
      onSlotFreed: () => this.link?.grant(),
      handlers: options.handlers,
      capacity,
      log: this.log,
      agent: this,
      onNodeGone: (nodeId) => this.session.gone(nodeId, "Meridian no longer accepts this node"),
      signal: this.lifetime.signal,
      clock: this.clock,
      random: options.random,
    });
    this.session = new NodeSession({
      http: this.http,
      log: this.log,
      region: options.region,
      capacity,
      labels: { ...options.labels, ...(options.name ? { name: options.name } : {}) },
      wanted: () => this._state === "running",
      load: () => this.tasks.size / capacity,
      quit: this.quit.signal,
      lifetime: this.lifetime.signal,
      onRegistered: (node) => {
        if (this.elections.via(node) === "http") {
          this.elections.renewAll(node); // over a channel: once it is open
        }
      },
      onGone: (nodeId) => {
        this.link?.forget(nodeId);
        this.tasks.abandonNode(nodeId, "the node was declared dead");
        this.elections.forgetAll();
        this.tasks.wake();
      },
      onBeat: (node) =>
        this._state === "running" && this.elections.via(node) === "http"
          ? this.elections.renewAll(node)
          : this.elections.notifyAll(),
      beatOverChannel: (node, load) => this.link?.connectedFor(node.id)?.heartbeat(load) ?? false,
      onDrainRequested: () => void this.stop(),
      onRefused: (error) => this.die(error),
      clock: this.clock,
      random: options.random,
    });
    this.elections = new Elections({
      http: this.http,
      log: this.log,
      ttlMs: () => Math.min(300_000, Math.max(1000, this.session.node?.deadAfterMs ?? 10_000)),
      aliveUntil: () => this.session.aliveUntil,
      // Over the node's channel when the agent uses one (null while it reconnects), else HTTP.
      via: (node, overChannel) =>
        this.link && overChannel && !this.link.usesHttp(node.id)
          ? this.link.campaignChannel(node.id)
          : "http",
      failed: (node, error, what) => this.session.failed(node, error, what),
      clock: this.clock,
      onLeadership: options.onLeadership,
    });
    for (const election of options.campaign ?? []) {
      this.campaign(election);
    }
  }

  get state(): AgentState {
    return this._state;
  }

  /** The node id while registered. */
  get nodeId(): string | null {
    return this.session.node?.id ?? null;
  }

  /**
   * How the node reaches Meridian now: `"channel"` (its WebSocket is open), `"http"` (long polls:
   * `transport: "http"`, or no channel on offer), or null (not registered, or the channel reconnecting).
   */
  get transport(): "channel" | "http" | null {
    const node = this.session.node;
    if (!node) {
      return null;
    }
    if (!this.link || this.link.usesHttp(node.id)) {
      return "http";
    }
    return this.link.connectedFor(node.id) ? "channel" : null;
  }

  /** Tasks running now. */
  get inFlight(): number {
    return this.tasks.size;
  }

  /**
   * Starts the agent; resolves once it is registered (retrying while Meridian cannot be reached).
   * Rejects if Meridian refuses the registration (unknown region, bad token).
   */
  async start(): Promise<RegisteredNodeView> {
    if (this._state !== "idle") {
      throw new Error(`the agent is ${this._state}`);
    }
    this._state = "running";
    if (this.options.handleSignals ?? canHandleSignals()) {
      this.removeSignalHandlers = installSignalHandlers(
        this.clock,
        () => {
          this.log.info("signal received: draining (send it again to stop at once)");
          void this.stop();
        },
        () => {
          this.log.warn("second signal: stopping now, running tasks go back to the queue");
          void this.stop({ drain: false });
        },
      );
    }
    this.pollLoopDone = this.pollLoop();
    this.heartbeatLoopDone = this.session.heartbeats();
    const node = await this.session.registered();
    if (!node) {
      await this.stopped;
      throw this.fatal ?? new Error("the agent stopped before it registered");
    }
    return node;
  }

  /** Starts the agent and resolves when it has stopped (rejects on a fatal error). */
  async run(): Promise<void> {
    await this.start();
    await this.stopped;
    if (this.fatal) {
      throw this.fatal;
    }
  }

  /** Resolves when the agent has stopped. */
  whenStopped(): Promise<void> {
    return this.stopped;
  }

  /**
   * Stops. With `drain` (default): stops polling, finishes the tasks it holds (up to
   * `drainTimeoutMs`), resigns its elections and deregisters. Without: running tasks are aborted
   * and go back to the queue at once. A call without `drain` also cuts a drain in progress short.
   */
  stop(options: { drain?: boolean } = {}): Promise<void> {
    if (options.drain === false) {
      this.hurry.abort();
    }
    this.stopping ??= this.shutdown();
    return this.stopping;
  }

  /**
   * Campaigns in an election with this node as the candidate, renewed on every heartbeat. Returns
   * the candidacy: `isLeader`, `term` (the fencing token while leading), `onChange(...)`, `fence()`.
   */
  campaign(election: string): Candidacy {
    const { candidacy, created } = this.elections.join(election);
    const node = this.session.node;
    if (created && node && this._state === "running") {
      void this.elections.renew(candidacy, node);
    }
    return candidacy;
  }

  /** The candidacy in an election, if the agent campaigns in it. */
  leadership(election: string): Candidacy | undefined {
    return this.elections.get(election);
  }

  private makeLink(options: AgentOptions): ChannelLink {
    return new ChannelLink({
      url: options.url,
      token: options.token,
      webSocket: options.webSocket,
      clock: this.clock,
      log: this.log,
      random: options.random,
      free: () => this.tasks.free,
      granting: () => this._state === "running",
      current: () => this.session.node,
      probe: (node) => this.session.probe(node),
      onTasks: (tasks, node, receivedAt) => {
        for (const task of tasks) {
          this.tasks.start(task, node, receivedAt);
        }
      },
      onLeader: (frame) => this.elections.pushed(frame),
      onConnected: (node) => this._state === "running" && this.elections.renewAll(node),
      // A lapsed candidacy turns isLeader false by itself: each probe re-reads them.
      onProbe: () => this.elections.notifyAll(),
      onContact: (node, sentAt) => {
        this.session.seen(node, sentAt);
        // Not on a welcome (the link has not taken the channel yet): a new session may mean the
        // node was declared dead, and its candidacies with it.
        if (this.link?.connectedFor(node.id)) {
          this.elections.confirmAll(sentAt, this.link.graceMs);
        }
      },
      onFallback: (node) => this._state === "running" && this.elections.renewAll(node),
      onGone: (node, why) => this.session.gone(node.id, why),
    });
  }

  // ---- polling ----

  private async pollLoop(): Promise<void> {
    let failures = 0;
    while (this._state === "running") {
      const node = await this.session.registered();
      if (!node || this._state !== "running") {
        break;
      }
      if (this.link && !this.link.usesHttp(node.id)) {
        // Until the node is gone, falls back to HTTP, or the agent stops.
        await this.link.serve(node);
        continue;
      }
      const free = this.tasks.free;
      if (free <= 0) {
        await this.tasks.waitForSlot();
        continue;
      }
      const controller = new AbortController();
      this.pollAbort = controller;
      const waitMs = Math.min(30_000, Math.max(0, this.options.pollWaitMs ?? node.heartbeatIntervalMs));
      const sentAt = this.clock.now();
      try {
        const { tasks } = await this.http.post<PollAnswer>(
          `/v1/nodes/${encodeURIComponent(node.id)}/poll`,
          { max: Math.min(free, 100), waitMs },
          { signal: controller.signal, timeoutMs: waitMs + 15_000 },
        );
        failures = 0;
        const receivedAt = this.clock.now();
        this.session.seen(node, sentAt);
        for (const task of tasks) {
          this.tasks.start(task, node, receivedAt);
        }
        if (tasks.length === 0 && waitMs > 0 && receivedAt - sentAt < Math.min(waitMs / 2, 100)) {
          // Empty long before the wait was up (draining, or replaced): do not spin.
          await this.clock.sleep(Math.min(waitMs, 250), this.quit.signal);
        }
      } catch (error) {
        if (controller.signal.aborted || this._state !== "running") {
          continue;
        }
        const gone =
          isConflict(error, "node_dead") || (error instanceof MeridianError && error.status === 404);
        if (!gone && !isTransient(error)) {
          this.log.error(`Meridian refused a poll: ${errorMessage(error)}`);
          this.die(error);
          break;
        }
        this.session.failed(node, error, "poll");
        if (!gone) {
          failures++;
          await this.clock.sleep(backoffMs(failures, error, this.options.random), this.quit.signal);
        }
      } finally {
        this.pollAbort = null;
      }
    }
  }

  // ---- stopping ----

  /** A refusal the agent cannot get past: it stops, and `run()` rejects with the error. */
  private die(error: unknown): void {
    this.fatal ??= error;
    void this.stop({ drain: false });
  }

  private async shutdown(): Promise<void> {
    if (this._state === "idle") {
      this.finish();
      return;
    }
    this._state = "draining";
    this.quit.abort();
    this.tasks.wake();
    const node = this.session.node;
    const viaChannel = node !== null && this.link !== null && !this.link.usesHttp(node.id);
    // Leadership moves on now rather than when this node leaves.
    if (node) {
      const via = this.elections.via(node);
      await this.elections.resignAll(2000, via === "http" || via === null ? undefined : via);
    } else {
      this.elections.forgetAll();
    }
    if (node && !this.hurry.signal.aborted) {
      // Over the channel: the shard pushes nothing more and closes it once the node holds nothing.
      if (!(viaChannel && this.link!.drain(node.id))) {
        try {
          // Ends the long poll server-side (answered empty): no lease goes to a poll nobody reads.
          await this.http.post(`/v1/nodes/${encodeURIComponent(node.id)}/drain`, {}, { timeoutMs: 2000 });
        } catch (error) {
          this.log.warn(`drain call failed (${errorMessage(error)}); cutting the poll`);
          this.pollAbort?.abort();
        }
      }
    } else {
      this.pollAbort?.abort();
    }
    // Over a channel the work loop runs until the channel is done with (below).
    if (!viaChannel && !(await settlesWithin(this.pollLoopDone, 3000, this.clock))) {
      this.pollAbort?.abort();
      await this.pollLoopDone;
    }
    if (this.tasks.size > 0 && !this.hurry.signal.aborted) {
      this.log.info(`draining: waiting for ${this.tasks.size} running task(s)`);
      await this.tasks.finished(this.options.drainTimeoutMs ?? 30_000, this.hurry.signal);
    }
    if (this.tasks.size > 0) {
      this.log.warn(`giving back ${this.tasks.size} unfinished task(s)`);
      this.tasks.abandonAll("the agent stopped before the task finished");
    }
    await settlesWithin(this.tasks.reported(), 2000, this.clock);
    if (this.link) {
      await this.link.finish(this.hurry.signal.aborted ? 0 : 1000);
      await settlesWithin(this.pollLoopDone, 1000, this.clock);
    }
    const last = this.session.node;
    if (last) {
      try {
        // Whatever is still held goes back to the queue now rather than at the node deadline.
        await this.http.delete(`/v1/nodes/${encodeURIComponent(last.id)}`, { timeoutMs: 3000 });
        this.log.info("deregistered");
      } catch (error) {
        this.log.warn(`deregistration failed: ${errorMessage(error)}`);
      }
    }
    this.finish();
    await settlesWithin(this.heartbeatLoopDone, 1000, this.clock);
  }

  private finish(): void {
    this.session.clear();
    this._state = "stopped";
    this.quit.abort();
    this.lifetime.abort();
    this.tasks.close();
    this.removeSignalHandlers();
    this.resolveStopped();
  }
}
