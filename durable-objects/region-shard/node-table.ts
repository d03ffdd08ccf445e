import { BoundedHashRing } from "../../src/core/bounded-hash-ring";
import { type HeartbeatConfig, type NodeStatus, nodeHealth } from "../../src/core/failure-detector";

export interface NodeRecord {
  id: string;
  region: string;
  tokenId: string;
  /** Its token's tenant: it leases only that tenant's tasks. */
  tenant: string;
  capacity: number;
  inFlight: number;
  load: number | null;
  draining: boolean;
  dead: boolean;
  labels: Record<string, string>;
  registeredAt: number;
  lastSeenAt: number;
  /** The last `lastSeenAt` written to SQLite (heartbeats are persisted at most every half interval). */
  persistedSeenAt: number;
  /** When the node's channel closed without a drain (its grace period runs); null otherwise. */
  channelClosedAt: number | null;
}

export type { NodeStatus };

type NodeRow = {
  id: string;
  region: string;
  token_id: string;
  tenant: string;
  capacity: number;
  load: number | null;
  draining: number;
  dead: number;
  labels: string;
  registered_at: number;
  last_seen_at: number;
  channel_closed_at: number | null;
};

/**
 * One region's executor nodes: the SQLite rows, mirrored in memory (they are few and read on every
 * call), with the hash ring of the healthy ones built on demand.
 */
export class NodeTable {
  readonly nodes = new Map<string, NodeRecord>();
  /**
   * Nodes that sit in a long poll right now. Informational only: waiting is NOT a sign of life
   * (a client that went away mid-poll must not keep its node alive; see statusOf).
   */
  readonly waiting = new Set<string>();
  /** Each tenant's ring, with the membership it was built for. */
  private readonly rings = new Map<string, { members: string; ring: BoundedHashRing }>();

  constructor(
    private readonly sql: SqlStorage,
    readonly config: HeartbeatConfig,
  ) {
    for (const n of sql.exec<NodeRow>("SELECT * FROM nodes")) {
      this.nodes.set(n.id, {
        id: n.id,
        region: n.region,
        tokenId: n.token_id,
        tenant: n.tenant,
        capacity: n.capacity,
        inFlight: 0, // counted from the task table when the shard starts
        load: n.load,
        draining: n.draining === 1,
        dead: n.dead === 1,
        labels: JSON.parse(n.labels) as Record<string, string>,
        registeredAt: n.registered_at,
        lastSeenAt: n.last_seen_at,
        persistedSeenAt: n.last_seen_at,
        channelClosedAt: n.channel_closed_at,
      });
    }
  }

  register(node: NodeRecord): void {
    this.sql.exec(
      `INSERT INTO nodes (id, region, token_id, tenant, capacity, load, draining, dead, labels, registered_at, last_seen_at)
       VALUES (?, ?, ?, ?, ?, ?, 0, 0, ?, ?, ?)`,
      node.id,
      node.region,
      node.tokenId,
      node.tenant,
      node.capacity,
      node.load,
      JSON.stringify(node.labels),
      node.registeredAt,
      node.lastSeenAt,
    );
    this.nodes.set(node.id, node);
  }

  /** Forgets a node entirely (deregistration). */
  remove(node: NodeRecord): void {
    this.sql.exec("DELETE FROM nodes WHERE id = ?", node.id);
    this.nodes.delete(node.id);
    this.waiting.delete(node.id);
  }

  /** Forgets nodes whose rows retention deleted (memory only: the rows are gone already). */
  forget(ids: Iterable<string>): void {
    for (const id of ids) {
      this.nodes.delete(id);
      this.waiting.delete(id);
    }
  }

  /** Forgets every node, which must all be dead (the region is being deleted). */
  removeAll(): void {
    this.sql.exec("DELETE FROM nodes");
    this.nodes.clear();
    this.waiting.clear();
    this.rings.clear();
  }

  /**
   * A sign of life. Persisted when the load changes or half a heartbeat interval has passed since
   * the last write: after a restart a node is at most that much closer to its deadline.
   */
  touch(node: NodeRecord, now: number, load?: number): void {
    node.lastSeenAt = now;
    const loadChanged = load !== undefined && load !== node.load;
    if (load !== undefined) {
      node.load = load;
    }
    if (loadChanged || now - node.persistedSeenAt >= this.config.heartbeatIntervalMs / 2) {
      node.persistedSeenAt = now;
      this.sql.exec("UPDATE nodes SET last_seen_at = ?, load = ? WHERE id = ?", now, node.load, node.id);
    }
  }

  setDraining(node: NodeRecord): void {
    node.draining = true;
    this.sql.exec("UPDATE nodes SET draining = 1 WHERE id = ?", node.id);
  }

