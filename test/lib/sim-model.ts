/**
 * The reference model for the coordinator simulation: plain maps and arrays, written from the API
 * contract (docs/RELIABILITY.md lists the rules it encodes), not from the coordinator's code. The
 * simulation applies every operation to it and to the real coordinator and compares.
 *
 * Where the contract leaves a choice to the coordinator (the jitter of a retry's back-off, which of
 * several waiting nodes gets new work, how stale a persisted heartbeat may be after a restart) the
 * model checks the choice is allowed and then adopts it.
 */

export type Status = "scheduled" | "queued" | "leased" | "succeeded" | "failed" | "canceled";
export const TERMINAL: readonly Status[] = ["succeeded", "failed", "canceled"];

export interface ModelTask {
  id: string;
  seq: number;
  region: string;
  priority: number;
  status: Status;
  attempts: number;
  maxAttempts: number;
  timeoutMs: number;
  runAt: number;
  /** Bounds the coordinator's jittered runAt must fall in; set until the driver adopts it. */
  runAtBounds: [number, number] | null;
  nodeId: string | null;
  leaseToken: string | null;
  leaseExpiresAt: number | null;
  /** Every lease token ever handed out for this task (older ones are stale). */
  tokens: string[];
  idempotencyKey: string | null;
  requestHash: string | null;
  /** Set once the task ends; the row must never change again. */
  outcome: string | null;
}

export interface ModelNode {
  id: string;
  region: string;
  capacity: number;
  lastSeen: number;
  draining: boolean;
  dead: boolean;
  /** The long poll it sits in, if any. */
  waiting: { max: number; deadline: number } | null;
}

export interface ModelCandidate {
  candidate: string;
  joinedAt: number;
  expiresAt: number;
  nodeId: string | null;
}

/** Expected outcome of a call: a value check is done by the driver, errors by code and reason. */
export type Expect = { ok: true } | { ok: false; code: string; reason?: string };

export const ok: Expect = { ok: true };
export const err = (code: string, reason?: string): Expect =>
  reason === undefined ? { ok: false, code } : { ok: false, code, reason };

/** Leader by seniority, terms as fencing tokens (the contract's "Elections" section). */
export class ElectionModel {
  term = 0;
  leader: string | null = null;
  since: number | null = null;
  exists = false;
  candidates: ModelCandidate[] = [];

  /** Applies one event at `now`; returns whether the leadership changed. */
  apply(
    event:
      | { kind: "campaign"; candidate: string; ttlMs: number; nodeId: string | null }
      | { kind: "resign" | "remove"; candidate: string }
      | { kind: "tick" },
    now: number,
  ): boolean {
    const live = this.candidates.filter((c) => c.expiresAt > now);
    const oldLeaderEntry = live.find((c) => c.candidate === this.leader);
    let next = live;
    if (event.kind === "resign" || event.kind === "remove") {
      next = live.filter((c) => c.candidate !== event.candidate);
    } else if (event.kind === "campaign") {
      const mine = live.find((c) => c.candidate === event.candidate);
      if (mine) {
        next = live.map((c) =>
          c === mine ? { ...c, expiresAt: now + event.ttlMs, nodeId: event.nodeId } : c,
        );
      } else {
        const newest = Math.max(Number.NEGATIVE_INFINITY, ...live.map((c) => c.joinedAt));
        next = [
          ...live,
          {
            candidate: event.candidate,
            joinedAt: Math.max(now, newest + 1),
            expiresAt: now + event.ttlMs,
            nodeId: event.nodeId,
          },
        ];
      }
    }
    next.sort((a, b) =>
      a.joinedAt !== b.joinedAt ? a.joinedAt - b.joinedAt : a.candidate < b.candidate ? -1 : 1,
    );
    this.candidates = next;
    this.exists = true;
    const head = next[0] ?? null;
    // Same name still leading is a change only if its registration lapsed and it joined again.
    const survived =
      head !== null &&
      oldLeaderEntry !== undefined &&
      head.candidate === oldLeaderEntry.candidate &&
      head.joinedAt === oldLeaderEntry.joinedAt;
    const changed = head === null ? this.leader !== null : !survived;
    if (!changed) {
      return false;
    }
    if (head === null) {
      this.leader = null;
      this.since = null;
    } else {
      this.term = Math.max(this.term + 1, now);
      this.leader = head.candidate;
      this.since = now;
    }
    return true;
  }

