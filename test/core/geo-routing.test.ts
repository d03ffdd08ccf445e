import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  EARTH_RADIUS_KM,
  greatCircleKm,
  type LatLon,
  pickRegion,
  RegionIndex,
  type RegionLoad,
  type RoutingDecision,
} from "../../src/core/geo-routing";
import { referenceKm } from "../lib/reference-km";

const LONDON: LatLon = { lat: 51.5074, lon: -0.1278 };
const NEW_YORK: LatLon = { lat: 40.7128, lon: -74.006 };
const FRANKFURT: LatLon = { lat: 50.1109, lon: 8.6821 };
const PARIS: LatLon = { lat: 48.8566, lon: 2.3522 };
const TOKYO: LatLon = { lat: 35.6762, lon: 139.6503 };
const SYDNEY: LatLon = { lat: -33.8688, lon: 151.2093 };

/**
 * How far greatCircleKm may be from the reference: sub-millimetre almost everywhere, but near
 * antipodes the haversine term rounds to 1 and the answer is only good to ~0.2 m.
 */
const HAVERSINE_ACCURACY_KM = 1e-3;

function region(id: string, at: LatLon, load: Partial<RegionLoad> = {}): RegionLoad {
  return { id, lat: at.lat, lon: at.lon, healthy: true, capacity: 10, inFlight: 0, queued: 0, ...load };
}

const isFree = (r: RegionLoad): boolean => r.inFlight + r.queued < r.capacity;
const ratioOf = (r: RegionLoad): number =>
  r.capacity > 0 ? (r.inFlight + r.queued) / r.capacity : Number.POSITIVE_INFINITY;
const byId = (a: RegionLoad, b: RegionLoad): number => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/** The rules, written as directly as possible: sort everything, take the first. */
function bruteForce(origin: LatLon | null, regions: readonly RegionLoad[]): RoutingDecision | null {
  const healthy = regions.filter((r) => r.healthy);
  if (healthy.length === 0) {
    return null;
  }
  if (origin === null) {
    const [best] = [...healthy].sort((a, b) => ratioOf(a) - ratioOf(b) || byId(a, b));
    return { region: (best as RegionLoad).id, reason: "no_location", distanceKm: null };
  }
  const sorted = [...healthy].sort((a, b) => referenceKm(origin, a) - referenceKm(origin, b) || byId(a, b));
  const nearest = sorted[0] as RegionLoad;
  const firstFree = sorted.find(isFree);
  const chosen = isFree(nearest) || firstFree === undefined ? nearest : firstFree;
  const reason = chosen === nearest ? "nearest" : "spillover";
  return { region: chosen.id, reason, distanceKm: Math.round(referenceKm(origin, chosen) * 10) / 10 };
}

