import type { CampaignChannel } from "./candidacy.ts";
import { NodeChannel } from "./channel.ts";
import type { LeaderFrame } from "./channel-frames.ts";
import type { WebSocketFactory } from "./channel-socket.ts";
import type { Clock } from "./clock.ts";
import { ChannelError, errorMessage, isConflict, MeridianError, TransportError } from "./errors.ts";
import type { AgentLogger } from "./logger.ts";
import type { Liveness } from "./node-session.ts";
import { backoffMs } from "./retry.ts";
import type { LeasedTaskView, RegisteredNodeView } from "./types.ts";

/** Failures counted after a close for abuse (1008): the next try waits seconds, not milliseconds. */
const ABUSE_FAILURES = 5;
/** Longest wait for the welcome. */
const CONNECT_TIMEOUT_MS = 10_000;
/** Failed upgrades of a new node, while Meridian answers over HTTP, after which the node uses HTTP. */
const REFUSALS_BEFORE_HTTP = 3;

export interface ChannelLinkOptions {
  url: string;
  token: string;
  webSocket?: WebSocketFactory;
  clock: Clock;
  log: AgentLogger;
  random?: () => number;
  /** Free slots now: the credit to offer. */
  free: () => number;
  /** Whether the agent takes new work (false once it drains or stops). */
  granting: () => boolean;
  /** The node the agent is registered as now; a node that is no longer current is not served. */
  current: () => RegisteredNodeView | null;
  /** Asks over HTTP (a heartbeat) whether the node is alive: decides between the channel and HTTP. */
  probe: (node: RegisteredNodeView) => Promise<Liveness>;
  onTasks: (tasks: LeasedTaskView[], node: RegisteredNodeView, receivedAt: number) => void;
  onLeader: (frame: LeaderFrame) => void;
  /** Connected, first time or resumed: campaign over the channel. */
  onConnected: (node: RegisteredNodeView) => void;
  /** Every half grace period while connected, after a ping: leadership is re-read. */
  onProbe: (node: RegisteredNodeView) => void;
  /** An answer to something sent at `sentAt` came: the shard had the node alive then. */
  onContact: (node: RegisteredNodeView, sentAt: number) => void;
  /** The channel cannot be opened but Meridian answers over HTTP: the agent uses HTTP for this node. */
  onFallback: (node: RegisteredNodeView) => void;
  /** Meridian no longer has the node (dead, or away longer than the grace period). */
  onGone: (node: RegisteredNodeView, why: string) => void;
}

/**
 * Keeps an agent's node on its channel: connects after registration, offers credit as slots free,
 * reconnects with back-off after a close and resumes within the grace period (the node keeps its
 * leases; what finished meanwhile is reported after the welcome), and ends the node when the shard
 * says it is gone. If the first connection of a node fails while Meridian answers over HTTP (a
 * server without the channel), that node uses HTTP: long polls, HTTP reports and heartbeats.
 */
export class ChannelLink {
  private readonly options: ChannelLinkOptions;
  private channel: NodeChannel | null = null;
  /** Aborted when the agent is done with the link. */
  private readonly ended = new AbortController();
  /** The node served now, and how to stop serving it (it is gone). */
  private served: { nodeId: string; release: AbortController } | null = null;
  private readonly viaHttp = new Set<string>();
  private waiters = new Set<() => void>();
  private draining = false;
  private probing = false;
  private _graceMs = 0;

  constructor(options: ChannelLinkOptions) {
    this.options = options;
  }

  /** The grace period assumed for a closed channel: the welcome's heartbeat interval (its default). */
  get graceMs(): number {
    return this._graceMs;
  }

  /** The node's channel if it is open now. */
  connectedFor(nodeId: string): NodeChannel | null {
    return this.channel?.nodeId === nodeId && this.channel.state === "open" ? this.channel : null;
  }

  /**
   * Campaigning over the node's open channel (null when it is not open): bound to its session, an
   * answer holds for the grace period after it was asked for.
   */
  campaignChannel(nodeId: string): CampaignChannel | null {
    const channel = this.connectedFor(nodeId);
    if (!channel) {
      return null;
    }
    return {
      campaign: (election) => channel.campaign(election),
      resign: (election) => channel.resign(election),
      validForMs: this._graceMs,
    };
  }

  /** Whether the node uses HTTP (its channel could not be opened). */
  usesHttp(nodeId: string): boolean {
    return this.viaHttp.has(nodeId);
  }

