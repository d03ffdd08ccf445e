/**
 * Placement at the edge: which region's shard to offer a task to next, and the explanation of where
 * it went (`routing.considered`, API-v2 §2). The edge routes from its cached copy of the load table;
 * a shard that finds it cannot take the task (no healthy node, or full when it was chosen for its
 * room) refuses, and the edge offers it to the next region. Pure: tables and refusals are inputs.
 */
import {
  greatCircleKm,
  type LatLon,
  loadRatio,
  RegionIndex,
  type RegionLoad,
  type RoutingReason,
} from "./geo-routing";

/** At most this many shards are offered one task, and at most this many regions are explained. */
export const MAX_PLACEMENT_TRIES = 8;

export const CONSIDERED_OUTCOMES = ["chosen", "unhealthy", "full", "not_allowed", "refused"] as const;
export type ConsideredOutcome = (typeof CONSIDERED_OUTCOMES)[number];

/** One region the edge looked at, in the order it looked (a type, not an interface: it crosses RPC). */
export type Considered = {
  region: string;
  distanceKm: number | null;
  outcome: ConsideredOutcome;
};

/** Where a task with an allow-list may go once no region of its list can take it. */
export const FALLBACKS = ["none", "nearest"] as const;
export type Fallback = (typeof FALLBACKS)[number];

/**
 * A task's allow-list (API-v2 §3, e.g. data residency): the regions it may run in, and whether it
 * may go anywhere else (`fallback: "nearest"`) when none of them can take it. A type: it crosses RPC.
 */
export type AllowList = { regions: readonly string[]; fallback: Fallback };

/** Why a shard refused an offer: it had no healthy node, or it was full and the offer needed room. */
export type Refusal = "unhealthy" | "full";

/** An offer to one shard. `requireRoom`: refuse when full (the region was chosen for its room). */
export interface PlacementOffer {
  region: string;
  reason: RoutingReason;
  distanceKm: number | null;
  requireRoom: boolean;
}

const hasRoom = (r: RegionLoad) => r.inFlight + r.queued < r.capacity;
const roundKm = (km: number) => Math.round(km * 10) / 10;

function distanceOf(origin: LatLon | null, region: RegionLoad): number | null {
  return origin === null ? null : roundKm(greatCircleKm(origin, region));
}

/** Nearest first (ties by id), or without an origin least loaded first (ties by id). */
function ranked(origin: LatLon | null, regions: readonly RegionLoad[]): RegionLoad[] {
  const keyed = regions.map((r) => ({
    r,
    key: origin === null ? loadRatio(r.inFlight, r.queued, r.capacity) : greatCircleKm(origin, r),
  }));
  keyed.sort((a, b) => a.key - b.key || (a.r.id < b.r.id ? -1 : a.r.id > b.r.id ? 1 : 0));
  return keyed.map((k) => k.r);
}

/**
 * The next region to offer a task from `origin` to, or null when no region is left (503).
 * With no refusal it is exactly `RegionIndex.pick` (the v1 rules): the nearest healthy region with
 * room (`nearest`), else the nearest one with room (`spillover`), else the nearest healthy region,
 * where the task waits (`nearest`, no room required). A region that refused as unhealthy is out; one
 * that refused as full is offered again only as that last resort. Without an origin: the least-loaded
 * healthy region (`no_location`, no room required).
 */
export function nextOffer(
  origin: LatLon | null,
  table: readonly RegionLoad[],
  refused: ReadonlyMap<string, Refusal> = new Map(),
  allow: AllowList | null = null,
): PlacementOffer | null {
  if (allow !== null) {
    return nextAllowedOffer(origin, table, refused, allow);
  }
  if (refused.size === 0) {
    const decision = new RegionIndex(table).pick(origin);
    if (decision === null) {
      return null;
    }
    const chosen = table.find((r) => r.id === decision.region)!;
    return { ...decision, requireRoom: decision.reason !== "no_location" && hasRoom(chosen) };
  }
  const healthy = ranked(
    origin,
    table.filter((r) => r.healthy && refused.get(r.id) !== "unhealthy"),
  );
  const first = healthy[0];
  if (first === undefined) {
    return null;
  }
  if (origin === null) {
    return { region: first.id, reason: "no_location", distanceKm: null, requireRoom: false };
  }
  const roomy = healthy.find((r) => !refused.has(r.id) && hasRoom(r));
  if (roomy !== undefined) {
    return {
      region: roomy.id,
      reason: roomy === first ? "nearest" : "spillover",
      distanceKm: distanceOf(origin, roomy),
      requireRoom: true,
    };
  }
  return { region: first.id, reason: "nearest", distanceKm: distanceOf(origin, first), requireRoom: false };
}

