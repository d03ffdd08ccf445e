import { SETTINGS } from "../../src/core/config";
import { ApiError } from "../../src/core/errors";
import type { Principal } from "../../src/core/permissions";
import { openWindow, SocketMeter, type SocketWindow } from "../../src/core/socket-meter";
import type { LeasedTask } from "../../src/core/task-commands";
import { scopedName, splitScoped } from "../../src/core/tenant-names";
import { MAX_NODE_FRAME_BYTES, type NodeFrame } from "../../src/schemas/channel";
import type { ElectionPush } from "../messages";
import { errorFrame, leaderFrame, oversized, parseFrame, refOf, send } from "./channel-frames";
import type { NodeRecord } from "./node-table";
import type { ShardEngine } from "./shard-engine";
import { nodeUp } from "./shard-events";

/** Frames a socket may send per second before they are refused (each refusal is a strike): the default of SOCKET_FRAMES_PER_SEC. */
export const CHANNEL_FRAMES_PER_SEC = SETTINGS.SOCKET_FRAMES_PER_SEC.default;
/** Strikes (malformed, oversized or over-rate frames) after which the socket is closed with 1008: the default of SOCKET_MAX_STRIKES. */
export const CHANNEL_MAX_STRIKES = SETTINGS.SOCKET_MAX_STRIKES.default;
/** Open channels per token in one shard. */
export const CHANNELS_PER_TOKEN = 1000;

/** What a socket remembers across hibernation (its attachment); its frame counts are the meter's window. */
export interface SocketState extends SocketWindow {
  nodeId: string;
  tokenId: string;
  /** Tasks the node said it can take more of; lowered by each push. */
  credit: number;
  /** The node sent `drain`: nothing more is pushed, the socket closes (1000) when it holds nothing. */
  draining: boolean;
  /** Elections the node campaigns in or observes: their changes are pushed as `leader` frames. */
  elections: string[];
}

/** Elections one socket may follow. */
export const CHANNEL_MAX_ELECTIONS = 64;

const nodeTag = (nodeId: string) => `node:${nodeId}`;

/** A change as a node is shown it: its election by name, never by the stored key (another tenant's is `tenant/name`). */
const shown = (change: ElectionPush): ElectionPush => ({
  ...change,
  election: splitScoped(change.election).name,
});
const tokenTag = (tokenId: string) => `token:${tokenId}`;
const tenantTag = (tenant: string) => `tenant:${tenant}`;

/**
 * A shard's node channels (API-v2 §4): one hibernatable WebSocket per node. The socket's state
 * lives in its attachment, the node's in the node table, so an evicted shard serves the next frame
 * from storage. Runnable work is pushed while the node has credit; a socket that closes without a
 * drain starts the node's grace period, after which the node is dead.
 */
export class Channels {
  /** Frames a second per socket (in its attachment), per token and per shard (in memory). */
  private readonly meter: SocketMeter;

  constructor(
    private readonly ctx: DurableObjectState,
    private readonly s: ShardEngine,
  ) {
    this.meter = new SocketMeter(s.deps.config.sockets);
  }

  /** Re-offers the credit of every open socket (the object started again, e.g. after hibernation). */
  restore(now: number): void {
    for (const ws of this.ctx.getWebSockets()) {
      const state = ws.deserializeAttachment() as SocketState | null;
      const node = state ? this.s.nodes.nodes.get(state.nodeId) : undefined;
      if (state && node && !node.dead && !state.draining && state.credit > 0) {
        this.s.scheduler.offerCredit(node, state.credit, this.pusher(ws), now);
      }
    }
  }

  /**
   * Pings the runtime answered without waking the shard still count as contact: each socket's last
   * one moves its node's last sign of life forward (read before the reaper judges the nodes).
   */
  noteAutoResponses(): void {
    for (const ws of this.ctx.getWebSockets()) {
      const at = this.ctx.getWebSocketAutoResponseTimestamp(ws)?.getTime();
      const state = ws.deserializeAttachment() as SocketState | null;
      const node = state ? this.s.nodes.nodes.get(state.nodeId) : undefined;
      if (at !== undefined && node && !node.dead && at > node.lastSeenAt) {
        this.s.nodes.touch(node, at);
      }
    }
  }

  /** The node's open socket, if any (one the shard closed itself may still be listed while it closes). */
  socketOf(nodeId: string): WebSocket | undefined {
    return this.ctx.getWebSockets(nodeTag(nodeId)).find((ws) => ws.deserializeAttachment() !== null);
  }

