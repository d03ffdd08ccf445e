import {
  channelError,
  type LeaderFrame,
  MAX_FRAME_BYTES,
  type NodeFrame,
  parseShardFrame,
  type ReportResult,
  type ShardFrame,
  utf8Bytes,
  type WelcomeFrame,
} from "./channel-frames.ts";
import { PendingRequests } from "./channel-requests.ts";
import { type ChannelSocket, channelUrl, globalWebSocket, type WebSocketFactory } from "./channel-socket.ts";
import { type Clock, systemClock, type TimerHandle } from "./clock.ts";
import { ChannelError, errorMessage, MeridianError, TransportError } from "./errors.ts";
import { type AgentLogger, makeLogger } from "./logger.ts";
import type { LeasedTaskView, ReportItemInput } from "./types.ts";

/** Where a channel connects and how it waits. */
export interface NodeChannelOptions {
  /** Meridian's base URL (http(s)://…; the channel uses ws(s)://). */
  url: string;
  /** The node's bearer token. */
  token: string;
  nodeId: string;
  /** Opens the socket (default: the global `WebSocket`). */
  webSocket?: WebSocketFactory;
  /** Where request timeouts run (default: the system clock). */
  clock?: Clock;
  /** Longest wait for the answer to a request (default 10 s). */
  requestTimeoutMs?: number;
  /** Where ignored frames are reported (default: the console); false for silence. */
  logger?: AgentLogger | false;
}

/** How a channel ended. */
export interface ChannelClose {
  code: number;
  reason: string;
  /** This side ended it (`close()`, a failed send, a connect that timed out or was aborted). */
  byNode: boolean;
  /** The shard closed it with 1000 after this side's `drain`: the node holds nothing more. */
  drained: boolean;
}

/** What a channel tells its listeners. */
export interface ChannelEvents {
  /** Work the shard pushed (the node had credit); `receivedAt` is local time. */
  tasks: (tasks: LeasedTaskView[], receivedAt: number) => void;
  /** A change in an election the node campaigns in or observes. */
  leader: (frame: LeaderFrame) => void;
  /** An answer came to a request sent at `sentAt` (local time): the shard had the node alive then. */
  contact: (sentAt: number) => void;
  /** An `error` frame that answers no request (e.g. a refused `credit` or `observe`). */
  error: (error: MeridianError) => void;
}

export type ChannelState = "idle" | "connecting" | "open" | "closed";

type Listeners = { [E in keyof ChannelEvents]: Set<ChannelEvents[E]> };

/**
 * One node channel (API-v2 §4): one WebSocket to the node's region shard. `connect()` waits for the
 * welcome; requests carry a ref and resolve with their answer (or reject with the `error` frame as
 * a MeridianError, or a TransportError after `requestTimeoutMs` or when the socket closes); pushed
 * tasks and leader changes go to listeners. Frames from the shard that are not valid are logged and
 * ignored. A channel connects once: to reconnect, make another.
 *
 * ```ts
 * const channel = client.channel(nodeId);
 * channel.on("tasks", (tasks) => tasks.forEach(run)); // then channel.report([...]) as each ends
 * const { heartbeatIntervalMs } = await channel.connect();
 * channel.credit(4);
 * ```
 */
export class NodeChannel {
  readonly nodeId: string;
  /** Resolves once the socket has ended (never rejects). */
  readonly closed: Promise<ChannelClose>;
  private readonly options: NodeChannelOptions;
  private readonly clock: Clock;
  private readonly log: AgentLogger;
  private socket: ChannelSocket | null = null;
  private _state: ChannelState = "idle";
  private _welcome: WelcomeFrame | null = null;
  private connecting: { startedAt: number; fail: (error: Error) => void; welcome: () => void } | null = null;
  private readonly requests: PendingRequests;
  private readonly listeners: Listeners = {
    tasks: new Set(),
    leader: new Set(),
    contact: new Set(),
    error: new Set(),
  };
  private creditToSend: number | null = null;
  private creditTimer: TimerHandle | null = null;
  private drainSent = false;
  /** Send times of the pings not answered yet, oldest first. */
  private readonly pings: number[] = [];
  private resolveClosed: (close: ChannelClose) => void = () => {};