  /**
   * The channel for `nodeId`'s outcomes and extensions: waits (until local time `until`) while it
   * reconnects; null when the node uses HTTP. Throws a TransportError when it is not back in time,
   * a 409 `node_dead` when the node is no longer current.
   */
  async forNode(nodeId: string, until: number, signal?: AbortSignal): Promise<NodeChannel | null> {
    for (;;) {
      if (this.viaHttp.has(nodeId)) {
        return null;
      }
      if (this.options.current()?.id !== nodeId) {
        throw new MeridianError(409, { code: "conflict", message: "the node is gone", reason: "node_dead" });
      }
      const open = this.connectedFor(nodeId);
      if (open) {
        return open;
      }
      const left = until - this.options.clock.now();
      if (left <= 0 || signal?.aborted || this.ended.signal.aborted) {
        throw new TransportError("the node channel is not connected");
      }
      await this.nextChange(left, signal);
    }
  }

  /** Offers the shard the free slots (one frame per turn, however many slots free in it). */
  grant(): void {
    if (this.channel?.state === "open" && !this.draining && this.options.granting()) {
      this.channel.credit(Math.max(0, this.options.free()));
    }
  }

  /** Asks for no more work (now if connected, else after reconnecting); false when not connected now. */
  drain(nodeId: string): boolean {
    this.draining = true;
    return this.connectedFor(nodeId)?.drain() ?? false;
  }

  /** The node is gone: stop serving it (its channel closes). */
  forget(nodeId: string): void {
    if (this.served?.nodeId === nodeId) {
      this.served.release.abort();
    }
  }

  /** The agent stops: waits up to `waitMs` for the shard to close a drained channel, then closes it. */
  async finish(waitMs: number): Promise<void> {
    const channel = this.channel;
    if (channel && this.draining && waitMs > 0) {
      await Promise.race([channel.closed, this.options.clock.sleep(waitMs, this.ended.signal)]);
    }
    this.ended.abort();
    this.channel?.close(1000, "the agent stopped");
  }

  /** Serves `node` over its channel until it is gone, uses HTTP, or the link ends. */
  async serve(node: RegisteredNodeView): Promise<void> {
    const release = new AbortController();
    this.served = { nodeId: node.id, release };
    const stop = AbortSignal.any([this.ended.signal, release.signal]);
    const { log, clock } = this.options;
    let welcomed = false;
    let failures = 0;
    let refusals = 0;
    while (this.serving(node, stop)) {
      const channel = this.open(node);
      const stopChannel = () => channel.close(1000, "the node is gone or the agent stopped");
      stop.addEventListener("abort", stopChannel, { once: true });
      try {
        let welcome: Awaited<ReturnType<NodeChannel["connect"]>>;
        try {
          welcome = await channel.connect({ signal: stop, timeoutMs: CONNECT_TIMEOUT_MS });
        } catch (error) {
          if (!this.serving(node, stop)) {
            break;
          }
          if (isConflict(error, "node_dead") || (error instanceof MeridianError && error.status === 404)) {
            this.options.onGone(node, `Meridian refused the channel: ${errorMessage(error)}`);
            break;
          }
          const abuse = closeCodeOf(error) === 1008;
          failures = abuse ? Math.max(failures + 1, ABUSE_FAILURES) : failures + 1;
          if (!welcomed && !abuse) {
            // Refused, or no connection? Ask over HTTP: a server without the channel answers there.
            const liveness = await this.options.probe(node);
            if (liveness === "gone" || !this.serving(node, stop)) {
              break;
            }
            if (liveness === "answered" && ++refusals >= REFUSALS_BEFORE_HTTP) {
              log.warn(`the node channel cannot be opened (${errorMessage(error)}): using HTTP`);
              this.viaHttp.add(node.id);
              this.notifyChange();
              this.options.onFallback(node);
              break;
            }
          } else if (!abuse) {
            this.probeSoon(node); // a node declared dead meanwhile registers again at once
          }
          log.warn(`cannot open the node channel yet: ${errorMessage(error)}`);
          await clock.sleep(backoffMs(failures, null, this.options.random), stop);
          continue;
        }
        if (welcomed && !welcome.resumed) {
          this.options.onGone(
            node,
            "the channel was away longer than its grace period: the node was declared dead",
          );
          break;
        }
        const openedAt = clock.now();
        log.info(welcomed ? "channel resumed: the node keeps its leases" : "channel open");
        welcomed = true;
        this._graceMs = welcome.graceMs ?? welcome.heartbeatIntervalMs;
        this.channel = channel;
        this.notifyChange();
        if (this.draining) {
          channel.drain();
        } else {
          this.grant();
        }
        this.options.onConnected(node);
        void this.probeLoop(node, channel);
        const closed = await channel.closed;
        this.channel = null;
        this.notifyChange();
        if (!this.serving(node, stop) || closed.drained) {
          break;
        }
        if (closed.code === 4001) {
          this.options.onGone(node, `Meridian closed the channel: ${closed.reason || "the node is gone"}`);
          break;
        }
        if (closed.code === 4000) {
          // Another connection took the node over (a second process with the same node id): taking
          // it back would only replace that one in turn, so this agent leaves it and registers anew.
          this.options.onGone(node, "another connection took this node's channel over (4000)");
          break;
        }
        // A channel that lived a grace period or more starts the back-off over.
        failures = clock.now() - openedAt >= this._graceMs ? 1 : failures + 1;
        if (closed.code === 1008) {
          failures = Math.max(failures, ABUSE_FAILURES);
          log.error(`the shard closed the channel as abuse (1008 ${closed.reason}): backing off`);
        } else {
          log.warn(
            `the node channel closed (${closed.code}${closed.reason ? ` ${closed.reason}` : ""}): reconnecting`,
          );
        }
        await clock.sleep(backoffMs(failures, null, this.options.random), stop);
      } finally {
        stop.removeEventListener("abort", stopChannel);
        if (this.channel === channel) {
          this.channel = null;
          this.notifyChange();
        }
        channel.close(1000, "the agent no longer uses this channel");
      }
    }
  }

