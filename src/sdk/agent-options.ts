import type { Agent } from "./agent.ts";
import type { LeadershipState } from "./candidacy.ts";
import type { ConnectionOptions } from "./http.ts";
import type { AgentLogger } from "./logger.ts";
import type { Handlers } from "./task-runner.ts";

/** How to run an agent. Only `url`, `token`, `region` and `handlers` are required. */
export interface AgentOptions extends ConnectionOptions {
  /** Region to register in (it must exist: `PUT /v1/regions/{id}`). */
  region: string;
  /** Tasks run at once (1..10000, default 1). */
  capacity?: number;
  /**
   * How work reaches the agent. `"channel"` (default): one WebSocket to the region's shard (pushed
   * tasks, outcomes, heartbeats and elections over it), falling back to HTTP when Meridian has no
   * channel to offer. `"http"`: long polls and HTTP calls only.
   */
  transport?: "channel" | "http";
  handlers: Handlers<Agent>;
  /** Free-form labels shown in `GET /v1/nodes`. */
  labels?: Record<string, string>;
  /** A name for logs (also sent as the `name` label). */
  name?: string;
  /** Elections to campaign in from the start (see `Agent.campaign`). */
  campaign?: string[];
  /**
   * Longest wait of one long poll (HTTP transport). Default: the heartbeat interval Meridian gives, because the
   * coordinator counts a node waiting in a poll as alive until that poll ends, so a crashed agent
   * in a long poll would be declared dead that much later.
   */
  pollWaitMs?: number;
  /** Longest a drain waits for running tasks before giving them back (default 30 s). */
  drainTimeoutMs?: number;
  /** Drain on SIGTERM / SIGINT, stop at once on a second signal (default: true on Node). */
  handleSignals?: boolean;
  /** Where messages go (default: the console, prefixed with the agent's name); false for silence. */
  logger?: AgentLogger | false;
  /** Told of every leadership change of every election the agent campaigns in. */
  onLeadership?: (state: LeadershipState) => void;
  random?: () => number;
}

/** idle → running → draining → stopped. */
export type AgentState = "idle" | "running" | "draining" | "stopped";
