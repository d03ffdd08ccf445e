/**
 * The node channel of the fake Meridian (API-v2 §4): an in-memory WebSocket and a fake shard that
 * serves it from FakeMeridian's state (nodes, queue, leases, elections). Every frame the SDK sends is
 * checked against the real `NodeFrame` schema; tests break sockets, refuse upgrades and inject
 * faults per op. Delivery is by microtask, so it runs in the virtual clock's turns.
 */
import { NodeFrame } from "../../src/schemas/channel.ts";
import type { ChannelSocket, WebSocketFactory } from "../../src/sdk/channel-socket.ts";
import type { FakeMeridian } from "./fake-meridian.ts";

type Listener = (event: any) => void;

/** A WebSocket in memory: each side's sends reach the other in a later microtask. */
export class FakeSocket implements ChannelSocket {
  readyState = 0;
  /** The server side's handlers. */
  onFrame: (data: string) => void = () => {};
  onClientClose: (code: number, reason: string) => void = () => {};
  private readonly listeners = new Map<string, Listener[]>();

  constructor(
    readonly url: string,
    readonly headers: Record<string, string>,
  ) {}

  addEventListener(type: string, listener: Listener): void {
    this.listeners.set(type, [...(this.listeners.get(type) ?? []), listener]);
  }

  send(data: string): void {
    if (this.readyState !== 1) {
      throw new Error("InvalidStateError: the socket is not open");
    }
    queueMicrotask(() => this.onFrame(data));
  }

  close(code = 1000, reason = ""): void {
    if (this.readyState >= 2) {
      return;
    }
    this.readyState = 2;
    queueMicrotask(() => {
      this.onClientClose(code, reason);
      this.finish(code, reason);
    });
  }

  // ---- the server's side ----

  accept(): void {
    this.readyState = 1;
    queueMicrotask(() => this.emit("open", {}));
  }

  deliver(data: string | ArrayBuffer): void {
    queueMicrotask(() => {
      if (this.readyState === 1) {
        this.emit("message", { data });
      }
    });
  }

  /** The upgrade is refused (or no connection): only `error` fires, as with undici. */
  refuse(): void {
    queueMicrotask(() => {
      this.readyState = 3;
      this.emit("error", { message: "Received network error or non-101 status code." });
    });
  }

  /** The server closes it (or the connection breaks). */
  drop(code: number, reason: string): void {
    queueMicrotask(() => this.finish(code, reason));
  }

  private finish(code: number, reason: string): void {
    if (this.readyState === 3) {
      return;
    }
    this.readyState = 3;
    this.emit("close", { code, reason });
  }

  private emit(type: string, event: unknown): void {
    for (const listener of this.listeners.get(type) ?? []) {
      listener(event);
    }
  }
}

/** A fault to inject for an op: no answer, the socket breaks instead, or an error frame. */
export type ChannelFault = "silence" | "break" | { code: string; reason?: string };

interface Conn {
  nodeId: string;
  socket: FakeSocket;
  credit: number;
  draining: boolean;
  /** Elections this socket campaigns in or observes. */
  elections: Set<string>;
}

export class FakeChannels {
  /** false: the server has no channel (the upgrade is answered 404, as a server without issue 10 does). */
  supported = true;
  /** What a dead node's upgrade gets: refused (409, as the route does) or a welcome with `resumed: false`. */
  deadUpgrade: "refuse" | "welcome" = "refuse";
  /** How many upgrades to refuse next, whatever the node (no connection). */
  refuseNext = 0;
  /** CHANNEL_GRACE_MS; default: the heartbeat interval. */
  graceMs: number | null = null;
  /** false: campaign / resign / observe are answered `not_supported`. */
  electionsSupported = true;
  readonly upgrades: { nodeId: string; at: number; url: string; authorization?: string }[] = [];
  /** Every valid frame nodes sent, in order. */
  readonly frames: { nodeId: string; frame: NodeFrame; at: number }[] = [];
  /** Frames the shard would refuse (the SDK sent something off-protocol). */
  readonly invalid: string[] = [];
  /** Faults per op, consumed in order. */
  readonly faults = new Map<string, ChannelFault[]>();
  readonly sockets: FakeSocket[] = [];
  /** How channels ended: closed by the shard, by the node, or broken. */
  readonly closes: { nodeId: string; code: number; by: "shard" | "node" | "network"; at: number }[] = [];
  private readonly open = new Map<string, Conn>();

  constructor(private readonly fake: FakeMeridian) {}