  /**
   * Opens a node's channel (the caller has checked the node is the principal's and alive). A socket
   * already open for the node is replaced. `resumed`: the node comes back within its grace period.
   */
  accept(principal: Principal, node: NodeRecord, now: number): Response {
    if (this.ctx.getWebSockets(tokenTag(principal.tokenId)).length >= CHANNELS_PER_TOKEN) {
      throw ApiError.of("rate_limited", `a token may hold ${CHANNELS_PER_TOKEN} channels in a region`);
    }
    const previous = this.socketOf(node.id);
    // Counted as the token's are, closing sockets included, but not the node's own socket this one
    // replaces (a node reconnecting at the quota keeps its channel). A socket opened before tenants
    // were counted has no tenant tag: it counts once its node reconnects.
    const quota = this.s.deps.config.tenants.maxChannels;
    const held = this.ctx.getWebSockets(tenantTag(node.tenant)).filter((ws) => ws !== previous).length;
    if (held >= quota) {
      throw ApiError.of(
        "conflict",
        `tenant ${node.tenant} holds ${quota} node channels in this region (TENANT_MAX_CHANNELS)`,
        "quota_exceeded",
      );
    }
    if (previous) {
      this.detach(previous);
      previous.close(4000, "replaced by a newer channel of the node");
    }
    const resumed = node.channelClosedAt !== null || previous !== undefined;
    if (node.channelClosedAt !== null) {
      this.s.nodes.setChannelClosed(node, null);
    }
    const pair = new WebSocketPair();
    const [client, server] = [pair[0], pair[1]];
    this.ctx.acceptWebSocket(server, [nodeTag(node.id), tokenTag(principal.tokenId), tenantTag(node.tenant)]);
    const state: SocketState = {
      nodeId: node.id,
      tokenId: principal.tokenId,
      credit: 0,
      draining: false,
      ...openWindow(now),
      elections: [],
    };
    server.serializeAttachment(state);
    this.s.events.record(nodeUp(node, "channel", now));
    send(server, {
      op: "welcome",
      nodeId: node.id,
      region: node.region,
      heartbeatIntervalMs: this.s.deps.config.heartbeatIntervalMs,
      graceMs: this.s.deps.config.channelGraceMs,
      resumed,
    });
    return new Response(null, { status: 101, webSocket: client });
  }

  /**
   * One frame from a node. Oversized, malformed or over-rate frames get an `error` frame and a
   * strike (the socket closes with 1008 at CHANNEL_MAX_STRIKES); a refused request gets an `error`
   * frame with its ref. Every frame counts as contact.
   */
  async message(
    ws: WebSocket,
    data: string | ArrayBuffer,
    now: number,
    act: (node: NodeRecord) => NodeRecord,
  ): Promise<void> {
    const state = ws.deserializeAttachment() as SocketState | null;
    if (state === null) {
      return; // in flight when the shard closed the socket itself (abuse, revocation, replaced): dropped
    }
    // Length in UTF-16 units, at most the UTF-8 bytes: cheap, and the size limit below is exact.
    const length = typeof data === "string" ? data.length : data.byteLength;
    let abuse = this.meter.admit(state, state.tokenId, length, now);
    ws.serializeAttachment(state);
    let frame: NodeFrame | null = null;
    if (abuse === null && (typeof data !== "string" || oversized(data))) {
      abuse =
        typeof data !== "string"
          ? "frames are JSON text"
          : `a frame is at most ${MAX_NODE_FRAME_BYTES} bytes`;
    } else if (abuse === null && typeof data === "string") {
      frame = parseFrame(data);
      if (frame === null) {
        abuse = "not a frame of the node channel (see API-v2 §4)";
      }
    }
    if (abuse !== null || frame === null) {
      const spent = this.meter.strike(state);
      ws.serializeAttachment(state);
      send(ws, errorFrame(ApiError.of("invalid_request", abuse ?? "invalid frame").body, refOf(data)));
      if (spent) {
        this.closeForAbuse(ws, state, now);
      }
      return;
    }
    const node = this.s.nodes.nodes.get(state.nodeId);
    try {
      if (!node) {
        throw ApiError.of("not_found", `no node ${state.nodeId}`);
      }
      act(node);
      const wasSuspect = this.s.nodes.statusOf(node, now) === "suspect";
      this.s.nodes.touch(node, now, frame.op === "heartbeat" ? frame.load : undefined);
      const later = this.handle(ws, state, node, frame, now);
      if (wasSuspect) {
        // Dispatch skipped the node while it was suspect: work queued meanwhile goes to its credit
        // now (as an HTTP heartbeat does; RELIABILITY.md bugs 6, 15) — after the frame, so a credit
        // frame's new credit is the one the pushes use.
        this.s.scheduler.dispatch(now);
      }
      // Saved before any await, and not after it: a frame handled meanwhile saves its own changes.
      // Not at all when the frame closed the socket (drained): its frames still in flight must
      // find it detached, not handled as a live session's.
      if (ws.deserializeAttachment() !== null) {
        // The credit as the pushes made during the frame left it (they lowered the saved copy, not this one).
        state.credit = this.s.scheduler.creditOf(state.nodeId);
        ws.serializeAttachment(state);
      }
      await later;
    } catch (error) {
      if (!(error instanceof ApiError)) {
        throw error;
      }
      send(ws, errorFrame(error.body, "ref" in frame ? frame.ref : undefined));
      // Only the node's own end closes the socket: a refusal about a task it names (an extend of
      // an unknown id: not_found; lease_lost) is a refused request like any other.
      if (!node || node.dead || error.body.reason === "node_dead") {
        this.detach(ws);
        ws.close(4001, error.body.message.slice(0, 120));
      }
    }
  }