describe("greatCircleKm", () => {
  it.each([
    { name: "London-New York ~ 5570 km", a: LONDON, b: NEW_YORK, km: 5570, tolerance: 10 },
    { name: "London-Paris ~ 344 km", a: LONDON, b: PARIS, km: 344, tolerance: 2 },
    { name: "Tokyo-Sydney ~ 7826 km", a: TOKYO, b: SYDNEY, km: 7826, tolerance: 10 },
    { name: "same point is 0", a: TOKYO, b: TOKYO, km: 0, tolerance: 0 },
    {
      name: "a quarter of the equator",
      a: { lat: 0, lon: 0 },
      b: { lat: 0, lon: 90 },
      km: (Math.PI / 2) * EARTH_RADIUS_KM,
      tolerance: 1e-9,
    },
    {
      name: "pole to pole",
      a: { lat: 90, lon: 0 },
      b: { lat: -90, lon: 0 },
      km: Math.PI * EARTH_RADIUS_KM,
      tolerance: 1e-9,
    },
    {
      name: "antipodes (no NaN)",
      a: { lat: 0, lon: 0 },
      b: { lat: 0, lon: 180 },
      km: Math.PI * EARTH_RADIUS_KM,
      tolerance: 1e-9,
    },
    {
      name: "across the antimeridian",
      a: { lat: 0, lon: 179.5 },
      b: { lat: 0, lon: -179.5 },
      km: (Math.PI / 180) * EARTH_RADIUS_KM,
      tolerance: 1e-6,
    },
  ])("$name", ({ a, b, km, tolerance }) => {
    expect(Math.abs(greatCircleKm(a, b) - km)).toBeLessThanOrEqual(tolerance);
  });

  const point = fc.record({
    lat: fc.double({ min: -90, max: 90, noNaN: true }),
    lon: fc.double({ min: -180, max: 180, noNaN: true }),
  });

  it("property: symmetric, within [0, pi R], and within 1 m of the Vincenty formula", () => {
    fc.assert(
      fc.property(point, point, (a, b) => {
        const d = greatCircleKm(a, b);
        expect(d).toBeGreaterThanOrEqual(0);
        expect(d).toBeLessThanOrEqual(Math.PI * EARTH_RADIUS_KM + 1e-9);
        expect(greatCircleKm(b, a)).toBe(d);
        expect(Math.abs(d - referenceKm(a, b))).toBeLessThanOrEqual(HAVERSINE_ACCURACY_KM);
      }),
      { numRuns: Number(process.env.RUNS ?? 100) },
    );
  });

  it("property: triangle inequality d(a,c) <= d(a,b) + d(b,c) (to 2 m)", () => {
    fc.assert(
      fc.property(point, point, point, (a, b, c) => {
        expect(greatCircleKm(a, c)).toBeLessThanOrEqual(
          greatCircleKm(a, b) + greatCircleKm(b, c) + 2 * HAVERSINE_ACCURACY_KM,
        );
      }),
      { numRuns: Number(process.env.RUNS ?? 100) },
    );
  });
});

describe("pickRegion rules", () => {
  const regions = [
    region("eu-fra", FRANKFURT),
    region("eu-par", PARIS),
    region("us-nyc", NEW_YORK),
    region("ap-tyo", TOKYO),
  ];

  it.each<{ name: string; origin: LatLon | null; regions: RegionLoad[]; expected: RoutingDecision | null }>([
    {
      name: "nearest healthy region with room",
      origin: LONDON,
      regions,
      expected: { region: "eu-par", reason: "nearest", distanceKm: 343.6 },
    },
    {
      name: "nearest is full: spill over to the nearest with room",
      origin: LONDON,
      regions: regions.map((r) => (r.id === "eu-par" ? { ...r, inFlight: 6, queued: 4 } : r)),
      expected: { region: "eu-fra", reason: "spillover", distanceKm: 637.8 },
    },
    {
      name: "nearest has capacity 0: spill over",
      origin: LONDON,
      regions: regions.map((r) => (r.id === "eu-par" ? { ...r, capacity: 0 } : r)),
      expected: { region: "eu-fra", reason: "spillover", distanceKm: 637.8 },
    },
    {
      name: "everyone full: the nearest, reason nearest",
      origin: LONDON,
      regions: regions.map((r) => ({ ...r, inFlight: 10 })),
      expected: { region: "eu-par", reason: "nearest", distanceKm: 343.6 },
    },
    {
      name: "unhealthy regions are skipped even when nearest",
      origin: LONDON,
      regions: regions.map((r) => (r.id.startsWith("eu") ? { ...r, healthy: false } : r)),
      expected: { region: "us-nyc", reason: "nearest", distanceKm: 5570.2 },
    },
    {
      name: "co-located regions: tie broken by smaller id",
      origin: NEW_YORK,
      regions: [region("us-nyc-b", NEW_YORK), region("us-nyc-a", NEW_YORK), region("eu-par", PARIS)],
      expected: { region: "us-nyc-a", reason: "nearest", distanceKm: 0 },
    },
    {
      name: "co-located spillover: tie broken by smaller id among free regions",
      origin: LONDON,
      regions: [
        region("a", PARIS, { inFlight: 10 }),
        region("c", FRANKFURT),
        region("b", FRANKFURT),
        region("d", TOKYO),
      ],
      expected: { region: "b", reason: "spillover", distanceKm: 637.8 },
    },
    {
      name: "no origin: least loaded by (inFlight + queued) / capacity",
      origin: null,
      regions: [
        region("a", PARIS, { inFlight: 5, capacity: 10 }),
        region("b", TOKYO, { inFlight: 1, queued: 2, capacity: 10 }),
        region("c", FRANKFURT, { inFlight: 0, queued: 8, capacity: 20 }),
      ],
      expected: { region: "b", reason: "no_location", distanceKm: null },
    },
    {
      name: "no origin: ties by id",
      origin: null,
      regions: [region("z", PARIS, { inFlight: 1 }), region("m", TOKYO, { inFlight: 2, capacity: 20 })],
      expected: { region: "m", reason: "no_location", distanceKm: null },
    },
    {
      name: "no origin: capacity 0 ranks after an overloaded region",
      origin: null,
      regions: [region("a", PARIS, { capacity: 0 }), region("b", TOKYO, { inFlight: 50, capacity: 10 })],
      expected: { region: "b", reason: "no_location", distanceKm: null },
    },
    {
      name: "no origin: unhealthy regions are skipped",
      origin: null,
      regions: [region("a", PARIS, { healthy: false }), region("b", TOKYO, { inFlight: 9 })],
      expected: { region: "b", reason: "no_location", distanceKm: null },
    },
    { name: "no regions", origin: LONDON, regions: [], expected: null },
    {
      name: "no healthy region",
      origin: null,
      regions: regions.map((r) => ({ ...r, healthy: false })),
      expected: null,
    },
  ])("$name", ({ origin, regions, expected }) => {
    expect(pickRegion(origin, regions)).toEqual(expected);
    expect(new RegionIndex(regions).pick(origin)).toEqual(expected);
  });

  it("an index is a snapshot: later changes to the input do not affect it", () => {
    const input = [region("a", PARIS), region("b", TOKYO)];
    const index = new RegionIndex(input);
    (input[0] as RegionLoad).healthy = false;
    expect(index.pick(LONDON)?.region).toBe("a");
    expect(index.size).toBe(2);
  });

  it("a region exactly at the origin beats one 1 m away", () => {
    const oneMetreEast = { lat: LONDON.lat, lon: LONDON.lon + 0.001 / 69.4 };
    expect(greatCircleKm(LONDON, oneMetreEast)).toBeCloseTo(0.001, 4);
    const picked = pickRegion(LONDON, [region("a", oneMetreEast), region("b", LONDON)]);
    expect(picked).toEqual({ region: "b", reason: "nearest", distanceKm: 0 });
  });
});

