import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { LatLon, RegionLoad } from "../../src/core/geo-routing";
import {
  type AllowList,
  explainPlacement,
  MAX_PLACEMENT_TRIES,
  nextOffer,
  type PlacementOffer,
  type Refusal,
} from "../../src/core/placement";
import { allowListOf, idempotencyFingerprint, noRegionMessage } from "../../src/core/task-constraints";
import { referenceKm } from "../lib/reference-km";

/**
 * Region allow-lists (API-v2 §3) against a brute-force oracle: "the nearest healthy region with room
 * within the list, then anywhere only with fallback: nearest" — written as directly as possible,
 * with an independent distance formula.
 */

const PARIS: LatLon = { lat: 48.8566, lon: 2.3522 };
const region = (id: string, lat: number, lon: number, load: Partial<RegionLoad> = {}): RegionLoad => ({
  id,
  lat,
  lon,
  healthy: true,
  capacity: 10,
  inFlight: 0,
  queued: 0,
  ...load,
});

// Regions often share a point, so exact distance ties (broken by id) are common; origins are
// anywhere, so distinct points are never equidistant (floating point would break a true tie either way).
const arbLat = fc.double({ min: -90, max: 90, noNaN: true });
const arbLon = fc.double({ min: -180, max: 180, noNaN: true });
const arbPoint = fc.oneof(
  fc.constantFrom({ lat: 48.1, lon: 11.6 }, { lat: -33.9, lon: 151.2 }, { lat: 40.7, lon: -74 }),
  fc.record({ lat: arbLat, lon: arbLon }),
);
const arbRegion = fc
  .record({
    id: fc.stringMatching(/^[a-z]{1,2}$/),
    at: arbPoint,
    healthy: fc.boolean(),
    capacity: fc.integer({ min: 0, max: 4 }),
    inFlight: fc.integer({ min: 0, max: 4 }),
    queued: fc.integer({ min: 0, max: 4 }),
  })
  .map(({ at, ...r }): RegionLoad => ({ ...r, ...at }));
const arbTable = fc.uniqueArray(arbRegion, { selector: (r) => r.id, maxLength: 12 });
const arbOrigin = fc.option(fc.record({ lat: arbLat, lon: arbLon }), { freq: 4 });
/** A table and an allow-list naming some of its regions (1 to 16). */
const arbCase = arbTable
  .filter((t) => t.length > 0)
  .chain((table) =>
    fc.record({
      table: fc.constant(table),
      allow: fc.record({
        regions: fc.subarray(
          table.map((r) => r.id),
          { minLength: 1, maxLength: Math.min(16, table.length) },
        ),
        fallback: fc.constantFrom<AllowList["fallback"]>("none", "nearest"),
      }),
    }),
  );

const hasRoom = (r: RegionLoad) => r.inFlight + r.queued < r.capacity;
const ratio = (r: RegionLoad) =>
  r.capacity > 0 ? (r.inFlight + r.queued) / r.capacity : Number.POSITIVE_INFINITY;
const byId = (a: RegionLoad, b: RegionLoad) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/** The rule, brute force: sort every healthy region, then take the first of four lists that is not empty. */
function oracle(
  origin: LatLon | null,
  table: readonly RegionLoad[],
  allow: AllowList,
  refused: ReadonlyMap<string, Refusal> = new Map(),
): { region: string; reason: "allowed" | "spillover"; requireRoom: boolean } | null {
  // A region that refused as unhealthy is unhealthy; one that refused as full has no room.
  const healthyNow = (r: RegionLoad) => r.healthy && refused.get(r.id) !== "unhealthy";
  const hasRoomNow = (r: RegionLoad) => hasRoom(r) && !refused.has(r.id);
  const key = (r: RegionLoad) => (origin === null ? ratio(r) : referenceKm(origin, r));
  const healthy = table.filter(healthyNow).sort((a, b) => key(a) - key(b) || byId(a, b));
  const inList = healthy.filter((r) => allow.regions.includes(r.id));
  const anywhere = allow.fallback === "nearest";
  const tiers: [RegionLoad[], boolean][] = [
    [inList.filter(hasRoomNow), true],
    [anywhere ? healthy.filter(hasRoomNow) : [], true],
    [inList, false],
    [anywhere ? healthy : [], false],
  ];
  for (const [tier, requireRoom] of tiers) {
    const first = tier[0];
    if (first !== undefined) {
      return {
        region: first.id,
        reason: allow.regions.includes(first.id) ? "allowed" : "spillover",
        requireRoom,
      };
    }
  }
  return null;
}

