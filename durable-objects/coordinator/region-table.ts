import { ApiError } from "../../src/core/errors";
import type { RegionLoad } from "../../src/core/geo-routing";
import { EMPTY_REPORT, madeAfter, type RegionReport } from "../messages";

export interface RegionRecord {
  id: string;
  lat: number;
  lon: number;
  label: string | null;
  /** As the region's shard last reported it. */
  load: RegionReport;
}

/**
 * Regions and the load table the edge routes by: each region's coordinates, and its load and health
 * as its shard last reported them (the newest report wins, so late or repeated reports change
 * nothing). Also every region that ever had a shard, and the nodes shards reported gone.
 */
export class RegionTable {
  readonly regions = new Map<string, RegionRecord>();

  constructor(private readonly sql: SqlStorage) {
    const loads = new Map(
      sql
        .exec<{ region: string; load: string }>("SELECT region, load FROM region_loads")
        .toArray()
        // A report stored before reports carried their order counts as the oldest.
        .map((r) => [r.region, { ...EMPTY_REPORT, ...(JSON.parse(r.load) as Partial<RegionReport>) }]),
    );
    for (const r of sql.exec<{ id: string; lat: number; lon: number; label: string | null }>(
      "SELECT id, lat, lon, label FROM regions",
    )) {
      this.regions.set(r.id, { ...r, load: loads.get(r.id) ?? EMPTY_REPORT });
    }
  }

  put(id: string, lat: number, lon: number, label: string | null, now: number): RegionRecord {
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
    this.sql.exec("INSERT INTO shards (region) VALUES (?) ON CONFLICT DO NOTHING", id);
    const region = { id, lat, lon, label, load: this.regions.get(id)?.load ?? EMPTY_REPORT };
    this.regions.set(id, region);
    return region;
  }

  delete(id: string): void {
    this.sql.exec("DELETE FROM regions WHERE id = ?", id);
    this.sql.exec("DELETE FROM region_loads WHERE region = ?", id);
    this.regions.delete(id);
  }

  require(id: string): RegionRecord {
    const region = this.regions.get(id);
    if (!region) {
      throw ApiError.of("not_found", `no region ${id}`);
    }
    return region;
  }

  /** A shard's report; one it made before the last one taken (reordered, repeated) is ignored. */
  report(id: string, report: RegionReport): boolean {
    const region = this.regions.get(id);
    if (!region || !madeAfter(report, region.load)) {
      return false;
    }
    region.load = report;
    this.sql.exec(
      `INSERT INTO region_loads (region, at, load) VALUES (?, ?, ?)
       ON CONFLICT(region) DO UPDATE SET at = excluded.at, load = excluded.load`,
      id,
      report.at,
      JSON.stringify(report),
    );
    return true;
  }

  /** Each region with its health and load, as the edge routes by it. */
  routingTable(): RegionLoad[] {
    return [...this.regions.values()].map((r) => ({
      id: r.id,
      lat: r.lat,
      lon: r.lon,
      healthy: r.load.healthy,
      capacity: r.load.capacity,
      inFlight: r.load.inFlight,
      queued: r.load.queued,
    }));
  }

  /** Every region that ever had a shard (listing tasks reaches a deleted region's finished ones). */
  shards(): string[] {
    return this.sql
      .exec<{ region: string }>("SELECT region FROM shards ORDER BY region")
      .toArray()
      .map((r) => r.region);
  }

  /** Records nodes as gone; returns the ones not known as gone before. */
  nodesGone(nodeIds: string[], now: number): string[] {
    const fresh: string[] = [];
    for (const id of nodeIds) {
      if (!this.isGone(id)) {
        this.sql.exec("INSERT INTO gone_nodes (node_id, at) VALUES (?, ?)", id, now);
        fresh.push(id);
      }
    }
    return fresh;
  }

  isGone(nodeId: string): boolean {
    return this.sql.exec("SELECT 1 FROM gone_nodes WHERE node_id = ?", nodeId).toArray().length > 0;
  }
}