  /** The factory to give the SDK (`webSocket`). */
  readonly webSocket: WebSocketFactory = (url, init) => {
    const socket = new FakeSocket(url, init.headers);
    this.sockets.push(socket);
    const nodeId = decodeURIComponent(new URL(url).pathname.split("/")[3] ?? "");
    this.upgrades.push({ nodeId, at: this.fake.clock.now(), url, authorization: init.headers.authorization });
    const node = this.fake.nodes.get(nodeId);
    const refused =
      !this.supported || this.refuseNext > 0 || init.headers.authorization !== "Bearer node-token";
    if (this.refuseNext > 0) {
      this.refuseNext--;
    }
    if (refused || !node || (node.dead && this.deadUpgrade === "refuse")) {
      socket.refuse();
      return socket;
    }
    const previous = this.open.get(nodeId);
    if (previous) {
      previous.socket.drop(4000, "replaced by a newer channel of the node");
    }
    const resumed = !node.dead && (node.channelClosedAt !== null || previous !== undefined);
    node.channelClosedAt = null;
    const conn: Conn = { nodeId, socket, credit: 0, draining: false, elections: new Set() };
    socket.onFrame = (data) => this.receive(conn, data);
    socket.onClientClose = (code) => {
      if (this.open.get(nodeId) === conn) {
        this.closes.push({ nodeId, code, by: "node", at: this.fake.clock.now() });
      }
      this.lost(conn);
    };
    this.open.set(nodeId, conn);
    socket.accept();
    this.send(conn, {
      op: "welcome",
      nodeId,
      region: node.region,
      heartbeatIntervalMs: this.fake.heartbeatIntervalMs,
      graceMs: this.graceMs ?? this.fake.heartbeatIntervalMs,
      resumed,
    });
    return socket;
  };

  /** Frames of one op (all nodes unless given). */
  sent(op: string, nodeId?: string): { nodeId: string; frame: any; at: number }[] {
    return this.frames.filter((f) => f.frame.op === op && (nodeId === undefined || f.nodeId === nodeId));
  }

  /** Whether the node has an open channel. */
  isOpen(nodeId: string): boolean {
    return this.open.has(nodeId);
  }

  /** The connection breaks (both sides see it close); the node's grace period starts. */
  breakChannel(nodeId: string, code = 1006): void {
    const conn = this.open.get(nodeId);
    if (conn) {
      this.closes.push({ nodeId, code, by: "network", at: this.fake.clock.now() });
      this.lost(conn);
      conn.socket.drop(code, "connection lost");
    }
  }

  /**
   * The shard closes the node's channel: on purpose when the node is done with (drained, dead,
   * deregistered: no grace period follows), or with `grace` (e.g. 1008 for abuse: the node may resume).
   */
  end(nodeId: string, code: number, reason: string, options: { grace?: boolean } = {}): void {
    const conn = this.open.get(nodeId);
    if (conn) {
      this.closes.push({ nodeId, code, by: "shard", at: this.fake.clock.now() });
      if (options.grace) {
        this.lost(conn);
      }
      this.open.delete(nodeId);
      conn.socket.drop(code, reason);
    }
  }

  /** Sends raw text (or binary) to the node, as a broken shard might. */
  sendRaw(nodeId: string, data: string | ArrayBuffer): void {
    this.open.get(nodeId)?.socket.deliver(data);
  }

  /** Pushes runnable work to every node with credit. */
  pushAll(): void {
    for (const conn of this.open.values()) {
      this.push(conn);
    }
  }

  /** An election's candidates changed: every socket that follows it hears. */
  electionChanged(name: string): void {
    for (const conn of this.open.values()) {
      if (conn.elections.has(name)) {
        this.send(conn, this.leaderFrame(conn.nodeId, name));
      }
    }
  }