  /** One HTTP heartbeat, not awaited (it may hang as long as the network does); one at a time. */
  private probeSoon(node: RegisteredNodeView): void {
    if (!this.probing) {
      this.probing = true;
      void this.options.probe(node).finally(() => {
        this.probing = false;
      });
    }
  }

  private serving(node: RegisteredNodeView, stop: AbortSignal): boolean {
    return !stop.aborted && this.options.current()?.id === node.id;
  }

  private open(node: RegisteredNodeView): NodeChannel {
    const { options } = this;
    const channel = new NodeChannel({
      url: options.url,
      token: options.token,
      nodeId: node.id,
      webSocket: options.webSocket,
      clock: options.clock,
      logger: options.log,
    });
    channel.on("tasks", (tasks, receivedAt) => {
      const free = options.free();
      if (tasks.length > free) {
        options.log.warn(`the shard pushed ${tasks.length} task(s) with room for ${free}; running them`);
      }
      options.onTasks(tasks, node, receivedAt);
    });
    channel.on("leader", (frame) => options.onLeader(frame));
    channel.on("contact", (sentAt) => options.onContact(node, sentAt));
    channel.on("error", (error) => options.log.warn(`the shard refused a frame: ${error.message}`));
    return channel;
  }

  /**
   * Every half grace period while the channel is open, a ping (answered by the runtime without
   * waking the shard: its pong is contact, see Agent's onContact), then `onProbe`.
   */
  private async probeLoop(node: RegisteredNodeView, channel: NodeChannel): Promise<void> {
    const closed = new AbortController();
    void channel.closed.then(() => closed.abort());
    while (channel.state === "open") {
      await this.options.clock.sleep(Math.max(10, this._graceMs / 2), closed.signal);
      if (channel.state === "open") {
        channel.ping();
        this.options.onProbe(node);
      }
    }
  }

  private notifyChange(): void {
    for (const wake of [...this.waiters]) {
      wake();
    }
  }

  /** Resolves at the next change of connection, after `ms`, or when `signal` aborts. */
  private nextChange(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve) => {
      const stop = AbortSignal.any([this.ended.signal, ...(signal ? [signal] : [])]);
      const done = () => {
        this.waiters.delete(done);
        this.options.clock.clearTimer(timer);
        stop.removeEventListener("abort", done);
        resolve();
      };
      const timer = this.options.clock.setTimer(done, ms);
      this.waiters.add(done);
      stop.addEventListener("abort", done, { once: true });
    });
  }
}

function closeCodeOf(error: unknown): number | null {
  return error instanceof ChannelError ? error.closeCode : null;
}
