/**
 * The reference model for the simulation of the coordinator and its region shards: plain maps and
 * arrays, written from the API contract (docs/RELIABILITY.md lists the rules it encodes), not from
 * the objects' code. The simulation applies every operation to it and to the real objects and
 * compares.
 *
 * Each region's tasks and nodes are its shard's; elections, the nodes the coordinator heard are
 * gone and the load table are the coordinator's, and change only when a message reaches it. Where
 * the contract leaves a choice to an object (the jitter of a retry's back-off, which of several
 * waiting nodes gets new work, how stale a persisted heartbeat may be after a restart) the model
 * checks the choice is allowed and then adopts it.
 */
import type { RegionReport } from "../../durable-objects/messages";
import { SESSION_TTL_MS } from "../../src/core/election";
import { scopedName } from "../../src/core/tenant-names";
import { ElectionModel } from "./sim-election-model";

export type Status = "scheduled" | "queued" | "leased" | "succeeded" | "failed" | "canceled";
export const TERMINAL: readonly Status[] = ["succeeded", "failed", "canceled"];

export interface ModelTask {
  id: string;
  /** The tenant that submitted it: only nodes of this tenant may hold it, only it may read it. */
  tenant: string;
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
  /** When it ended (its row's updated_at): retention counts from then. */
  finishedAt: number | null;
}

export interface ModelNode {
  id: string;
  /** The tenant that registered it: it holds only this tenant's tasks. */
  tenant: string;
  region: string;
  capacity: number;
  lastSeen: number;
  draining: boolean;
  dead: boolean;
  /** The long poll it sits in, if any. */
  waiting: { max: number; deadline: number } | null;
  /** Its open node channel, if any. */
  channel: ModelChannel | null;
  /** When its channel closed without a drain (its grace period runs until it reconnects); null otherwise. */
  channelClosedAt: number | null;
  /** The tasks it held when its channel closed: a resumed session keeps exactly these (less those ended since). */
  heldAtClose: string[];
  /** When its shard declared it dead (its row's dead_at): retention counts from then. */
  diedAt: number | null;
}

/** A node's channel session as the shard keeps it (API-v2 §4). */
export interface ModelChannel {
  /** The simulation's socket (sim-sockets.ts). */
  socket: number;
  /** Tasks the shard may still push: the node's last credit (capped at its room), less what was pushed since. */
  credit: number;
  /** The node sent `drain` on it: nothing more is pushed; it closes once the node holds nothing. */
  draining: boolean;
}

/** Expected outcome of a call: a value check is done by the driver, errors by code and reason. */
export type Expect = { ok: true } | { ok: false; code: string; reason?: string };

export const ok: Expect = { ok: true };
export const err = (code: string, reason?: string): Expect =>
  reason === undefined ? { ok: false, code } : { ok: false, code, reason };

/** A region as the edge routes by it (the coordinator's load table). */
export interface TableRow {
  id: string;
  lat: number;
  lon: number;
  healthy: boolean;
  capacity: number;
  inFlight: number;
  queued: number;
}

export const EMPTY_LOAD: RegionReport = {
  at: 0,
  epoch: 0,
  seq: 0,
  healthy: false,
  capacity: 0,
  inFlight: 0,
  queued: 0,
  nodes: { healthy: 0, total: 0 },
};

/** The whole model. Time is `now`; the driver moves it. */
export class Model {
  now: number;
  readonly tasks = new Map<string, ModelTask>();
  readonly nodes = new Map<string, ModelNode>();
  /** The tenant of every node the run registered, kept after it leaves (its late frames still name it). */
  readonly nodeTenants = new Map<string, string>();
  readonly regions = new Map<string, { lat: number; lon: number }>();
  readonly elections = new Map<string, ElectionModel>();
  private seq = 0;
  /** When each shard last restarted (simulated time). */
  readonly restartedAt = new Map<string, number>();
  /** Each shard's outbox: the nodes that died or left, until the coordinator acknowledges them. */
  readonly outbox = new Map<string, string[]>();
  /**
   * Nodes their shard no longer holds: deregistered, or dead and pruned by retention (their ids may
   * still try to campaign, as names of no node).
   */
  readonly departed = new Set<string>();
  /** Tasks acknowledged once and gone since: pruned after their retention, or erased (DELETE); reads answer 404. */
  readonly forgottenTasks = new Map<string, { region: string; why: "pruned" | "erased" }>();
  /** The coordinator's side: the nodes it heard are gone, and each region's newest load report. */
  readonly coordinatorGone = new Set<string>();
  readonly loads = new Map<string, RegionReport>();
  /** The edge's copy of the load table, and when it was fetched. */
  edgeTable: { fetchedAt: number; table: TableRow[] } | null = null;
  /** Idempotency keys: the body's identity, the task each names, and when it was claimed (it expires from then). */
  readonly keys = new Map<string, { hash: string; taskId: string; claimedAt: number }>();

