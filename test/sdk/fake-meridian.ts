/**
 * An in-memory stand-in for Meridian's node-facing API, served through a fake `fetch`, so the
 * agent can be tested without a network in milliseconds. It keeps just enough state (nodes, a
 * queue, leases, one election per name) and records every call; tests inject failures per route.
 * Leases and long polls run on `clock`, the same virtual clock the tests give the agent. Its node
 * channel (`channels`, `webSocket`) is in fake-channel.ts.
 */
import { FakeChannels } from "./fake-channel.ts";
import { ManualClock } from "./manual-clock.ts";

export interface Call {
  method: string;
  path: string;
  body: any;
  at: number;
}

interface FakeTask {
  id: string;
  type: string;
  payload: unknown;
  attempt: number;
  /** Lease length granted by poll. */
  leaseMs: number;
}

export interface Lease {
  task: FakeTask;
  nodeId: string;
  token: string;
  expiresAt: number;
}

export interface FakeNode {
  id: string;
  region: string;
  capacity: number;
  draining: boolean;
  dead: boolean;
  waiting: ((tasks: unknown[]) => void) | null;
  /** When its channel closed without a drain (its grace period runs), or null. */
  channelClosedAt: number | null;
}

/** An injected failure: a transport error (`"network"`) or an HTTP error with the contract's body. */
export type Fault = "network" | { status: number; code: string; reason?: string };

function json(status: number, body: unknown): Response {
  return new Response(body === undefined ? null : JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json" },
  });
}

function error(status: number, code: string, reason?: string): Response {
  return json(status, { error: { code, message: `${code}${reason ? ` (${reason})` : ""}`, reason } });
}

export class FakeMeridian {
  /** The time of the fake and of the agents that talk to it. */
  readonly clock: ManualClock;
  heartbeatIntervalMs = 40;
  deadAfterMs = 1000;
  readonly calls: Call[] = [];
  readonly nodes = new Map<string, FakeNode>();
  readonly queue: FakeTask[] = [];
  readonly leases = new Map<string, Lease>();
  /** Recorded outcomes, in order. */
  readonly outcomes: {
    id: string;
    outcome: "succeeded" | "failed";
    result?: unknown;
    error?: string;
    retryable?: boolean;
  }[] = [];
  readonly elections = new Map<string, { term: number; candidates: string[] }>();
  /** Faults to inject, consumed in order, by "METHOD /route" (e.g. "POST /v1/nodes"). */
  readonly faults = new Map<string, Fault[]>();
  /** The node channel's fake shard. */
  readonly channels: FakeChannels = new FakeChannels(this);
  /** The WebSocket factory to give the SDK. */
  readonly webSocket = this.channels.webSocket;
  private seq = 0;

  constructor(clock = new ManualClock()) {
    this.clock = clock;
  }

  /** The fake `fetch` to give the SDK. */
  readonly fetch: typeof fetch = async (input, init) => {
    const url = new URL(typeof input === "string" || input instanceof URL ? input : input.url);
    const method = init?.method ?? "GET";
    const body = typeof init?.body === "string" ? JSON.parse(init.body) : undefined;
    const path = url.pathname;
    this.calls.push({ method, path, body, at: this.clock.now() });
    await Promise.resolve();
    const fault = this.faults.get(`${method} ${route(path)}`)?.shift();
    if (fault === "network") {
      throw new TypeError("fetch failed", { cause: { code: "ECONNREFUSED" } });
    }
    if (fault) {
      return error(fault.status, fault.code, fault.reason);
    }
    return this.handle(method, path, body, init?.signal ?? undefined);
  };

  /** Adds a runnable task; a waiting poll gets it at once. */
  enqueue(type: string, payload: unknown = null, leaseMs = 30_000): string {
    const task = { id: `t_${++this.seq}`, type, payload, attempt: 0, leaseMs };
    this.queue.push(task);
    for (const node of this.nodes.values()) {
      if (node.waiting) {
        const tasks = this.lease(node, 100);
        if (tasks.length > 0) {
          const wake = node.waiting;
          node.waiting = null;
          wake(tasks);
        }
      }
    }
    this.channels.pushAll();
    return task.id;
  }