// A few fixed points, and points offset symmetrically around them, so generated cases include
// co-located regions (exact ties), origins exactly at a region, and near-ties (mirror images).
const anchors: LatLon[] = [LONDON, NEW_YORK, FRANKFURT, TOKYO, SYDNEY, { lat: 0, lon: 179.9 }];
const pool: LatLon[] = anchors.flatMap((a) => [
  a,
  { lat: a.lat, lon: a.lon + 1.5 },
  { lat: a.lat, lon: a.lon - 1.5 },
  { lat: a.lat + 2, lon: a.lon },
  { lat: a.lat - 2, lon: a.lon },
]);
const anyPoint = fc.oneof(
  fc.record({
    lat: fc.double({ min: -90, max: 90, noNaN: true }),
    lon: fc.double({ min: -180, max: 180, noNaN: true }),
  }),
  fc.constantFrom(...pool),
);
const regionArb = fc
  .record({
    id: fc.string({ minLength: 1, maxLength: 3, unit: fc.constantFrom("a", "b", "c", "d", "e", "f") }),
    at: anyPoint,
    healthy: fc.oneof(
      { weight: 4, arbitrary: fc.constant(true) },
      { weight: 1, arbitrary: fc.constant(false) },
    ),
    capacity: fc.integer({ min: 0, max: 5 }),
    inFlight: fc.integer({ min: 0, max: 6 }),
    queued: fc.integer({ min: 0, max: 2 }),
  })
  .map(({ at, ...rest }) => ({ ...rest, lat: at.lat, lon: at.lon }));
const regionsArb = fc.uniqueArray(regionArb, { selector: (r) => r.id, maxLength: 40 });
const originArb = fc.option(fc.oneof(anyPoint, fc.constantFrom(...anchors)), { freq: 6 });

/**
 * Two distances this close are a near-tie: floating error may order them either way. The chord is
 * exact to ~1e-9 km near the origin but, like haversine, only to ~0.2 m near the antipode.
 */