  leaderExpiresAt(): number | null {
    return this.candidates.find((c) => c.candidate === this.leader)?.expiresAt ?? null;
  }
}

/** The whole model. Time is `now`; the driver moves it. */
export class Model {
  now: number;
  readonly tasks = new Map<string, ModelTask>();
  readonly nodes = new Map<string, ModelNode>();
  readonly regions = new Map<string, { lat: number; lon: number }>();
  readonly elections = new Map<string, ElectionModel>();
  private seq = 0;
  /** When the coordinator last restarted (simulated time). */
  restartedAt = Number.NEGATIVE_INFINITY;

  constructor(
    start: number,
    readonly config: { heartbeatIntervalMs: number; deadAfterMs: number },
  ) {
    this.now = start;
  }

  /**
   * Silent for deadAfterMs: dead, to be declared. A long poll counts as contact when it arrives, not
   * while it waits (a client that vanished mid-poll must not keep its node alive).
   */
  silentTooLong(node: ModelNode): boolean {
    return this.now - node.lastSeen >= this.config.deadAfterMs;
  }

  /** May be handed work now: not dead, not draining, not suspect. */
  available(node: ModelNode): boolean {
    if (node.dead || node.draining || this.silentTooLong(node)) {
      return false;
    }
    return this.now - node.lastSeen <= 2 * this.config.heartbeatIntervalMs;
  }

  inFlight(nodeId: string): number {
    let n = 0;
    for (const t of this.tasks.values()) {
      if (t.status === "leased" && t.nodeId === nodeId) {
        n++;
      }
    }
    return n;
  }

  regionHealthy(region: string): boolean {
    return [...this.nodes.values()].some((n) => n.region === region && this.available(n));
  }

  regionLoad(region: string): { capacity: number; inFlight: number; queued: number } {
    let capacity = 0;
    for (const n of this.nodes.values()) {
      if (n.region === region && this.available(n)) {
        capacity += n.capacity;
      }
    }
    let inFlight = 0;
    let queued = 0;
    for (const t of this.tasks.values()) {
      if (t.region === region && t.status === "leased") {
        inFlight++;
      }
      if (t.region === region && t.status === "queued") {
        queued++;
      }
    }
    return { capacity, inFlight, queued };
  }

  /** A region's runnable tasks in the order a node gets them: priority, then FIFO. */
  queue(region: string): ModelTask[] {
    return [...this.tasks.values()]
      .filter((t) => t.region === region && t.status === "queued")
      .sort((a, b) => b.priority - a.priority || a.seq - b.seq);
  }

  newTask(fields: {
    id: string;
    region: string;
    priority: number;
    runAt: number;
    maxAttempts: number;
    timeoutMs: number;
    idempotencyKey: string | null;
    requestHash: string | null;
  }): ModelTask {
    const task: ModelTask = {
      ...fields,
      seq: this.seq++,
      status: fields.runAt > this.now ? "scheduled" : "queued",
      attempts: 0,
      runAtBounds: null,
      nodeId: null,
      leaseToken: null,
      leaseExpiresAt: null,
      tokens: [],
      outcome: null,
    };
    this.tasks.set(task.id, task);
    return task;
  }

  grant(task: ModelTask, node: ModelNode, leaseToken: string): void {
    task.status = "leased";
    task.attempts++;
    task.nodeId = node.id;
    task.leaseToken = leaseToken;
    task.leaseExpiresAt = this.now + task.timeoutMs;
    task.tokens.push(leaseToken);
  }

