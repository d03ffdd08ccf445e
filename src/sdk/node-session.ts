import type { Clock } from "./clock.ts";
import { errorMessage, isConflict, isTransient, MeridianError } from "./errors.ts";
import type { HttpClient } from "./http.ts";
import type { AgentLogger } from "./logger.ts";
import { backoffMs } from "./retry.ts";
import type { RegisteredNodeView } from "./types.ts";

/** What an HTTP heartbeat says of a node: Meridian answered, the node is gone, or no answer came. */
export type Liveness = "answered" | "gone" | "unreachable";

export interface NodeSessionOptions {
  http: HttpClient;
  log: AgentLogger;
  region: string;
  capacity: number;
  labels: Record<string, string>;
  /** Whether the agent still wants a node (false once it drains: no new registration). */
  wanted: () => boolean;
  /** Tasks held / capacity, sent with each heartbeat. */
  load: () => number;
  /** Aborted when stopping begins (ends a registration in progress and its back-off). */
  quit: AbortSignal;
  /** Aborted once stopped (ends heartbeats). */
  lifetime: AbortSignal;
  /** A (new) node is registered. */
  onRegistered: (node: RegisteredNodeView) => void;
  /** Meridian declared the node dead or forgot it: what it held went back to the queue. */
  onGone: (nodeId: string) => void;
  /** After each heartbeat is sent (the agent renews its candidacies then). */
  onBeat: (node: RegisteredNodeView) => void;
  /** Meridian marked the node draining (an operator's `POST /v1/nodes/{id}/drain`). */
  onDrainRequested: () => void;
  /** Meridian refused the registration (unknown region, bad token): the agent cannot go on. */
  onRefused: (error: unknown) => void;
  /** Sends a heartbeat over the node's channel if it is open (false: send it over HTTP). */
  beatOverChannel?: (node: RegisteredNodeView, load: number) => boolean;
  clock: Clock;
  random?: () => number;
}

/**
 * Keeps an agent registered as a node: registers (retrying with back-off while Meridian cannot be
 * reached), heartbeats on the interval Meridian gives, and registers again when Meridian declared
 * the node dead (409 `node_dead`) or no longer knows it (404).
 */
export class NodeSession {
  private readonly options: NodeSessionOptions;
  private registering: Promise<RegisteredNodeView | null> | null = null;
  /** The registered node, or null. */
  node: RegisteredNodeView | null = null;
  /** Local time until which Meridian cannot have declared the node dead (last contact sent + deadAfterMs). */
  aliveUntil = 0;

  constructor(options: NodeSessionOptions) {
    this.options = options;
  }

  /** The registered node, registering first if needed; null once the node is no longer wanted. */
  registered(): Promise<RegisteredNodeView | null> {
    if (this.node) {
      return Promise.resolve(this.node);
    }
    this.registering ??= this.register().finally(() => {
      this.registering = null;
    });
    return this.registering;
  }

  /** A call as `node` sent at `sentAt` was answered: Meridian saw the node alive then. */
  seen(node: RegisteredNodeView, sentAt: number): void {
    this.aliveUntil = Math.max(this.aliveUntil, sentAt + node.deadAfterMs);
  }

  /** Forgets the node (it deregistered). */
  clear(): void {
    this.node = null;
  }

  /**
   * Handles the failure of a call made as `node`: `node_dead` or 404 end the node (the agent then
   * registers again); other errors are logged. Returns whether the node is gone.
   */
  failed(node: RegisteredNodeView, error: unknown, what: string): boolean {
    if (this.options.lifetime.aborted) {
      return false;
    }
    if (isConflict(error, "node_dead") || (error instanceof MeridianError && error.status === 404)) {
      this.gone(
        node.id,
        isConflict(error, "node_dead")
          ? "Meridian declared this node dead"
          : "Meridian no longer knows this node",
      );
      return true;
    }
    if (isTransient(error)) {
      this.options.log.warn(`${what} failed: ${errorMessage(error)}`);
    } else {
      this.options.log.error(`${what} refused: ${errorMessage(error)}`);
    }
    return false;
  }

  /** The node is gone (at most once per node). */
  gone(nodeId: string, why: string): void {
    if (this.node?.id !== nodeId) {
      return;
    }
    this.node = null;
    const next = this.options.wanted() ? "; registering again" : "";
    this.options.log.warn(`${why}: what it held went back to the queue${next}`);
    this.options.onGone(nodeId);
  }

  /** Heartbeats until the lifetime ends; resolves then. */
  async heartbeats(): Promise<void> {
    const { lifetime, clock } = this.options;
    while (!lifetime.aborted) {
      const current = this.node ?? (this.options.wanted() ? await this.registered() : null);
      if (!current) {
        await clock.sleep(250, lifetime); // draining without a node: nothing to keep alive
        continue;
      }
      await clock.sleep(current.heartbeatIntervalMs, lifetime);
      const node = this.node;
      if (lifetime.aborted || !node) {
        continue;
      }
      const load = Math.min(1, Math.max(0, this.options.load()));
      if (!this.options.beatOverChannel?.(node, load)) {
        // Not awaited: a slow answer must not delay the next beat (each call has its own timeout).
        void this.beat(node, load);
      }
      this.options.onBeat(node);
    }
  }

  private async register(): Promise<RegisteredNodeView | null> {
    const { http, log, region, capacity, labels, quit, clock } = this.options;
    for (let failures = 1; this.options.wanted(); failures++) {
      const sentAt = clock.now();
      try {
        const node = await http.post<RegisteredNodeView>(
          "/v1/nodes",
          { region, capacity, labels },
          { signal: quit, timeoutMs: 10_000 },
        );
        this.node = node;
        this.aliveUntil = sentAt + node.deadAfterMs;
        log.info(
          `registered in ${node.region} (capacity ${capacity}, heartbeat every ${node.heartbeatIntervalMs} ms)`,
        );
        this.options.onRegistered(node);
        return node;
      } catch (error) {
        if (quit.aborted) {
          return null;
        }
        if (!isTransient(error)) {
          log.error(`Meridian refused the registration: ${errorMessage(error)}`);
          this.options.onRefused(error);
          return null;
        }
        log.warn(`cannot register yet: ${errorMessage(error)}`);
        await clock.sleep(backoffMs(failures, error, this.options.random), quit);
      }
    }
    return null;
  }

  /** Asks Meridian whether the node is alive with one HTTP heartbeat (a gone node is handled as such). */
  probe(node: RegisteredNodeView): Promise<Liveness> {
    return this.beat(node, Math.min(1, Math.max(0, this.options.load())));
  }

  private async beat(node: RegisteredNodeView, load: number): Promise<Liveness> {
    const sentAt = this.options.clock.now();
    try {
      const { status } = await this.options.http.post<{ status: string }>(
        `/v1/nodes/${encodeURIComponent(node.id)}/heartbeat`,
        { load },
        { signal: this.options.lifetime, timeoutMs: node.deadAfterMs },
      );
      this.seen(node, sentAt);
      if (status === "draining" && this.options.wanted()) {
        this.options.log.info("Meridian marked this node draining: finishing its tasks and leaving");
        this.options.onDrainRequested();
      }
      return "answered";
    } catch (error) {
      if (this.failed(node, error, "heartbeat")) {
        return "gone";
      }
      return isTransient(error) || this.options.lifetime.aborted ? "unreachable" : "answered";
    }
  }
}
