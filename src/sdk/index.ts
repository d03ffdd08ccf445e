/**
 * Meridian's SDK: the executor `Agent`, the submitter's `MeridianClient`, the `NodeChannel` for
 * executors of your own, and `verifyWebhook` for HTTP executors that Meridian pushes tasks to.
 * Needs `fetch` (and a `WebSocket` for the node channel: Node 22+ has one).
 * On Node 22.18+ it runs straight from these TypeScript sources; bundlers take it as is. Inside the
 * clone, import it as `meridian/sdk` (package.json `exports`), from any directory.
 */
import type { Agent } from "./agent.ts";
import type { TaskContext as RunnerContext, Handler as RunnerHandler } from "./task-runner.ts";

export { Agent, type AgentOptions, type AgentState } from "./agent.ts";
export { Candidacy, type LeadershipState } from "./candidacy.ts";
export {
  type ChannelClose,
  type ChannelEvents,
  type ChannelState,
  NodeChannel,
  type NodeChannelOptions,
} from "./channel.ts";
export type { LeaderFrame, ReportResult, WelcomeFrame } from "./channel-frames.ts";
export type { ChannelSocket, WebSocketFactory } from "./channel-socket.ts";
export { MeridianClient, TaskFailedError, type WaitOptions, WaitTimeoutError } from "./client.ts";
export { type Clock, systemClock, type TimerHandle } from "./clock.ts";
export { ChannelError, MeridianError, PermanentError, TransportError } from "./errors.ts";
export type { ConnectionOptions } from "./http.ts";
export type { AgentLogger } from "./logger.ts";
export type {
  BatchItem,
  ElectionView,
  LeaderView,
  ListField,
  NodeView,
  RegionView,
  SubmitTaskInput,
  TaskListItemView,
  TaskPage,
  TaskQueryInput,
  TaskStatusName,
  TaskView,
} from "./types.ts";
export {
  type VerifyOptions,
  verifyWebhook,
  type WebhookHeaders,
  WebhookVerificationError,
} from "./webhook.ts";

/** What a handler gets besides the payload. */
export type TaskContext = RunnerContext<Agent>;
/** Runs one task: return the result, or throw (a `PermanentError` is not retried). */
// biome-ignore lint/suspicious/noExplicitAny: payloads are whatever the submitter sent; handlers narrow them.
export type Handler<P = any, R = unknown> = RunnerHandler<P, R, Agent>;
/** Handlers by task type; `"*"` catches the rest. */
export type Handlers = Record<string, Handler>;