  /** Declares a node dead: its leases go back to the queue; its next calls get 409 node_dead. */
  kill(nodeId: string): void {
    const node = this.nodes.get(nodeId);
    if (node) {
      node.dead = true;
      node.waiting?.([]);
      node.waiting = null;
      this.reclaim(nodeId);
      this.channels.end(nodeId, 4001, "the node is dead");
      for (const name of this.elections.keys()) {
        this.leaveElection(name, nodeId);
      }
    }
  }

  /** Tasks leased to a node now. */
  heldBy(nodeId: string): number {
    return [...this.leases.values()].filter((l) => l.nodeId === nodeId).length;
  }

  /** A candidate joins (or stays in) an election; the term grows when the leader changes. */
  joinElection(name: string, candidate: string): void {
    this.changeElection(name, (candidates) =>
      candidates.includes(candidate) ? candidates : [...candidates, candidate],
    );
  }

  leaveElection(name: string, candidate: string): void {
    this.changeElection(name, (candidates) => candidates.filter((c) => c !== candidate));
  }

  private changeElection(name: string, change: (candidates: string[]) => string[]): void {
    const election = this.elections.get(name) ?? { term: 0, candidates: [] };
    this.elections.set(name, election);
    const before = election.candidates;
    election.candidates = change(before);
    if (election.candidates[0] !== before[0] && election.candidates[0] !== undefined) {
      election.term++;
    }
    if (election.candidates.join() !== before.join()) {
      this.channels.electionChanged(name);
    }
  }

  callsTo(method: string, routePattern: string): Call[] {
    return this.calls.filter((c) => c.method === method && route(c.path) === routePattern);
  }

  /** Moves the clock on until `probe` holds, or rejects after `ms` of virtual time. */
  until(what: string, probe: () => boolean, ms = 3000): Promise<void> {
    return this.clock.until(what, probe, ms);
  }

  /** Leases up to `max` queued tasks to a node with room. */
  lease(node: FakeNode, max: number): any[] {
    const room = Math.min(max, node.capacity - this.heldBy(node.id));
    const out: any[] = [];
    while (out.length < room && this.queue.length > 0) {
      const task = this.queue.shift()!;
      task.attempt++;
      const lease = {
        task,
        nodeId: node.id,
        token: `l_${++this.seq}`,
        expiresAt: this.clock.now() + task.leaseMs,
      };
      this.leases.set(task.id, lease);
      out.push({
        id: task.id,
        type: task.type,
        payload: task.payload,
        attempt: task.attempt,
        leaseToken: lease.token,
        leaseExpiresAt: lease.expiresAt,
      });
    }
    return out;
  }

  private reclaim(nodeId: string): void {
    for (const [id, lease] of this.leases) {
      if (lease.nodeId === nodeId) {
        this.leases.delete(id);
        this.queue.push(lease.task);
      }
    }
  }

  /** The lease a call presents, or the 409 to answer. */
  checkLease(id: string, token: string): Lease | Response {
    const lease = this.leases.get(id);
    if (lease?.token === token && lease.expiresAt > this.clock.now()) {
      return lease;
    }
    if (this.outcomes.some((o) => o.id === id && o.outcome === "succeeded")) {
      return error(409, "conflict", "already_terminal");
    }
    return error(409, "conflict", "lease_lost");
  }

  /** Records an outcome; returns the task's new status. */
  record(
    lease: Lease,
    item: { outcome: "succeeded" | "failed"; result?: unknown; error?: string; retryable?: boolean },
  ): string {
    this.leases.delete(lease.task.id);
    this.outcomes.push({ id: lease.task.id, ...item });
    if (item.outcome === "failed" && item.retryable !== false) {
      return "scheduled";
    }
    return item.outcome;
  }