  constructor(
    start: number,
    readonly config: {
      heartbeatIntervalMs: number;
      deadAfterMs: number;
      channelGraceMs: number;
      /** TASK_RETENTION_MS of the run. */
      taskRetentionMs: number;
    },
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

  /** Its channel closed without a drain and did not come back within the grace period: dead, to be declared. */
  graceLapsed(node: ModelNode): boolean {
    return node.channelClosedAt !== null && this.now - node.channelClosedAt >= this.config.channelGraceMs;
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

  /** A region's load and health now, as its shard must report it (`at` and its order aside). */
  regionReport(region: string): Omit<RegionReport, "at" | "epoch" | "seq"> {
    let capacity = 0;
    let healthy = 0;
    let total = 0;
    for (const n of this.nodes.values()) {
      if (n.region !== region) {
        continue;
      }
      if (!n.dead) {
        total++;
      }
      if (this.available(n)) {
        healthy++;
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
    return { healthy: healthy > 0, capacity, inFlight, queued, nodes: { healthy, total } };
  }

  /** The coordinator's load table, as the edge fetches it. */
  table(): TableRow[] {
    return [...this.regions].map(([id, at]) => {
      const load = this.loads.get(id) ?? EMPTY_LOAD;
      return {
        id,
        lat: at.lat,
        lon: at.lon,
        healthy: load.healthy,
        capacity: load.capacity,
        inFlight: load.inFlight,
        queued: load.queued,
      };
    });
  }

  /** A region's runnable tasks (of `tenant`, all by default) in the order a node gets them: priority, then FIFO. */
  queue(region: string, tenant?: string): ModelTask[] {
    return [...this.tasks.values()]
      .filter(
        (t) => t.region === region && t.status === "queued" && (tenant === undefined || t.tenant === tenant),
      )
      .sort((a, b) => b.priority - a.priority || a.seq - b.seq);
  }

  newTask(fields: {
    id: string;
    tenant: string;
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
      finishedAt: null,
    };
    this.tasks.set(task.id, task);
    return task;
  }

  /** A node registered now. */
  addNode(id: string, region: string, capacity: number, tenant: string): ModelNode {
    const node: ModelNode = {
      id,
      tenant,
      region,
      capacity,
      lastSeen: this.now,
      draining: false,
      dead: false,
      waiting: null,
      channel: null,
      channelClosedAt: null,
      heldAtClose: [],
      diedAt: null,
    };
    this.nodes.set(id, node);
    this.nodeTenants.set(id, tenant);
    return node;
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
      task.finishedAt = this.now;
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
    task.finishedAt = this.now;
  }

  cancel(task: ModelTask): void {
    task.status = "canceled";
    task.leaseToken = null;
    task.leaseExpiresAt = null;
    task.outcome = "canceled";
    task.finishedAt = this.now;
  }

  /** A node declared dead by its shard: its leases back to the queue, the coordinator to be told. */
  die(node: ModelNode): void {
    node.dead = true;
    node.diedAt = this.now;
    node.waiting = null;
    node.channel = null; // the shard closes it (4001)
    this.reclaim(node);
    this.outboxOf(node.region).push(node.id);
  }

  /** A node deregisters: its leases back to the queue, the coordinator to be told. */
  deregister(node: ModelNode): void {
    node.waiting = null;
    node.channel = null; // the shard closes it (4001)
    this.reclaim(node);
    this.nodes.delete(node.id);
    this.departed.add(node.id);
    this.outboxOf(node.region).push(node.id);
  }

  private reclaim(node: ModelNode): void {
    for (const t of this.tasks.values()) {
      if (t.status === "leased" && t.nodeId === node.id) {
        this.failAttempt(t, true);
      }
    }
  }

  /** Whether something that ended (or died) at `at` is past the run's retention: its row may be pruned. */
  pastRetention(at: number): boolean {
    return at <= this.now - this.config.taskRetentionMs;
  }

  /** The task a key names while the key is honoured: for TASK_RETENTION_MS after it was claimed. */
  honouredKey(key: string): { hash: string; taskId: string; claimedAt: number } | undefined {
    const record = this.keys.get(key);
    return record && !this.pastRetention(record.claimedAt) ? record : undefined;
  }

  /** The earliest moment (after `after`) a region's stored finished task or dead node comes of age for pruning. */
  retentionDue(region: string, after = Number.NEGATIVE_INFINITY): number | null {
    const R = this.config.taskRetentionMs;
    let earliest: number | null = null;
    const consider = (at: number | null) => {
      if (at !== null && at + R > after && (earliest === null || at + R < earliest)) {
        earliest = at + R;
      }
    };
    for (const t of this.tasks.values()) {
      if (t.region === region) {
        consider(t.finishedAt);
      }
    }
    for (const n of this.nodes.values()) {
      if (n.region === region) {
        consider(n.diedAt);
      }
    }
    return earliest;
  }

  /** A task no longer stored: pruned by retention or erased on demand. Its key goes with it when erased. */
  forgetTask(task: ModelTask, why: "pruned" | "erased"): void {
    this.tasks.delete(task.id);
    this.forgottenTasks.set(task.id, { region: task.region, why });
    if (
      why === "erased" &&
      task.idempotencyKey !== null &&
      this.keys.get(task.idempotencyKey)?.taskId === task.id
    ) {
      this.keys.delete(task.idempotencyKey);
    }
  }

  /** A dead node whose row retention deleted: the shard knows it no more (404). */
  forgetNode(node: ModelNode): void {
    this.nodes.delete(node.id);
    this.departed.add(node.id);
  }

  outboxOf(region: string): string[] {
    let list = this.outbox.get(region);
    if (!list) {
      list = [];
      this.outbox.set(region, list);
    }
    return list;
  }

  /** The shard's outbox was acknowledged up to what the message carried. */
  acknowledged(region: string, nodeIds: string[]): void {
    const list = this.outboxOf(region);
    for (const id of nodeIds) {
      const i = list.indexOf(id);
      if (i >= 0) {
        list.splice(i, 1);
      }
    }
  }

  /** The coordinator hears nodes are gone: they may not campaign again, their candidacies end. */
  nodesGone(nodeIds: string[]): void {
    for (const id of nodeIds) {
      this.coordinatorGone.add(id);
      for (const e of this.elections.values()) {
        const mine = e.candidates.find((c) => c.nodeId === id);
        if (mine) {
          e.apply({ kind: "remove", candidate: mine.candidate }, this.now);
        }
      }
    }
  }

  /** The coordinator takes a load report if its shard made it after the one it holds. */
  reportLoad(region: string, report: RegionReport): boolean {
    const held = this.loads.get(region) ?? EMPTY_LOAD;
    if (report.epoch < held.epoch || (report.epoch === held.epoch && report.seq <= held.seq)) {
      return false;
    }
    this.loads.set(region, report);
    return true;
  }

  /** The election `name` of `tenant`: each tenant's is its own, kept under its stored key (`t2/name`; `default`'s bare). */
  election(tenant: string, name: string): ElectionModel {
    const key = scopedName(tenant, name);
    let e = this.elections.get(key);
    if (!e) {
      e = new ElectionModel();
      this.elections.set(key, e);
    }
    return e;
  }

  /** The earliest moment something is due in a region's shard (lease end, retry, node deadline, a row to prune). */
  earliestShardDue(region: string): number | null {
    const due: number[] = [];
    for (const t of this.tasks.values()) {
      if (t.region !== region) {
        continue;
      }
      if (t.status === "leased" && t.leaseExpiresAt !== null) {
        due.push(t.leaseExpiresAt);
      }
      if (t.status === "scheduled") {
        due.push(t.runAt);
      }
    }
    const prune = this.retentionDue(region);
    if (prune !== null) {
      due.push(prune);
    }
    const restartedAt = this.restartedAt.get(region) ?? Number.NEGATIVE_INFINITY;
    for (const n of this.nodes.values()) {
      // Known gap (docs/RELIABILITY.md): a node not heard from since its shard restarted has its
      // deadline from the lazily persisted heartbeat, which the alarm may not cover yet.
      if (n.region === region && !n.dead && n.lastSeen >= restartedAt) {
        due.push(n.lastSeen + this.config.deadAfterMs);
      }
      if (n.region === region && !n.dead && n.channelClosedAt !== null) {
        due.push(n.channelClosedAt + this.config.channelGraceMs);
      }
    }
    return due.length === 0 ? null : Math.min(...due);
  }

  /** The earliest candidate ttl (the coordinator's alarm); a channel session's candidacy has none to wait for. */
  earliestCoordinatorDue(): number | null {
    const due: number[] = [];
    for (const e of this.elections.values()) {
      for (const c of e.candidates) {
        if (c.expiresAt - this.now < SESSION_TTL_MS / 2) {
          due.push(c.expiresAt);
        }
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
