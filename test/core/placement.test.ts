import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type LatLon, pickRegion, type RegionLoad } from "../../src/core/geo-routing";
import {
  explainPlacement,
  MAX_PLACEMENT_TRIES,
  nextOffer,
  type PlacementOffer,
  type Refusal,
} from "../../src/core/placement";

const SAO_PAULO: LatLon = { lat: -23.55, lon: -46.63 };
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

const arbRegion = fc.record({
  id: fc.stringMatching(/^[a-z]{1,3}$/),
  lat: fc.double({ min: -90, max: 90, noNaN: true }),
  lon: fc.double({ min: -180, max: 180, noNaN: true }),
  healthy: fc.boolean(),
  capacity: fc.integer({ min: 0, max: 5 }),
  inFlight: fc.integer({ min: 0, max: 5 }),
  queued: fc.integer({ min: 0, max: 5 }),
});
const arbTable = fc.uniqueArray(arbRegion, { selector: (r) => r.id, maxLength: 12 });
const arbOrigin = fc.option(
  fc.record({
    lat: fc.double({ min: -90, max: 90, noNaN: true }),
    lon: fc.double({ min: -180, max: 180, noNaN: true }),
  }),
);

/** Plays the edge's loop against shards that refuse as `refuses` says, at most MAX_PLACEMENT_TRIES offers. */
function place(
  origin: LatLon | null,
  table: RegionLoad[],
  refuses: (offer: PlacementOffer) => Refusal | null,
): { offers: PlacementOffer[]; chosen: string | null; refusals: (Refusal | null)[] } {
  const refused = new Map<string, Refusal>();
  const offers: PlacementOffer[] = [];
  const refusals: (Refusal | null)[] = [];
  for (
    let offer = nextOffer(origin, table, refused);
    offer !== null;
    offer = nextOffer(origin, table, refused)
  ) {
    offers.push(offer);
    const refusal = refuses(offer);
    refusals.push(refusal);
    if (refusal === null) {
      return { offers, chosen: offer.region, refusals };
    }
    refused.set(offer.region, refusal);
    if (offers.length === MAX_PLACEMENT_TRIES) {
      break;
    }
  }
  return { offers, chosen: null, refusals };
}