  /** Applies one valid frame; election frames return the promise of their round trip to the coordinator. */
  private handle(
    ws: WebSocket,
    state: SocketState,
    node: NodeRecord,
    frame: NodeFrame,
    now: number,
  ): Promise<void> | undefined {
    const s = this.s;
    switch (frame.op) {
      case "heartbeat":
        return;
      case "ping":
        send(ws, { op: "pong" });
        return;
      case "credit":
        if (!state.draining) {
          state.credit = Math.max(0, Math.min(frame.n, node.capacity - node.inFlight));
          s.scheduler.offerCredit(node, state.credit, this.pusher(ws), now);
        }
        return;
      case "report": {
        const results = frame.reports.map((r) => {
          try {
            const task = s.access.leaseOwner(
              { role: "node", tokenId: state.tokenId, tenant: node.tenant },
              r.id,
              r.leaseToken,
              now,
            );
            const status =
              r.outcome === "succeeded"
                ? s.scheduler.complete(task, r.leaseToken, r.result, now)
                : s.scheduler.fail(task, r.leaseToken, r.error ?? "failed", r.retryable ?? true, now).status;
            return { id: r.id, ok: true as const, status };
          } catch (error) {
            if (error instanceof ApiError) {
              const { code, message, reason } = error.body;
              return {
                id: r.id,
                ok: false as const,
                error: reason ? { code, message, reason } : { code, message },
              };
            }
            throw error;
          }
        });
        send(ws, { op: "reported", ref: frame.ref, results });
        this.closeIfDrained(ws, state, node);
        return;
      }
      case "extend": {
        const task = s.access.leaseOwner(
          { role: "node", tokenId: state.tokenId, tenant: node.tenant },
          frame.id,
          frame.leaseToken,
          now,
        );
        const leaseExpiresAt = s.scheduler.extend(task, frame.leaseToken, frame.extendMs, now);
        send(ws, { op: "extended", ref: frame.ref, leaseExpiresAt });
        return;
      }
      case "drain":
        state.draining = true;
        state.credit = 0;
        s.drain(node, now);
        this.closeIfDrained(ws, state, node);
        return;
      case "campaign":
      case "observe": {
        const config = s.config;
        if (config === null) {
          throw ApiError.of("not_found", "no such region");
        }
        // Followed by stored key (what the coordinator pushes); frames show the name.
        this.follow(state, scopedName(node.tenant, frame.election));
        const watcher = { deployment: config.deployment, region: config.region };
        const link = s.deps.elections(config.deployment);
        const ref = frame.op === "campaign" ? frame.ref : undefined;
        return (
          frame.op === "campaign"
            ? link.campaign(node.id, state.tokenId, node.tenant, frame.election, watcher)
            : link.observe(node.tenant, frame.election, watcher)
        ).then((change) => send(ws, leaderFrame(node.id, shown(change), ref)));
      }
      case "resign": {
        const config = s.config;
        if (config === null) {
          throw ApiError.of("not_found", "no such region");
        }
        return s.deps
          .elections(config.deployment)
          .resign(node.id, state.tokenId, node.tenant, frame.election)
          .then(() => send(ws, { op: "resigned", ref: frame.ref }));
      }
    }
  }