const NEAR_TIE_KM = HAVERSINE_ACCURACY_KM;

/** Whether `decision` obeys the rules when distances within NEAR_TIE_KM count as equal. */
function obeysRulesUpToNearTies(decision: RoutingDecision, origin: LatLon, regions: RegionLoad[]): boolean {
  const healthy = regions.filter((r) => r.healthy);
  const chosen = healthy.find((r) => r.id === decision.region);
  if (chosen === undefined) {
    return false;
  }
  const d = (r: RegionLoad): number => referenceKm(origin, r);
  const min = Math.min(...healthy.map(d));
  const free = healthy.filter(isFree);
  if (decision.reason === "nearest") {
    return d(chosen) <= min + NEAR_TIE_KM && (isFree(chosen) || free.length === 0);
  }
  if (decision.reason === "spillover") {
    const minFree = Math.min(...free.map(d));
    const nearestFull = healthy.some((r) => !isFree(r) && d(r) <= min + NEAR_TIE_KM);
    return isFree(chosen) && d(chosen) <= minFree + NEAR_TIE_KM && nearestFull;
  }
  return false;
}

/**
 * Whether two healthy regions at different coordinates are within NEAR_TIE_KM of each other's
 * distance (equal distances included: the chord of two mirror images can differ in the last bit
 * even when their haversine distances are equal). Co-located regions are exact ties for both
 * methods, so they do not count.
 */
function hasNearTie(origin: LatLon, regions: RegionLoad[]): boolean {
  const healthy = regions.filter((r) => r.healthy);
  return healthy.some((a, i) =>
    healthy.some(
      (b, j) =>
        j > i &&
        (a.lat !== b.lat || a.lon !== b.lon) &&
        Math.abs(referenceKm(origin, a) - referenceKm(origin, b)) <= NEAR_TIE_KM,
    ),
  );
}

describe("pickRegion properties", () => {
  it("property: the decision equals a brute-force great-circle search (nearest, spillover, no_location, ties by id)", () => {
    fc.assert(
      fc.property(originArb, regionsArb, (origin, regions) => {
        const decision = new RegionIndex(regions).pick(origin);
        const expected = bruteForce(origin, regions);
        if (decision === null || expected === null || origin === null) {
          expect(decision).toEqual(expected);
          return;
        }
        expect(obeysRulesUpToNearTies(decision, origin, regions)).toBe(true);
        if (decision.region !== expected.region || decision.reason !== expected.reason) {
          // Only a near-tie may make the chord order and the haversine order disagree.
          expect(hasNearTie(origin, regions)).toBe(true);
        }
        const chosen = regions.find((r) => r.id === decision.region) as RegionLoad;
        expect(Math.abs((decision.distanceKm as number) - referenceKm(origin, chosen))).toBeLessThanOrEqual(
          0.05 + HAVERSINE_ACCURACY_KM,
        );
        expect(decision.distanceKm).toBe(Math.round((decision.distanceKm as number) * 10) / 10);
      }),
      { numRuns: Number(process.env.RUNS ?? 2000) },
    );
  });

  it("property: only healthy regions are chosen, and null exactly when none is healthy", () => {
    fc.assert(
      fc.property(originArb, regionsArb, (origin, regions) => {
        const decision = pickRegion(origin, regions);
        const healthyIds = new Set(regions.filter((r) => r.healthy).map((r) => r.id));
        if (healthyIds.size === 0) {
          expect(decision).toBeNull();
        } else {
          expect(healthyIds.has(decision?.region as string)).toBe(true);
        }
      }),
    );
  });

  it("property: the decision does not depend on the order of the regions", () => {
    fc.assert(
      fc.property(originArb, regionsArb, fc.nat(), (origin, regions, seed) => {
        const shuffled = [...regions].sort((a, b) => hashOf(a.id, seed) - hashOf(b.id, seed));
        expect(pickRegion(origin, shuffled)).toEqual(pickRegion(origin, regions));
      }),
    );
  });
});

/** A cheap seeded order for the shuffle property. */
function hashOf(s: string, seed: number): number {
  let h = seed | 0;
  for (let i = 0; i < s.length; i++) {
    h = Math.imul(h ^ s.charCodeAt(i), 0x9e3779b1);
  }
  return h;
}