  private async handle(method: string, path: string, body: any, signal?: AbortSignal): Promise<Response> {
    const parts = path.split("/").filter(Boolean); // v1, resource, id, action
    const [, resource, rawId, action] = parts;
    const id = rawId === undefined ? undefined : decodeURIComponent(rawId);
    const node = id === undefined ? undefined : this.nodes.get(id);
    if (resource === "nodes" && method === "POST" && id === undefined) {
      const created: FakeNode = {
        id: `node-${++this.seq}`,
        region: body.region,
        capacity: body.capacity,
        draining: false,
        dead: false,
        waiting: null,
        channelClosedAt: null,
      };
      this.nodes.set(created.id, created);
      return json(201, {
        id: created.id,
        region: created.region,
        heartbeatIntervalMs: this.heartbeatIntervalMs,
        deadAfterMs: this.deadAfterMs,
      });
    }
    if (resource === "nodes" && id !== undefined) {
      if (!node) {
        return error(404, "not_found");
      }
      if (method === "DELETE") {
        node.waiting?.([]);
        this.reclaim(node.id);
        this.channels.end(node.id, 4001, "deregistered");
        this.nodes.delete(node.id);
        return new Response(null, { status: 204 });
      }
      if (node.dead) {
        return error(409, "conflict", "node_dead");
      }
      if (action === "heartbeat") {
        return json(200, { status: node.draining ? "draining" : "healthy" });
      }
      if (action === "drain") {
        node.draining = true;
        node.waiting?.([]);
        node.waiting = null;
        return json(200, { status: "draining" });
      }
      if (action === "poll") {
        const tasks = node.draining ? [] : this.lease(node, body.max ?? 1);
        if (tasks.length > 0 || !body.waitMs || node.draining) {
          return json(200, { tasks });
        }
        const waited = await new Promise<unknown[]>((resolve) => {
          const timer = this.clock.setTimer(() => {
            node.waiting = null;
            resolve([]);
          }, body.waitMs);
          node.waiting = (t) => {
            this.clock.clearTimer(timer);
            resolve(t);
          };
          signal?.addEventListener("abort", () => {
            this.clock.clearTimer(timer);
            node.waiting = null;
            resolve([]);
          });
        });
        signal?.throwIfAborted();
        return json(200, { tasks: waited });
      }
      if (action === "report") {
        const results = (body.reports as any[]).map((r) => {
          const lease = this.checkLease(r.id, r.leaseToken);
          if (lease instanceof Response) {
            return { id: r.id, error: { code: "conflict", reason: "lease_lost", message: "lease lost" } };
          }
          return { id: r.id, status: this.record(lease, r) };
        });
        return json(200, { results });
      }
    }
    if (resource === "tasks" && id !== undefined && method === "POST") {
      const lease = this.checkLease(id, body.leaseToken);
      if (lease instanceof Response) {
        return lease;
      }
      if (action === "complete") {
        return json(200, { status: this.record(lease, { outcome: "succeeded", result: body.result }) });
      }
      if (action === "fail") {
        const status = this.record(lease, {
          outcome: "failed",
          error: body.error,
          retryable: body.retryable,
        });
        return json(200, { status });
      }
      if (action === "extend") {
        lease.expiresAt = Math.max(lease.expiresAt, this.clock.now() + body.extendMs);
        return json(200, { leaseExpiresAt: lease.expiresAt });
      }
    }
    if (resource === "elections" && id !== undefined) {
      if (action === "resign") {
        this.leaveElection(id, body.candidate);
        return json(200, { resigned: true });
      }
      if (action === "campaign") {
        this.joinElection(id, body.candidate);
      }
      const election = this.elections.get(id) ?? { term: 0, candidates: [] };
      const leader = election.candidates[0];
      const position = election.candidates.indexOf(body.candidate);
      return json(200, {
        isLeader: position === 0,
        position,
        leader: leader
          ? { candidate: leader, term: election.term, since: 0, expiresAt: this.clock.now() + 10_000 }
          : null,
      });
    }
    return error(404, "not_found", `no fake route ${method} ${path}`);
  }
}

/** A path with its ids replaced: /v1/nodes/node-3/poll → /v1/nodes/:id/poll. */
function route(path: string): string {
  return path
    .split("/")
    .map((part, i) => (i === 3 ? ":id" : part))
    .join("/");
}
