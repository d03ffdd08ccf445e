import { BoundedHashRing } from "../../src/core/bounded-hash-ring";
import { ApiError } from "../../src/core/errors";
import { type HeartbeatConfig, nodeHealth } from "../../src/core/failure-detector";
import type { RegionLoad } from "../../src/core/geo-routing";

export interface RegionRecord {
  id: string;
  lat: number;
  lon: number;
  label: string | null;
}

export interface NodeRecord {
  id: string;
  region: string;
  tokenId: string;
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
}

export type NodeStatus = "healthy" | "suspect" | "draining" | "dead";

type NodeRow = {
  id: string;
  region: string;
  token_id: string;
  capacity: number;
  load: number | null;
  draining: number;
  dead: number;
  labels: string;
  registered_at: number;
  last_seen_at: number;
};

/**
 * Regions and executor nodes: the SQLite rows, mirrored in memory (they are few and read on every
 * call), with each region's hash ring of healthy nodes built on demand.
 */
export class Fleet {
  readonly regions = new Map<string, RegionRecord>();
  readonly nodes = new Map<string, NodeRecord>();
  /** The same nodes by region, so per-region work does not scan the whole fleet. */
  /**
   * Nodes that sit in a long poll right now. Informational only: waiting is NOT a sign of life
   * (a client that went away mid-poll must not keep its node alive; see statusOf).
   */
  readonly waiting = new Set<string>();
  private readonly byRegion = new Map<string, Map<string, NodeRecord>>();
  /** Each region's ring, with the membership it was built for. */
  private readonly rings = new Map<string, { members: string; ring: BoundedHashRing }>();

  constructor(
    private readonly sql: SqlStorage,
    readonly config: HeartbeatConfig,
  ) {
    for (const r of sql.exec<{ id: string; lat: number; lon: number; label: string | null }>(
      "SELECT id, lat, lon, label FROM regions",
    )) {
      this.regions.set(r.id, { ...r });
    }
    for (const n of sql.exec<NodeRow>("SELECT * FROM nodes")) {
      this.index({
        id: n.id,
        region: n.region,
        tokenId: n.token_id,
        capacity: n.capacity,
        inFlight: 0, // counted from the task table by the coordinator
        load: n.load,
        draining: n.draining === 1,
        dead: n.dead === 1,
        labels: JSON.parse(n.labels) as Record<string, string>,
        registeredAt: n.registered_at,
        lastSeenAt: n.last_seen_at,
        persistedSeenAt: n.last_seen_at,
      });
    }
  }

  private index(node: NodeRecord): void {
    this.nodes.set(node.id, node);
    let region = this.byRegion.get(node.region);
    if (!region) {
      region = new Map();
      this.byRegion.set(node.region, region);
    }
    region.set(node.id, node);
  }

  putRegion(id: string, lat: number, lon: number, label: string | null, now: number): RegionRecord {
    this.sql.exec(
      `INSERT INTO regions (id, lat, lon, label, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT(id) DO UPDATE SET lat = excluded.lat, lon = excluded.lon, label = excluded.label, updated_at = excluded.updated_at`,
      id,
      lat,
      lon,
      label,
      now,
      now,
    );
    const region = { id, lat, lon, label };
    this.regions.set(id, region);
    return region;
  }

  deleteRegion(id: string): void {
    this.sql.exec("DELETE FROM nodes WHERE region = ? AND dead = 1", id);
    for (const node of this.nodesIn(id)) {
      this.nodes.delete(node.id);
    }
    this.byRegion.delete(id);
    this.sql.exec("DELETE FROM regions WHERE id = ?", id);
    this.regions.delete(id);
    this.rings.delete(id);
  }

  requireRegion(id: string): RegionRecord {
    const region = this.regions.get(id);
    if (!region) {
      throw ApiError.of("not_found", `no region ${id}`);
    }
    return region;
  }

  register(node: NodeRecord): void {
    this.sql.exec(
      `INSERT INTO nodes (id, region, token_id, capacity, load, draining, dead, labels, registered_at, last_seen_at)
       VALUES (?, ?, ?, ?, ?, 0, 0, ?, ?, ?)`,
      node.id,
      node.region,
      node.tokenId,
      node.capacity,
      node.load,
      JSON.stringify(node.labels),
      node.registeredAt,
      node.lastSeenAt,
    );
    this.index(node);
  }

  /** Forgets a node entirely (deregistration). */
  remove(node: NodeRecord): void {
    this.sql.exec("DELETE FROM nodes WHERE id = ?", node.id);
    this.nodes.delete(node.id);
    this.waiting.delete(node.id);
    this.byRegion.get(node.region)?.delete(node.id);
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

  markDead(node: NodeRecord): void {
    node.dead = true;
    this.waiting.delete(node.id);
    this.sql.exec("UPDATE nodes SET dead = 1 WHERE id = ?", node.id);
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
    const overdue: NodeRecord[] = [];
    for (const node of this.nodes.values()) {
      if (!node.dead && this.statusOf(node, now) === "dead") {
        overdue.push(node);
      }
    }
    return overdue;
  }

  /** The earliest moment a live node would be declared dead, for the alarm. */
  nextDeathDeadline(): number | null {
    let earliest: number | null = null;
    for (const node of this.nodes.values()) {
      if (!node.dead) {
        const deadline = node.lastSeenAt + this.config.deadAfterMs;
        earliest = earliest === null ? deadline : Math.min(earliest, deadline);
      }
    }
    return earliest;
  }

  nodesIn(region: string): NodeRecord[] {
    return [...(this.byRegion.get(region)?.values() ?? [])];
  }

  /** One region's health and load, as the edge routes by it. */
  regionLoad(id: string, now: number, depth: { queued: number; inFlight: number }): RegionLoad | undefined {
    const region = this.regions.get(id);
    if (!region) {
      return undefined;
    }
    let capacity = 0;
    let healthy = false;
    for (const node of this.byRegion.get(id)?.values() ?? []) {
      if (this.isAvailable(node, now)) {
        healthy = true;
        capacity += node.capacity;
      }
    }
    return { id, lat: region.lat, lon: region.lon, healthy, capacity, ...depth };
  }

  /** The owner of an affinity key among the region's healthy nodes: consistent hashing with bounded loads. */
  ownerOf(region: string, key: string, now: number): NodeRecord | undefined {
    const healthy = this.nodesIn(region).filter((n) => this.isAvailable(n, now));
    const ids = healthy.map((n) => n.id).sort();
    const members = ids.join(",");
    let cached = this.rings.get(region);
    if (cached?.members !== members) {
      cached = { members, ring: new BoundedHashRing(ids) };
      this.rings.set(region, cached);
    }
    const ring = cached.ring;
    const totalLoad = healthy.reduce((sum, n) => sum + n.inFlight, 0);
    const owner = ring.ownerWithLoads(key, (id) => this.nodes.get(id)?.inFlight ?? 0, totalLoad);
    return owner === undefined ? undefined : this.nodes.get(owner);
  }

  /** Each region with its health and load, as the edge routes by it. */
  routingTable(now: number, depth: (region: string) => { queued: number; inFlight: number }): RegionLoad[] {
    return [...this.regions.keys()].map((id) => this.regionLoad(id, now, depth(id))!);
  }
}
