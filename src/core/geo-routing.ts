/**
 * Geo routing: choose the region that should take a task coming from `origin`.
 *
 * Pure: the caller passes a snapshot of region loads; nothing here reads a clock or the network.
 */

/** A point on the Earth in degrees. */
export interface LatLon {
  lat: number;
  lon: number;
}

/** Mean Earth radius (IUGG), in km. */
export const EARTH_RADIUS_KM = 6371.0088;

const DEG_TO_RAD = Math.PI / 180;

/**
 * Haversine great-circle distance in km. Accurate to rounding for every pair of points, including
 * coincident and antipodal ones (the haversine term is clamped to [0, 1]).
 */
export function greatCircleKm(a: LatLon, b: LatLon): number {
  return greatCircleKmRaw(a.lat, a.lon, b.lat, b.lon);
}

/** One region as the router sees it at one instant. */
export interface RegionLoad {
  id: string;
  lat: number;
  lon: number;
  healthy: boolean;
  capacity: number;
  inFlight: number;
  queued: number;
}

/**
 * Why a region was chosen (the one definition; the zod schema derives from it). `allowed`: chosen
 * within the task's allow-list (`regions`); `spillover` also names a choice outside that list.
 */
export const ROUTING_REASONS = ["nearest", "spillover", "pinned", "allowed", "no_location"] as const;
export type RoutingReason = (typeof ROUTING_REASONS)[number];

/** The routing answer: the region, why, and how far it is from the origin (km, 0.1 precision). */
export interface RoutingDecision {
  region: string;
  reason: RoutingReason;
  distanceKm: number | null;
}

/** Load ratio used to rank regions when there is no origin; capacity <= 0 means "cannot take work". */
export function loadRatio(inFlight: number, queued: number, capacity: number): number {
  return capacity > 0 ? (inFlight + queued) / capacity : Number.POSITIVE_INFINITY;
}

/**
 * A snapshot of the healthy regions, laid out for one cheap pass per pick: unit vectors in typed
 * arrays, so "nearest" is "smallest squared chord" |o - r|^2 = 2 - 2cos(d), monotonic in great-circle
 * distance. A pick costs 3 subtractions and 3 multiplications per region (a second pass only when
 * the nearest region is full), 4 trig calls for the origin and one haversine for the answer; about
 * 1 µs for 300 regions (measured on Node 22). The chord rather than the dot product because it keeps
 * full relative precision for regions close to the origin (a dot product near 1 cannot tell apart
 * regions within ~0.1 m), which is where near-ties matter. Exact ties (e.g. co-located regions)
 * go to the smaller id (UTF-16 code unit order), like a brute-force haversine search.
 *
 * Build a new index when loads change; construction is O(n) and allocates once.
 */
export class RegionIndex {
  private readonly count: number;
  private readonly ids: string[];
  private readonly lats: Float64Array;
  private readonly lons: Float64Array;
  private readonly xs: Float64Array;
  private readonly ys: Float64Array;
  private readonly zs: Float64Array;
  private readonly ratios: Float64Array;
  /** 1 when inFlight + queued < capacity. */
  private readonly free: Uint8Array;

  /** Copies the healthy regions of `regions`; the index does not keep a reference to the input. */
  constructor(regions: readonly RegionLoad[]) {
    let healthy = 0;
    for (const region of regions) {
      if (region.healthy) {
        healthy++;
      }
    }
    this.count = healthy;
    this.ids = new Array<string>(healthy);
    this.lats = new Float64Array(healthy);
    this.lons = new Float64Array(healthy);
    this.xs = new Float64Array(healthy);
    this.ys = new Float64Array(healthy);
    this.zs = new Float64Array(healthy);
    this.ratios = new Float64Array(healthy);
    this.free = new Uint8Array(healthy);
    let i = 0;
    for (const region of regions) {
      if (!region.healthy) {
        continue;
      }
      const phi = region.lat * DEG_TO_RAD;
      const lambda = region.lon * DEG_TO_RAD;
      const cosPhi = Math.cos(phi);
      this.ids[i] = region.id;
      this.lats[i] = region.lat;
      this.lons[i] = region.lon;
      this.xs[i] = cosPhi * Math.cos(lambda);
      this.ys[i] = cosPhi * Math.sin(lambda);
      this.zs[i] = Math.sin(phi);
      this.ratios[i] = loadRatio(region.inFlight, region.queued, region.capacity);
      this.free[i] = region.inFlight + region.queued < region.capacity ? 1 : 0;
      i++;
    }
  }

  /** Number of healthy regions in the index. */
  get size(): number {
    return this.count;
  }