describe("placement at the edge", () => {
  it("with no refusal, offers exactly what the v1 router picks, needing room only when chosen for it", () => {
    fc.assert(
      fc.property(arbOrigin, arbTable, (origin, table) => {
        const offer = nextOffer(origin, table);
        const decision = pickRegion(origin, table);
        expect(
          offer === null
            ? null
            : { region: offer.region, reason: offer.reason, distanceKm: offer.distanceKm },
        ).toEqual(decision);
        if (offer !== null) {
          const chosen = table.find((r) => r.id === offer.region)!;
          const hasRoom = chosen.inFlight + chosen.queued < chosen.capacity;
          expect(offer.requireRoom).toBe(offer.reason !== "no_location" && hasRoom);
        }
      }),
    );
  });

  it("never offers a region twice, nor one that refused as unhealthy; ends within MAX_PLACEMENT_TRIES offers", () => {
    fc.assert(
      fc.property(
        arbOrigin,
        arbTable,
        fc.array(fc.constantFrom<Refusal | null>("unhealthy", "full", null)),
        (origin, table, script) => {
          let i = 0;
          // Scripted shards; as real ones, they refuse as full only an offer that needs room.
          const { offers, refusals } = place(origin, table, (offer) => {
            const refusal = script[i++ % Math.max(1, script.length)] ?? null;
            return refusal === "full" && !offer.requireRoom ? "unhealthy" : refusal;
          });
          expect(offers.length).toBeLessThanOrEqual(MAX_PLACEMENT_TRIES);
          const roomOffers = offers.filter((o) => o.requireRoom).map((o) => o.region);
          expect(new Set(roomOffers).size).toBe(roomOffers.length);
          offers.forEach((offer, n) => {
            // An offer needing room is never made to a region that already refused; a region that
            // refused as full may be offered once more without needing room (the last resort).
            const earlier = offers.slice(0, n).filter((o) => o.region === offer.region);
            if (offer.requireRoom) {
              expect(earlier).toEqual([]);
            } else {
              expect(earlier.every((o) => o.requireRoom)).toBe(true);
            }
            const refusedAsUnhealthy = offers
              .slice(0, n)
              .some((o, k) => o.region === offer.region && refusals[k] === "unhealthy");
            expect(refusedAsUnhealthy).toBe(false);
          });
        },
      ),
    );
  });

  it("places a task somewhere whenever some healthy region accepts it: full regions are a last resort, not a 503", () => {
    fc.assert(
      fc.property(fc.constant(SAO_PAULO), arbTable, (origin, table) => {
        const healthy = table.filter((r) => r.healthy);
        // Shards that agree with the table: refuse only when unhealthy, or full and room was required.
        const { chosen } = place(origin, table, (offer) => {
          const r = table.find((x) => x.id === offer.region)!;
          if (!r.healthy) {
            return "unhealthy";
          }
          return offer.requireRoom && r.inFlight + r.queued >= r.capacity ? "full" : null;
        });
        expect(chosen !== null).toBe(healthy.length > 0);
      }),
    );
  });

  it("spills over past a shard that refused, and explains every region passed over", () => {
    const table = [
      region("sa-east-1", -23.55, -46.63),
      region("us-east-1", 39.04, -77.49),
      region("eu-west-1", 53.35, -6.26),
    ];
    const refused = new Map<string, Refusal>([["sa-east-1", "unhealthy"]]);
    const offer = nextOffer(SAO_PAULO, table, refused)!;
    expect(offer).toMatchObject({ region: "us-east-1", reason: "nearest", requireRoom: true });
    expect(explainPlacement(SAO_PAULO, table, refused, "us-east-1")).toEqual([
      { region: "sa-east-1", distanceKm: 0, outcome: "refused" },
      { region: "us-east-1", distanceKm: expect.closeTo(7650, -2), outcome: "chosen" },
    ]);
    // A healthy nearest region that refused as full makes the next one a spillover.
    const full = nextOffer(SAO_PAULO, table, new Map([["sa-east-1", "full"]]))!;
    expect(full).toMatchObject({ region: "us-east-1", reason: "spillover" });
  });

  it("explains unhealthy and full regions the table passed over, the chosen one last, at most 8 entries", () => {
    const table = [
      region("near", -23.5, -46.6, { healthy: false }),
      region("next", -22.9, -43.2, { inFlight: 10 }),
      region("far", 40.7, -74.0),
    ];
    expect(explainPlacement(SAO_PAULO, table, new Map(), "far").map((c) => [c.region, c.outcome])).toEqual([
      ["near", "unhealthy"],
      ["next", "full"],
      ["far", "chosen"],
    ]);
    const many = Array.from({ length: 12 }, (_, i) =>
      region(`r${i}`, -23.5 + i, -46.6, { healthy: i === 11 }),
    );
    const considered = explainPlacement(SAO_PAULO, many, new Map(), "r11");
    expect(considered).toHaveLength(MAX_PLACEMENT_TRIES);
    expect(considered.at(-1)).toMatchObject({ region: "r11", outcome: "chosen" });
  });

  it("the explanation always ends with the chosen region and lists each region once", () => {
    fc.assert(
      fc.property(arbOrigin, arbTable, (origin, table) => {
        const offer = nextOffer(origin, table);
        const considered = explainPlacement(origin, table, new Map(), offer?.region ?? null);
        expect(considered.length).toBeLessThanOrEqual(MAX_PLACEMENT_TRIES);
        expect(new Set(considered.map((c) => c.region)).size).toBe(considered.length);
        if (offer !== null) {
          expect(considered.at(-1)).toMatchObject({ region: offer.region, outcome: "chosen" });
          expect(considered.filter((c) => c.outcome === "chosen")).toHaveLength(1);
        } else {
          expect(considered.every((c) => c.outcome !== "chosen")).toBe(true);
        }
      }),
    );
  });
});