  /** Follows an election's changes (at most CHANNEL_MAX_ELECTIONS per socket). */
  private follow(state: SocketState, election: string): void {
    if (!state.elections.includes(election)) {
      if (state.elections.length >= CHANNEL_MAX_ELECTIONS) {
        throw ApiError.of("invalid_request", `a channel follows at most ${CHANNEL_MAX_ELECTIONS} elections`);
      }
      state.elections.push(election);
    }
  }

  /** A change of an election some of this shard's channel nodes follow: a `leader` frame to each. */
  electionChanged(change: ElectionPush): void {
    for (const ws of this.ctx.getWebSockets()) {
      const state = ws.deserializeAttachment() as SocketState | null;
      if (state?.elections.includes(change.election)) {
        send(ws, leaderFrame(state.nodeId, shown(change), undefined));
      }
    }
  }

  /** Pushes leased tasks to a socket; each push lowers its credit (kept in the attachment). */
  private pusher(ws: WebSocket): (tasks: LeasedTask[]) => void {
    return (tasks) => {
      const state = ws.deserializeAttachment() as SocketState | null;
      if (state) {
        state.credit = Math.max(0, state.credit - tasks.length);
        ws.serializeAttachment(state);
      }
      send(ws, { op: "tasks", tasks });
    };
  }

  /** A draining node that holds nothing more: its channel closes cleanly. */
  private closeIfDrained(ws: WebSocket, state: SocketState, node: NodeRecord): void {
    if (state.draining && node.inFlight === 0) {
      this.detach(ws);
      ws.close(1000, "drained");
    }
  }

  /** Stops pushing to a socket the shard is about to close itself (no grace period follows). */
  private detach(ws: WebSocket): void {
    const state = ws.deserializeAttachment() as SocketState | null;
    if (state) {
      this.s.scheduler.closeChannel(state.nodeId);
      ws.serializeAttachment(null);
    }
  }

  /**
   * A socket closed (or failed). Unless the shard closed it itself (drained, replaced, dead, abuse),
   * the node's grace period starts: it may reconnect and resume until CHANNEL_GRACE_MS has passed;
   * then the reaper declares it dead.
   */
  closed(ws: WebSocket, now: number): void {
    const state = ws.deserializeAttachment() as SocketState | null;
    if (state === null) {
      return; // closed by the shard: nothing follows
    }
    ws.serializeAttachment(null);
    const current = this.socketOf(state.nodeId);
    if (current !== undefined && current !== ws) {
      return; // the close of an older socket, seen after the node reconnected: the new session goes on
    }
    this.s.scheduler.closeChannel(state.nodeId);
    this.startGrace(state, now);
  }

  /**
   * Too many refused frames: the socket closes with 1008. Detached first, so that its close event,
   * which may come after the node has reconnected, cannot end the new session; the grace period
   * starts now instead, as for any close without a drain.
   */
  private closeForAbuse(ws: WebSocket, state: SocketState, now: number): void {
    this.detach(ws);
    ws.close(1008, "too many refused frames");
    this.startGrace(state, now);
  }

  /** The node's channel closed without a drain: it may reconnect within CHANNEL_GRACE_MS and keep its leases. */
  private startGrace(state: SocketState, now: number): void {
    const node = this.s.nodes.nodes.get(state.nodeId);
    if (!node || node.dead || (state.draining && node.inFlight === 0)) {
      return;
    }
    this.s.nodes.setChannelClosed(node, now);
    this.s.dueAt(now + this.s.deps.config.channelGraceMs);
  }

  /** Closes every socket opened with a revoked token (1008), detached: no grace period follows. */
  revoke(tokenId: string): void {
    for (const ws of this.ctx.getWebSockets(tokenTag(tokenId))) {
      if (ws.deserializeAttachment() !== null) {
        this.detach(ws);
        ws.close(1008, "token revoked");
      }
    }
  }

  /** Closes a node's socket because the node is gone (dead, deregistered). */
  end(nodeId: string, reason: string): void {
    const ws = this.socketOf(nodeId);
    if (ws) {
      this.detach(ws);
      ws.close(4001, reason.slice(0, 120));
    }
  }
}