  /**
   * Rules: candidates = healthy regions. origin null -> least loaded healthy region by
   * (inFlight+queued)/capacity (capacity 0 counts as fully loaded; ties by id), reason "no_location",
   * distanceKm null. Else the nearest candidate (great circle; ties by id) if it has free capacity
   * (inFlight+queued < capacity) -> "nearest"; else the nearest candidate that has free capacity ->
   * "spillover"; if none has any -> the nearest, reason "nearest". No healthy region -> null.
   * distanceKm = greatCircleKm(origin, chosen) rounded to 0.1 km.
   */
  pick(origin: LatLon | null): RoutingDecision | null {
    const n = this.count;
    if (n === 0) {
      return null;
    }
    const ids = this.ids;
    if (origin === null) {
      const ratios = this.ratios;
      let best = 0;
      let bestRatio = ratios[0] as number;
      for (let i = 1; i < n; i++) {
        const r = ratios[i] as number;
        if (r < bestRatio || (r === bestRatio && (ids[i] as string) < (ids[best] as string))) {
          best = i;
          bestRatio = r;
        }
      }
      return { region: ids[best] as string, reason: "no_location", distanceKm: null };
    }

    const phi = origin.lat * DEG_TO_RAD;
    const lambda = origin.lon * DEG_TO_RAD;
    const cosPhi = Math.cos(phi);
    const ox = cosPhi * Math.cos(lambda);
    const oy = cosPhi * Math.sin(lambda);
    const oz = Math.sin(phi);
    const xs = this.xs;
    const ys = this.ys;
    const zs = this.zs;
    const free = this.free;
    // Pass 1: the nearest region. Usually it has room and we are done; only when it is full does
    // pass 2 look for the nearest region with room (two tight loops beat one loop with two minima).
    let nearest = -1;
    let nearestChord = Number.POSITIVE_INFINITY;
    for (let i = 0; i < n; i++) {
      const dx = ox - (xs[i] as number);
      const dy = oy - (ys[i] as number);
      const dz = oz - (zs[i] as number);
      const chord = dx * dx + dy * dy + dz * dz;
      if (chord < nearestChord || (chord === nearestChord && (ids[i] as string) < (ids[nearest] as string))) {
        nearest = i;
        nearestChord = chord;
      }
    }
    // nearest >= 0 here unless every chord is NaN (a NaN origin); then fall back to the first region.
    let chosen = Math.max(nearest, 0);
    let reason: RoutingReason = "nearest";
    if (free[chosen] !== 1) {
      let nearestFree = -1;
      let nearestFreeChord = Number.POSITIVE_INFINITY;
      for (let i = 0; i < n; i++) {
        if (free[i] !== 1) {
          continue;
        }
        const dx = ox - (xs[i] as number);
        const dy = oy - (ys[i] as number);
        const dz = oz - (zs[i] as number);
        const chord = dx * dx + dy * dy + dz * dz;
        if (
          chord < nearestFreeChord ||
          (chord === nearestFreeChord && (ids[i] as string) < (ids[nearestFree] as string))
        ) {
          nearestFree = i;
          nearestFreeChord = chord;
        }
      }
      if (nearestFree >= 0) {
        chosen = nearestFree;
        reason = "spillover";
      }
    }
    const distance = greatCircleKmRaw(
      origin.lat,
      origin.lon,
      this.lats[chosen] as number,
      this.lons[chosen] as number,
    );
    return { region: ids[chosen] as string, reason, distanceKm: Math.round(distance * 10) / 10 };
  }
}

/** greatCircleKm on raw degrees, so pick() does not allocate a LatLon for the chosen region. */
function greatCircleKmRaw(lat1: number, lon1: number, lat2: number, lon2: number): number {
  const phi1 = lat1 * DEG_TO_RAD;
  const phi2 = lat2 * DEG_TO_RAD;
  const sinHalfDPhi = Math.sin((phi2 - phi1) / 2);
  const sinHalfDLambda = Math.sin(((lon2 - lon1) * DEG_TO_RAD) / 2);
  let h = sinHalfDPhi * sinHalfDPhi + Math.cos(phi1) * Math.cos(phi2) * sinHalfDLambda * sinHalfDLambda;
  if (h > 1) {
    h = 1;
  }
  return 2 * EARTH_RADIUS_KM * Math.asin(Math.sqrt(h));
}

/** Choose a region for a task from `origin` (null when the client location is unknown). */
export function pickRegion(origin: LatLon | null, regions: readonly RegionLoad[]): RoutingDecision | null {
  return new RegionIndex(regions).pick(origin);
}