  constructor(options: NodeChannelOptions) {
    this.options = options;
    this.nodeId = options.nodeId;
    this.clock = options.clock ?? systemClock;
    this.log = makeLogger(options.logger, () => `[meridian channel ${options.nodeId}]`);
    this.requests = new PendingRequests(this.clock, options.requestTimeoutMs ?? 10_000);
    this.closed = new Promise((resolve) => {
      this.resolveClosed = resolve;
    });
  }

  get state(): ChannelState {
    return this._state;
  }

  /** The shard's welcome, once connected. */
  get welcome(): WelcomeFrame | null {
    return this._welcome;
  }

  /** Listens to an event; returns a function that stops listening. */
  on<E extends keyof ChannelEvents>(event: E, listener: ChannelEvents[E]): () => void {
    const set = this.listeners[event] as Set<ChannelEvents[E]>;
    set.add(listener);
    return () => set.delete(listener);
  }

  /**
   * Opens the socket and resolves with the shard's welcome. Rejects with a ChannelError when the
   * socket cannot be opened (the upgrade was refused, no connection, no welcome within `timeoutMs`,
   * default 10 s), or with a MeridianError when the shard answers with an `error` frame instead.
   */
  connect(options: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<WelcomeFrame> {
    if (this._state !== "idle") {
      return Promise.reject(new Error(`the channel is ${this._state}: make a new one to connect again`));
    }
    this._state = "connecting";
    const { signal } = options;
    const timeoutMs = options.timeoutMs ?? 10_000;
    return new Promise<WelcomeFrame>((resolve, reject) => {
      const done = () => {
        this.clock.clearTimer(timer);
        signal?.removeEventListener("abort", abort);
        this.connecting = null;
      };
      const abort = () => this.end(1000, "connect aborted", true, signal?.reason ?? new Error("aborted"));
      this.connecting = {
        startedAt: this.clock.now(),
        welcome: () => {
          done();
          resolve(this._welcome!);
        },
        fail: (error) => {
          done();
          reject(error);
        },
      };
      const timer = this.clock.setTimer(() => {
        const message = `no welcome from the shard within ${timeoutMs} ms`;
        this.end(1000, message, true, new ChannelError(message, null));
      }, timeoutMs);
      if (signal?.aborted) {
        abort();
        return;
      }
      signal?.addEventListener("abort", abort, { once: true });
      this.open();
    });
  }

  /**
   * Tells the shard the node can take `n` more tasks now. It replaces what the node said before (the
   * shard lowers it by each task it pushes); calls within one turn send one frame, with the last `n`.
   * Returns false when the channel is not open or draining.
   */
  credit(n: number): boolean {
    if (!Number.isInteger(n) || n < 0 || n > 10_000) {
      throw new RangeError(`credit must be an integer in 0..10000, not ${n}`);
    }
    if (this._state !== "open" || this.drainSent) {
      return false;
    }
    this.creditToSend = n;
    this.creditTimer ??= this.clock.setTimer(() => this.flushCredit(), 0);
    return true;
  }

  /** Records up to 100 outcomes in one frame; the results come in the same order. */
  async report(reports: ReportItemInput[]): Promise<ReportResult[]> {
    if (reports.length < 1 || reports.length > 100) {
      throw new RangeError(`a report carries 1..100 outcomes, not ${reports.length}`);
    }
    const answer = await this.request("reported", (ref) => ({ op: "report", ref, reports }));
    return answer.results;
  }

  /** Extends a lease to `extendMs` from now; resolves with its new end (the shard's clock). */
  async extend(id: string, leaseToken: string, extendMs: number): Promise<{ leaseExpiresAt: number }> {
    const answer = await this.request("extended", (ref) => ({ op: "extend", ref, id, leaseToken, extendMs }));
    return { leaseExpiresAt: answer.leaseExpiresAt };
  }

  /** Campaigns with this node in `election` (bound to the channel's session); resolves with its standing. */
  campaign(election: string): Promise<LeaderFrame> {
    return this.request("leader", (ref) => ({ op: "campaign", ref, election }));
  }

  /** Leaves `election`; the next candidate leads at once. */
  async resign(election: string): Promise<void> {
    await this.request("resigned", (ref) => ({ op: "resign", ref, election }));
  }

  /** Subscribes to `election`'s changes (`leader` events). Returns whether the frame was sent. */
  observe(election: string): boolean {
    return this.sendNow({ op: "observe", election });
  }

  /**
   * `{"op":"ping"}`, which the runtime answers with a pong without waking the shard; the pong is
   * contact (the `contact` event, with the ping's send time). Returns whether the frame was sent.
   */
  ping(): boolean {
    if (this._state !== "open" || !this.transmit(JSON.stringify({ op: "ping" }))) {
      return false;
    }
    this.pings.push(this.clock.now());
    return true;
  }

  /** Tells the shard the node is alive, with its load (0..1). Returns whether the frame was sent. */
  heartbeat(load?: number): boolean {
    return this.sendNow(
      load === undefined ? { op: "heartbeat" } : { op: "heartbeat", load: Math.min(1, Math.max(0, load)) },
    );
  }

  /**
   * Asks for no more work: the shard pushes nothing more and closes the channel with 1000 once the
   * node holds nothing (`closed` then says `drained`). Returns whether the frame was sent.
   */
  drain(): boolean {
    if (this._state !== "open") {
      return false;
    }
    this.creditToSend = null;
    this.drainSent = true;
    return this.sendNow({ op: "drain" });
  }

  /** Closes the socket (code 1000 or 3000–4999). A close without `drain` starts the node's grace period. */
  close(code = 1000, reason = "closed by the node"): void {
    this.end(code, reason, true);
  }

  // ---- the socket ----

  private open(): void {
    const { options } = this;
    let socket: ChannelSocket;
    try {
      socket = (options.webSocket ?? globalWebSocket)(channelUrl(options.url, options.nodeId), {
        headers: { authorization: `Bearer ${options.token}` },
      });
    } catch (error) {
      const message = `cannot open the node channel: ${errorMessage(error)}`;
      this.end(1006, message, true, new ChannelError(message, null, { cause: error }));
      return;
    }
    this.socket = socket;
    socket.addEventListener("message", (event) => this.receive(event.data));
    socket.addEventListener("close", (event) => this.end(event.code, event.reason, false));
    // A refused upgrade fires only `error` (undici gives no status): the socket is over either way.
    socket.addEventListener("error", () => this.end(1006, "the socket failed", false));
  }

  private receive(data: unknown): void {
    if (typeof data !== "string") {
      this.log.warn("a binary frame from the shard was ignored (frames are JSON text)");
      return;
    }
    const frame = parseShardFrame(data);
    if ("invalid" in frame) {
      this.log.warn(`a malformed frame from the shard was ignored (${frame.invalid}): ${data.slice(0, 200)}`);
      return;
    }
    if (this._state === "connecting") {
      this.beforeWelcome(frame);
      return;
    }
    if (this._state !== "open") {
      return;
    }
    switch (frame.op) {
      case "welcome":
        this.log.warn("a second welcome from the shard was ignored");
        return;
      case "tasks":
        this.emit("tasks", frame.tasks, this.clock.now());
        return;
      case "leader":
        if (!this.answer(frame.ref, frame)) {
          this.emit("leader", frame);
        }
        return;
      case "pong": {
        // Pongs come back in the order of the pings (a pong nobody asked for proves nothing).
        const sentAt = this.pings.shift();
        if (sentAt !== undefined) {
          this.emit("contact", sentAt);
        }
        return;
      }
      case "error":
        if (!this.answer(frame.ref, frame)) {
          const error = channelError(frame.error);
          if (this.listeners.error.size === 0) {
            this.log.warn(`the shard refused a frame: ${error.message}`);
          }
          this.emit("error", error);
        }
        return;
      default:
        if (!this.answer(frame.ref, frame)) {
          this.log.warn(`an answer to no pending request was ignored (${frame.op} ${frame.ref})`);
        }
    }
  }

  private beforeWelcome(frame: ShardFrame): void {
    if (frame.op === "welcome") {
      this._welcome = frame;
      this._state = "open";
      const startedAt = this.connecting?.startedAt ?? this.clock.now();
      this.connecting?.welcome();
      this.emit("contact", startedAt);
    } else if (frame.op === "error") {
      const error = channelError(frame.error);
      this.end(1000, error.message.slice(0, 120), true, error);
    } else {
      this.log.warn(`a ${frame.op} frame before the welcome was ignored`);
    }
  }

  /** Settles the request `ref` with `frame` (an answer proves contact); false when none waits for it. */
  private answer(ref: string | undefined, frame: ShardFrame): boolean {
    const sentAt = ref === undefined ? null : this.requests.answer(ref, frame);
    if (sentAt !== null) {
      this.emit("contact", sentAt);
    }
    return sentAt !== null;
  }

  /** Sends a request with a fresh ref; resolves with the `expect` frame that answers it. */
  private async request<Op extends ShardFrame["op"]>(
    expect: Op,
    make: (ref: string) => NodeFrame,
  ): Promise<Extract<ShardFrame, { op: Op }>> {
    const ref = this.requests.nextRef();
    const frame = make(ref);
    if (this._state !== "open") {
      throw new TransportError(`${frame.op}: the node channel is not open`);
    }
    const text = JSON.stringify(frame);
    const bytes = text.length * 3 <= MAX_FRAME_BYTES ? text.length : utf8Bytes(text); // exact only near the limit
    if (bytes > MAX_FRAME_BYTES) {
      const message = `a ${frame.op} frame of ${bytes} bytes is over the ${MAX_FRAME_BYTES}-byte limit`;
      throw new MeridianError(413, { code: "payload_too_large", message });
    }
    const answer = this.requests.wait(ref, frame.op, expect);
    this.transmit(text); // a failed send closes the channel, which fails the wait
    return (await answer) as Extract<ShardFrame, { op: Op }>;
  }

  private sendNow(frame: NodeFrame): boolean {
    return this._state === "open" && this.transmit(JSON.stringify(frame));
  }

  private flushCredit(): void {
    this.creditTimer = null;
    const n = this.creditToSend;
    this.creditToSend = null;
    if (n !== null && !this.drainSent) {
      this.sendNow({ op: "credit", n });
    }
  }

  private transmit(text: string): boolean {
    try {
      this.socket!.send(text);
      return true;
    } catch (error) {
      this.end(1006, `a send failed: ${errorMessage(error)}`, true);
      return false;
    }
  }

  /** The socket is over: pending requests fail, `closed` resolves, a connect in progress rejects. */
  private end(code: number, reason: string, byNode: boolean, failure?: Error): void {
    if (this._state === "closed") {
      return;
    }
    const socket = this.socket;
    this._state = "closed";
    if (socket && socket.readyState < 2) {
      try {
        // The API accepts only 1000 and 3000–4999 from a client.
        socket.close(code === 1000 || (code >= 3000 && code <= 4999) ? code : 1000, reason.slice(0, 120));
      } catch {
        // already closing
      }
    }
    if (this.creditTimer !== null) {
      this.clock.clearTimer(this.creditTimer);
      this.creditTimer = null;
    }
    this.requests.failAll(`the node channel closed (${code}${reason ? ` ${reason}` : ""})`);
    this.connecting?.fail(
      failure ??
        new ChannelError(`the node channel could not be opened: ${reason || `closed ${code}`}`, code),
    );
    this.resolveClosed({ code, reason, byNode, drained: this.drainSent && !byNode && code === 1000 });
  }

  private emit<E extends keyof ChannelEvents>(event: E, ...args: Parameters<ChannelEvents[E]>): void {
    for (const listener of this.listeners[event]) {
      try {
        (listener as (...a: Parameters<ChannelEvents[E]>) => void)(...args);
      } catch (error) {
        this.log.error(`a ${event} listener threw: ${errorMessage(error)}`);
      }
    }
  }
}