  private receive(conn: Conn, data: string): void {
    if (this.open.get(conn.nodeId) !== conn) {
      return;
    }
    let parsed: ReturnType<typeof NodeFrame.safeParse>;
    try {
      parsed = NodeFrame.safeParse(JSON.parse(data));
    } catch {
      parsed = { success: false } as ReturnType<typeof NodeFrame.safeParse>;
    }
    if (!parsed.success) {
      this.invalid.push(data);
      this.send(conn, { op: "error", error: { code: "invalid_request", message: "not a frame" } });
      return;
    }
    const frame = parsed.data;
    const { fake } = this;
    this.frames.push({ nodeId: conn.nodeId, frame, at: fake.clock.now() });
    const ref = "ref" in frame ? frame.ref : undefined;
    if (frame.op === "ping") {
      // The runtime's auto-response: answered while the socket is open, whatever the node's state.
      this.send(conn, { op: "pong" });
      return;
    }
    const node = fake.nodes.get(conn.nodeId);
    if (!node || node.dead) {
      this.send(conn, {
        op: "error",
        ref,
        error: { code: "conflict", message: "dead", reason: "node_dead" },
      });
      this.end(conn.nodeId, 4001, "the node is dead");
      return;
    }
    const fault = this.faults.get(frame.op)?.shift();
    if (fault === "silence") {
      return;
    }
    if (fault === "break") {
      this.breakChannel(conn.nodeId);
      return;
    }
    if (fault) {
      this.send(conn, { op: "error", ref, error: { message: fault.code, ...fault } });
      return;
    }
    switch (frame.op) {
      case "credit":
        if (!conn.draining) {
          conn.credit = Math.max(0, Math.min(frame.n, node.capacity - fake.heldBy(node.id)));
          this.push(conn);
        }
        return;
      case "report": {
        const results = frame.reports.map((r) => {
          const lease = fake.checkLease(r.id, r.leaseToken);
          if (lease instanceof Response) {
            return {
              id: r.id,
              ok: false,
              error: { code: "conflict", message: "lease lost", reason: "lease_lost" },
            };
          }
          return { id: r.id, ok: true, status: fake.record(lease, r) };
        });
        this.send(conn, { op: "reported", ref: frame.ref, results });
        this.closeIfDrained(conn);
        return;
      }
      case "extend": {
        const lease = fake.checkLease(frame.id, frame.leaseToken);
        if (lease instanceof Response) {
          const error = { code: "conflict", message: "lease lost", reason: "lease_lost" };
          this.send(conn, { op: "error", ref: frame.ref, error });
          return;
        }
        lease.expiresAt = Math.max(lease.expiresAt, fake.clock.now() + frame.extendMs);
        this.send(conn, { op: "extended", ref: frame.ref, leaseExpiresAt: lease.expiresAt });
        return;
      }
      case "campaign":
      case "resign":
      case "observe":
        if (!this.electionsSupported) {
          const error = { code: "invalid_request", message: "not served yet", reason: "not_supported" };
          this.send(conn, { op: "error", ref, error });
          return;
        }
        if (frame.op === "resign") {
          conn.elections.delete(frame.election);
          fake.leaveElection(frame.election, conn.nodeId);
          this.send(conn, { op: "resigned", ref: frame.ref });
          return;
        }
        conn.elections.add(frame.election);
        if (frame.op === "campaign") {
          fake.joinElection(frame.election, conn.nodeId);
          this.send(conn, { ...this.leaderFrame(conn.nodeId, frame.election), ref: frame.ref });
        }
        return;
      case "drain":
        conn.draining = true;
        conn.credit = 0;
        node.draining = true;
        this.closeIfDrained(conn);
        return;
      case "heartbeat":
        return;
    }
  }

  private push(conn: Conn): void {
    const node = this.fake.nodes.get(conn.nodeId);
    if (!node || node.dead || node.draining || conn.draining || conn.credit <= 0) {
      return;
    }
    const tasks = this.fake.lease(node, conn.credit);
    if (tasks.length > 0) {
      conn.credit -= tasks.length;
      this.send(conn, { op: "tasks", tasks });
    }
  }

  private leaderFrame(nodeId: string, name: string) {
    const election = this.fake.elections.get(name) ?? { term: 0, candidates: [] };
    const position = election.candidates.indexOf(nodeId);
    return {
      op: "leader",
      election: name,
      leader: election.candidates[0] ?? null,
      term: election.term,
      isLeader: position === 0,
      position: position < 0 ? null : position,
    };
  }

  private closeIfDrained(conn: Conn): void {
    if (conn.draining && this.fake.heldBy(conn.nodeId) === 0) {
      this.end(conn.nodeId, 1000, "drained");
    }
  }

  /** The socket closed without the shard closing it: the node's grace period starts. */
  private lost(conn: Conn): void {
    if (this.open.get(conn.nodeId) !== conn) {
      return;
    }
    this.open.delete(conn.nodeId);
    const node = this.fake.nodes.get(conn.nodeId);
    if (!node || node.dead || (conn.draining && this.fake.heldBy(node.id) === 0)) {
      return;
    }
    const closedAt = this.fake.clock.now();
    node.channelClosedAt = closedAt;
    this.fake.clock.setTimer(() => {
      if (node.channelClosedAt === closedAt && !node.dead) {
        this.fake.kill(node.id);
      }
    }, this.graceMs ?? this.fake.heartbeatIntervalMs);
  }

  private send(conn: Conn, frame: object): void {
    conn.socket.deliver(JSON.stringify(frame));
  }
}
