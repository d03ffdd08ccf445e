import type { RoutingTable } from "../../durable-objects/coordinator";
import type { LatLon } from "../core/geo-routing";

/** How long an isolate trusts its copy of the routing table; a shard refuses a stale choice. */
export const ROUTING_TABLE_TTL_MS = 1000;
/** How often an isolate looks up a region it does not know (an unknown id must not flood the coordinator). */
export const FRESH_LOOKUP_MS = 100;

/**
 * This isolate's copy of the coordinator's routing table, fetched at most about once a second, one
 * fetch shared by every request that misses at once (a batch's items, concurrent submits). A region
 * the copy does not know yet is looked up once more before the answer is 404, at most every
 * FRESH_LOOKUP_MS (`knows`, `region`).
 */
export class RoutingTableCache {
  private cached: { fetchedAt: number; table: Promise<RoutingTable> } | null = null;
  private inFlight: Promise<RoutingTable> | null = null;
  private lastLookup = Number.NEGATIVE_INFINITY;
  /** Coordinator calls made, for the bench's count of calls per task. */
  fetches = 0;

  constructor(
    private readonly fetch: () => Promise<RoutingTable>,
    private readonly clock: () => number,
  ) {}

  get(): Promise<RoutingTable> {
    const now = this.clock();
    if (this.cached && now - this.cached.fetchedAt < ROUTING_TABLE_TTL_MS) {
      return this.cached.table;
    }
    return this.refresh(now);
  }

  /**
   * A copy fetched after this call began (a change made through this isolate is in it). Calls that
   * ask while a fetch is under way share it: a burst of 503s does not become a burst of fetches.
   */
  fresh(): Promise<RoutingTable> {
    return this.inFlight ?? this.refresh(this.clock());
  }

  /** The region's coordinates, from the copy or, when the copy does not have it, one looked up again. */
  async region(id: string): Promise<{ id: string; lat: number; lon: number } | undefined> {
    const known = (await this.get()).regions.find((r) => r.id === id);
    return known ?? (await this.lookUpAgain())?.regions.find((r) => r.id === id);
  }

  /**
   * Whether a region ever had a shard. A region missing from this isolate's copy is looked up once
   * more, at most every FRESH_LOOKUP_MS: ids and filters come from callers, and asking a shard that
   * never existed would create it.
   */
  async knows(region: string): Promise<boolean> {
    if ((await this.get()).shards.includes(region)) {
      return true;
    }
    return (await this.lookUpAgain())?.shards.includes(region) ?? false;
  }

  /** A fresh copy, unless one was looked up again less than FRESH_LOOKUP_MS ago (then null). */
  lookUpAgain(): Promise<RoutingTable> | null {
    const now = this.clock();
    if (this.lastLookup !== Number.NEGATIVE_INFINITY && now - this.lastLookup < FRESH_LOOKUP_MS) {
      return null;
    }
    this.lastLookup = now;
    return this.fresh();
  }

  invalidate(): void {
    this.cached = null;
  }

  private refresh(now: number): Promise<RoutingTable> {
    this.fetches++;
    const table = this.fetch();
    const entry = { fetchedAt: now, table };
    this.cached = entry;
    this.inFlight = table;
    table.then(
      () => {
        this.inFlight = this.inFlight === table ? null : this.inFlight;
      },
      () => {
        this.inFlight = this.inFlight === table ? null : this.inFlight;
        this.cached = this.cached === entry ? null : this.cached;
      },
    );
    return table;
  }
}

/** The request's own origin from Cloudflare's geolocation, if it has one. */
export function originOf(request: Request): LatLon | null {
  const cf = (request as { cf?: { latitude?: unknown; longitude?: unknown } }).cf;
  const lat = Number(cf?.latitude);
  const lon = Number(cf?.longitude);
  if (cf?.latitude === undefined || !Number.isFinite(lat) || !Number.isFinite(lon)) {
    return null;
  }
  return { lat, lon };
}