const simple = (o: PlacementOffer | null) =>
  o === null ? null : { region: o.region, reason: o.reason, requireRoom: o.requireRoom };

/**
 * Two regions at different points whose distances from the origin are within 1 m: floating error
 * may order them either way (the reference formula and haversine disagree in the last bits), as in
 * geo-routing.test.ts. Co-located regions are exact ties for both, broken by id.
 */
function hasNearTie(origin: LatLon | null, table: readonly RegionLoad[]): boolean {
  if (origin === null) {
    return false;
  }
  const healthy = table.filter((r) => r.healthy);
  return healthy.some((a, i) =>
    healthy.some(
      (b, j) =>
        j > i &&
        (a.lat !== b.lat || a.lon !== b.lon) &&
        Math.abs(referenceKm(origin, a) - referenceKm(origin, b)) <= 1e-3,
    ),
  );
}

/** The offer is the oracle's, unless a near-tie lets floating error pick the other of two. */
function expectOracle(
  offer: PlacementOffer | null,
  origin: LatLon | null,
  table: readonly RegionLoad[],
  allow: AllowList,
  refused: ReadonlyMap<string, Refusal> = new Map(),
): void {
  const expected = oracle(origin, table, allow, refused);
  if (JSON.stringify(simple(offer)) !== JSON.stringify(expected)) {
    expect({ offer: simple(offer), expected, nearTie: hasNearTie(origin, table) }).toMatchObject({
      nearTie: true,
    });
    expect(offer === null).toBe(expected === null);
  }
}