  /** Records when the node's channel closed (its grace period starts), or that it is open again (null). */
  setChannelClosed(node: NodeRecord, at: number | null): void {
    node.channelClosedAt = at;
    this.sql.exec("UPDATE nodes SET channel_closed_at = ? WHERE id = ?", at, node.id);
  }

  /** Live nodes whose channel closed more than `graceMs` ago and was not opened again. */
  channelsLapsed(now: number, graceMs: number): NodeRecord[] {
    return [...this.nodes.values()].filter(
      (n) => !n.dead && n.channelClosedAt !== null && now - n.channelClosedAt >= graceMs,
    );
  }

  /** Declares a node dead at `now` (retention counts from then). */
  markDead(node: NodeRecord, now: number): void {
    node.dead = true;
    this.waiting.delete(node.id);
    this.sql.exec("UPDATE nodes SET dead = 1, dead_at = ? WHERE id = ?", now, node.id);
  }

  statusOf(node: NodeRecord, now: number): NodeStatus {
    if (node.dead) {
      return "dead";
    }
    // A long poll counts as contact when it arrives, not while it waits: a client that went away
    // mid-poll must not keep its node alive (and be handed work) until the wait ends.
    const health = nodeHealth(node.lastSeenAt, now, this.config);
    if (health === "dead") {
      return "dead";
    }
    return node.draining ? "draining" : health;
  }

  /** A node that may be handed work now. */
  isAvailable(node: NodeRecord, now: number): boolean {
    return this.statusOf(node, now) === "healthy";
  }

  /** Live nodes whose heartbeat deadline has passed (the alarm declares them dead). */
  overdue(now: number): NodeRecord[] {
    return [...this.nodes.values()].filter((n) => !n.dead && this.statusOf(n, now) === "dead");
  }

  /**
   * The earliest moment a live node's status changes unless it beats again (it turns suspect, then
   * dead): the alarm then declares deaths and tells the coordinator of a change of health.
   */
  nextStatusChange(now: number, graceMs = Number.POSITIVE_INFINITY): number | null {
    let earliest: number | null = null;
    for (const node of this.nodes.values()) {
      if (node.dead) {
        continue;
      }
      if (node.channelClosedAt !== null) {
        const lapse = node.channelClosedAt + graceMs;
        earliest = earliest === null ? lapse : Math.min(earliest, lapse);
      }
      const suspectAt = node.lastSeenAt + 2 * this.config.heartbeatIntervalMs + 1;
      const deadAt = node.lastSeenAt + this.config.deadAfterMs;
      const at = suspectAt > now ? Math.min(suspectAt, deadAt) : deadAt;
      earliest = earliest === null ? at : Math.min(earliest, at);
    }
    return earliest;
  }

  /** Counts by status. */
  /** Nodes by status, of `tenant` (null: of every tenant). */
  statusCounts(now: number, tenant: string | null = null): Record<NodeStatus, number> {
    const counts = { healthy: 0, suspect: 0, draining: 0, dead: 0 };
    for (const node of this.nodes.values()) {
      if (tenant === null || node.tenant === tenant) {
        counts[this.statusOf(node, now)]++;
      }
    }
    return counts;
  }

  /** The region's health and the capacity of its healthy nodes. */
  health(now: number): { healthy: boolean; capacity: number; healthyNodes: number; liveNodes: number } {
    let capacity = 0;
    let healthyNodes = 0;
    let liveNodes = 0;
    for (const node of this.nodes.values()) {
      if (!node.dead) {
        liveNodes++;
      }
      if (this.isAvailable(node, now)) {
        healthyNodes++;
        capacity += node.capacity;
      }
    }
    return { healthy: healthyNodes > 0, capacity, healthyNodes, liveNodes };
  }

  /**
   * The owner of an affinity key among `tenant`'s healthy nodes (only they may lease its tasks):
   * consistent hashing with bounded loads.
   */
  ownerOf(key: string, tenant: string, now: number): NodeRecord | undefined {
    const healthy = [...this.nodes.values()].filter((n) => n.tenant === tenant && this.isAvailable(n, now));
    const ids = healthy.map((n) => n.id).sort();
    const members = ids.join(",");
    let ring = this.rings.get(tenant);
    if (ring?.members !== members) {
      ring = { members, ring: new BoundedHashRing(ids) };
      this.rings.set(tenant, ring);
    }
    const totalLoad = healthy.reduce((sum, n) => sum + n.inFlight, 0);
    const owner = ring.ring.ownerWithLoads(key, (id) => this.nodes.get(id)?.inFlight ?? 0, totalLoad);
    return owner === undefined ? undefined : this.nodes.get(owner);
  }
}