/**
 * The next offer for a task with an allow-list. Ranked as `nextOffer` ranks (nearest first, or least
 * loaded first without an origin), among the healthy regions that did not refuse as unhealthy:
 * 1. the first region of the list with room (`allowed`, room required);
 * 2. with `fallback: "nearest"`, the first region anywhere with room (`spillover`: outside the list);
 * 3. the first region of the list, where the task waits (`allowed`, no room required);
 * 4. with `fallback: "nearest"`, the first region anywhere, where it waits (`spillover`);
 * else null (503). A region that refused as full has no room; it may still be the last resort.
 */
function nextAllowedOffer(
  origin: LatLon | null,
  table: readonly RegionLoad[],
  refused: ReadonlyMap<string, Refusal>,
  allow: AllowList,
): PlacementOffer | null {
  const allowed = new Set(allow.regions);
  const anywhere = allow.fallback === "nearest";
  const healthy = ranked(
    origin,
    table.filter((r) => r.healthy && refused.get(r.id) !== "unhealthy"),
  );
  const inList = healthy.filter((r) => allowed.has(r.id));
  const roomy = (r: RegionLoad) => !refused.has(r.id) && hasRoom(r);
  const offer = (r: RegionLoad, requireRoom: boolean): PlacementOffer => ({
    region: r.id,
    reason: allowed.has(r.id) ? "allowed" : "spillover",
    distanceKm: distanceOf(origin, r),
    requireRoom,
  });
  const withRoom = inList.find(roomy) ?? (anywhere ? healthy.find(roomy) : undefined);
  if (withRoom !== undefined) {
    return offer(withRoom, true);
  }
  const waiting = inList[0] ?? (anywhere ? healthy[0] : undefined);
  return waiting === undefined ? null : offer(waiting, false);
}

/**
 * The regions looked at before the one chosen (or all of them when none was), in the order the
 * edge ranks them, each with why it was passed over, then the chosen one: at most
 * MAX_PLACEMENT_TRIES entries (the first ones passed over, then the chosen region).
 */
export function explainPlacement(
  origin: LatLon | null,
  table: readonly RegionLoad[],
  refused: ReadonlyMap<string, Refusal>,
  chosen: string | null,
  allow: AllowList | null = null,
): Considered[] {
  const allowed = allow === null ? null : new Set(allow.regions);
  // Outside an allow-list: passed over for that alone with no fallback, or when it had room
  // (the list comes first); otherwise its health or fullness says more.
  const outside = (r: RegionLoad) => allowed !== null && !allowed.has(r.id);
  const looked = origin === null ? table.filter((r) => r.healthy || refused.has(r.id)) : table;
  const passed: Considered[] = [];
  let last: Considered | null = null;
  for (const region of ranked(origin, looked)) {
    const distanceKm = distanceOf(origin, region);
    if (region.id === chosen) {
      last = { region: region.id, distanceKm, outcome: "chosen" };
      break;
    }
    const outcome: ConsideredOutcome | null = refused.has(region.id)
      ? "refused"
      : outside(region) && allow?.fallback !== "nearest"
        ? "not_allowed"
        : !region.healthy
          ? "unhealthy"
          : !hasRoom(region)
            ? "full"
            : outside(region)
              ? "not_allowed"
              : null;
    if (outcome !== null) {
      passed.push({ region: region.id, distanceKm, outcome });
    }
  }
  if (last === null) {
    return passed.slice(0, MAX_PLACEMENT_TRIES);
  }
  return [...passed.slice(0, MAX_PLACEMENT_TRIES - 1), last];
}

/** A pinned task's explanation: the region it was pinned to. */
export function explainPinned(origin: LatLon | null, region: RegionLoad): Considered[] {
  return [{ region: region.id, distanceKm: distanceOf(origin, region), outcome: "chosen" }];
}