  /** checkLease of the contract: the exact current token, on a leased task, before it runs out. */
  leaseRefusal(task: ModelTask, token: string): string | null {
    if (task.leaseToken !== token) {
      return "lease_lost";
    }
    if (task.status !== "leased") {
      return TERMINAL.includes(task.status) ? "already_terminal" : "lease_lost";
    }
    if (task.leaseExpiresAt === null || task.leaseExpiresAt <= this.now) {
      return "lease_lost";
    }
    return null;
  }

  /** A failed attempt, whatever its cause: back-off (runAt adopted later, within bounds) or failed. */
  failAttempt(task: ModelTask, retryable: boolean): void {
    task.nodeId = null;
    task.leaseToken = null;
    task.leaseExpiresAt = null;
    if (!retryable || task.attempts >= task.maxAttempts) {
      task.status = "failed";
      task.outcome = "failed";
      return;
    }
    task.status = "scheduled";
    const cap = Math.floor(Math.min(300_000, 1000 * 2 ** Math.min(task.attempts - 1, 1023)));
    task.runAtBounds = [this.now + Math.ceil(cap / 2), this.now + cap];
  }

  succeed(task: ModelTask): void {
    task.status = "succeeded";
    task.leaseExpiresAt = null;
    task.outcome = "succeeded";
  }

  cancel(task: ModelTask): void {
    task.status = "canceled";
    task.leaseToken = null;
    task.leaseExpiresAt = null;
    task.outcome = "canceled";
  }

  /** A node declared dead: its leases back to the queue as failed attempts, out of its elections. */
  die(node: ModelNode): void {
    node.dead = true;
    node.waiting = null;
    this.reclaim(node);
  }

  reclaim(node: ModelNode): void {
    for (const t of this.tasks.values()) {
      if (t.status === "leased" && t.nodeId === node.id) {
        this.failAttempt(t, true);
      }
    }
    for (const e of this.elections.values()) {
      const mine = e.candidates.find((c) => c.nodeId === node.id);
      if (mine) {
        e.apply({ kind: "remove", candidate: mine.candidate }, this.now);
      }
    }
  }

  election(name: string): ElectionModel {
    let e = this.elections.get(name);
    if (!e) {
      e = new ElectionModel();
      this.elections.set(name, e);
    }
    return e;
  }

  /** The earliest moment something is due (lease end, retry, node deadline, candidate ttl). */
  earliestDue(): number | null {
    const due: number[] = [];
    for (const t of this.tasks.values()) {
      if (t.status === "leased" && t.leaseExpiresAt !== null) {
        due.push(t.leaseExpiresAt);
      }
      if (t.status === "scheduled") {
        due.push(t.runAt);
      }
    }
    for (const n of this.nodes.values()) {
      // Known gap (docs/RELIABILITY.md): a node not heard from since the coordinator restarted has
      // its deadline from the lazily persisted heartbeat, which the alarm may not cover yet.
      if (!n.dead && n.lastSeen >= this.restartedAt) {
        due.push(n.lastSeen + this.config.deadAfterMs);
      }
    }
    for (const e of this.elections.values()) {
      for (const c of e.candidates) {
        due.push(c.expiresAt);
      }
    }
    return due.length === 0 ? null : Math.min(...due);
  }
}

/** Great-circle distance in km (WGS84 mean radius), written out here so the model does not share the core's. */
export function distanceKm(a: { lat: number; lon: number }, b: { lat: number; lon: number }): number {
  const rad = Math.PI / 180;
  const dLat = (b.lat - a.lat) * rad;
  const dLon = (b.lon - a.lon) * rad;
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(a.lat * rad) * Math.cos(b.lat * rad) * Math.sin(dLon / 2) ** 2;
  return 2 * 6371.0088 * Math.asin(Math.min(1, Math.sqrt(h)));
}