describe("allow-list placement against the brute-force oracle", () => {
  it("picks the nearest healthy region with room within the list, then anywhere only with fallback: nearest", () => {
    fc.assert(
      fc.property(arbOrigin, arbCase, (origin, { table, allow }) => {
        expectOracle(nextOffer(origin, table, new Map(), allow), origin, table, allow);
      }),
      { numRuns: 2000 },
    );
  });

  it("after any refusals, each offer is the oracle's pick given those refusals, and never outside the list without fallback", () => {
    fc.assert(
      fc.property(
        arbOrigin,
        arbCase,
        fc.array(fc.constantFrom<Refusal | null>("unhealthy", "full", null), { minLength: 1 }),
        (origin, { table, allow }, script) => {
          const refused = new Map<string, Refusal>();
          for (let n = 0; n < MAX_PLACEMENT_TRIES; n++) {
            const offer = nextOffer(origin, table, refused, allow);
            expectOracle(offer, origin, table, allow, refused);
            if (offer === null) {
              break;
            }
            if (allow.fallback === "none") {
              expect(allow.regions).toContain(offer.region);
            }
            // As real shards do: a shard refuses as full only an offer that needs room.
            let refusal = script[n % script.length] ?? null;
            if (refusal === "full" && !offer.requireRoom) {
              refusal = "unhealthy";
            }
            if (refusal === null) {
              break;
            }
            refused.set(offer.region, refusal);
          }
        },
      ),
      { numRuns: 1000 },
    );
  });

  it("a list of every region without fallback goes where v1 routing goes, with reason allowed", () => {
    fc.assert(
      fc.property(arbOrigin, arbTable, (origin, table) => {
        const allow: AllowList = { regions: table.map((r) => r.id), fallback: "none" };
        const v1 = nextOffer(origin, table);
        const listed = nextOffer(origin, table, new Map(), allow);
        if (listed?.region !== v1?.region) {
          expect(hasNearTie(origin, table)).toBe(true);
        }
        expect(listed === null).toBe(v1 === null);
        if (listed !== null) {
          expect(listed.reason).toBe("allowed");
        }
      }),
    );
  });

  it("explains the choice: at most 8 entries, the chosen one last, regions outside the list passed over as not_allowed", () => {
    fc.assert(
      fc.property(fc.constant(PARIS), arbCase, (origin, { table, allow }) => {
        const offer = nextOffer(origin, table, new Map(), allow);
        const considered = explainPlacement(origin, table, new Map(), offer?.region ?? null, allow);
        expect(considered.length).toBeLessThanOrEqual(MAX_PLACEMENT_TRIES);
        expect(new Set(considered.map((c) => c.region)).size).toBe(considered.length);
        if (offer !== null) {
          expect(considered.at(-1)).toMatchObject({ region: offer.region, outcome: "chosen" });
        }
        for (const entry of considered.filter((c) => c.outcome !== "chosen")) {
          const inList = allow.regions.includes(entry.region);
          if (!inList && allow.fallback === "none") {
            expect(entry.outcome).toBe("not_allowed");
          }
          if (inList) {
            expect(entry.outcome).not.toBe("not_allowed");
          }
        }
      }),
    );
  });

  it("a concrete case: the nearest region is outside the list; with the list exhausted, fallback nearest spills over", () => {
    const table = [
      region("eu-central", 50.11, 8.68), // Frankfurt, nearest to Paris
      region("eu-west", 53.35, -6.26), // Dublin
      region("us-east", 38.9, -77.04),
    ];
    const allow: AllowList = { regions: ["eu-west"], fallback: "none" };
    expect(nextOffer(PARIS, table, new Map(), allow)).toMatchObject({
      region: "eu-west",
      reason: "allowed",
      requireRoom: true,
    });
    expect(explainPlacement(PARIS, table, new Map(), "eu-west", allow).map((c) => c.outcome)).toEqual([
      "not_allowed",
      "chosen",
    ]);
    const down = new Map<string, Refusal>([["eu-west", "unhealthy"]]);
    expect(nextOffer(PARIS, table, down, allow)).toBeNull();
    const spill = nextOffer(PARIS, table, down, { ...allow, fallback: "nearest" })!;
    expect(spill).toMatchObject({ region: "eu-central", reason: "spillover" });
    expect(
      explainPlacement(PARIS, table, down, "eu-central", { ...allow, fallback: "nearest" }).map((c) => [
        c.region,
        c.outcome,
      ]),
    ).toEqual([["eu-central", "chosen"]]);
  });
});

describe("allow-list bodies", () => {
  it("reads the allow-list with its default fallback, and none without regions", () => {
    expect(allowListOf({ regions: ["a", "b"] })).toEqual({ regions: ["a", "b"], fallback: "none" });
    expect(allowListOf({ regions: ["a"], fallback: "nearest" })).toEqual({
      regions: ["a"],
      fallback: "nearest",
    });
    expect(allowListOf({})).toBeNull();
  });

  it("hashes for idempotency with the list in any order and fallback none as the default, and unchanged without a list", () => {
    const plain = { type: "x", priority: 0, idempotencyKey: "k" };
    expect(idempotencyFingerprint(plain)).toEqual({ type: "x", priority: 0 });
    expect(idempotencyFingerprint({ ...plain, regions: ["b", "a"], fallback: "none" as const })).toEqual(
      idempotencyFingerprint({ ...plain, regions: ["a", "b"] }),
    );
    expect(idempotencyFingerprint({ ...plain, regions: ["a"], fallback: "nearest" as const })).not.toEqual(
      idempotencyFingerprint({ ...plain, regions: ["a"] }),
    );
    expect(idempotencyFingerprint({ ...plain, regions: ["a"] })).not.toEqual(
      idempotencyFingerprint({ ...plain, regions: ["b"] }),
    );
  });

  it("names the list in the 503 message", () => {
    expect(noRegionMessage({ regions: ["eu-west", "eu-central"], fallback: "none" }, "x")).toContain(
      "eu-west, eu-central",
    );
    expect(noRegionMessage(null, "no region")).toBe("no region");
  });
});
