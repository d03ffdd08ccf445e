import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  fibreRttMs,
  formatRatio,
  median,
  modelCities,
  modelCity,
  nearestRegion,
  oneWayMs,
  renderMarkdown,
  roundTripMs,
  type Site,
  summarize,
} from "../../bench/latency-model";
import { CITIES, REGIONS } from "../../scripts/demo/world";
import type { LatLon } from "../../src/core/geo-routing";
import { referenceKm } from "../lib/reference-km";

// The coordinator of v1, as the issue gives it (N. Virginia, us-east-1).
const ASHBURN: LatLon = { lat: 39.0438, lon: -77.4874 };
const SYDNEY = { name: "Sydney", lat: -33.8688, lon: 151.2093 };
const RICHMOND_VA = { name: "Richmond", lat: 37.5407, lon: -77.436 };
const LOS_ANGELES = { name: "Los Angeles", lat: 34.0522, lon: -118.2437 };

function region(id: string): Site {
  const found = REGIONS.find((r) => r.id === id);
  if (found === undefined) {
    throw new Error(`no demo region ${id}`);
  }
  return found;
}

describe("the km ÷ 100 rule", () => {
  it("is 1 ms of RTT per 100 km, one-way is half, and the per-hop cost is per message", () => {
    expect(fibreRttMs(100)).toBe(1);
    expect(fibreRttMs(15_000)).toBe(150);
    expect(fibreRttMs(0)).toBe(0);
    expect(oneWayMs(1000)).toBe(5);
    expect(roundTripMs(1000)).toBe(10);
    expect(oneWayMs(1000, 2)).toBe(7);
    expect(roundTripMs(1000, 2)).toBe(14);
  });
});

describe("the coordinator", () => {
  it("is the demo's us-east-1 region, at the issue's coordinates", () => {
    expect(region("us-east-1")).toMatchObject(ASHBURN);
  });
});

describe("modelCity", () => {
  it("gives a city in Virginia the same latencies with one coordinator and with shards", () => {
    const row = modelCity(RICHMOND_VA, REGIONS, ASHBURN);
    expect(row.region).toBe("us-east-1");
    expect(row.nodeToCoordinatorKm).toBe(0);
    expect(row.v1).toEqual(row.v2);
    const km = referenceKm(RICHMOND_VA, ASHBURN);
    expect(row.v1.submitAckMs).toBeCloseTo(km / 100, 6);
    expect(row.v1.submitToLeaseMs).toBeCloseTo(km / 200, 6);
    expect(row.v1.completeMs).toBe(0);
  });

  it("gives Sydney a shard at 0 ms and a coordinator a Pacific away", () => {
    const row = modelCity(SYDNEY, REGIONS, ASHBURN);
    const km = referenceKm(SYDNEY, ASHBURN);
    // Sydney–Washington is about 15,700 km: a sanity check on the reference itself.
    expect(km).toBeGreaterThan(15_500);
    expect(km).toBeLessThan(15_900);
    expect(row.region).toBe("ap-southeast-2");
    expect(row.regionKm).toBeCloseTo(0, 9);
    expect(row.v1.submitAckMs).toBeCloseTo(km / 100, 6);
    // Submit to N. Virginia (km/200) and the lease back to the node in Sydney (km/200).
    expect(row.v1.submitToLeaseMs).toBeCloseTo(km / 200 + km / 200, 6);
    expect(row.v1.completeMs).toBeCloseTo(km / 100, 6);
    expect(row.v2.submitAckMs).toBeCloseTo(0, 9);
    expect(row.v2.submitToLeaseMs).toBeCloseTo(0, 9);
    expect(row.v2.completeMs).toBe(0);
  });

  it("counts the node's way back from the coordinator when the task goes to another region", () => {
    const oregon = region("us-west-2");
    const row = modelCity(LOS_ANGELES, REGIONS, ASHBURN);
    expect(row.region).toBe("us-west-2");
    const cityToCoord = referenceKm(LOS_ANGELES, ASHBURN);
    const nodeToCoord = referenceKm(oregon, ASHBURN);
    const cityToShard = referenceKm(LOS_ANGELES, oregon);
    expect(row.v1.submitAckMs).toBeCloseTo(cityToCoord / 100, 6);
    expect(row.v1.submitToLeaseMs).toBeCloseTo((cityToCoord + nodeToCoord) / 200, 6);
    expect(row.v1.completeMs).toBeCloseTo(nodeToCoord / 100, 6);
    expect(row.v2.submitAckMs).toBeCloseTo(cityToShard / 100, 6);
    expect(row.v2.submitToLeaseMs).toBeCloseTo(cityToShard / 200, 6);
  });

  it("adds the per-hop cost to each of the two messages of every quantity", () => {
    const free = modelCity(SYDNEY, REGIONS, ASHBURN);
    const costly = modelCity(SYDNEY, REGIONS, ASHBURN, 3);
    for (const version of ["v1", "v2"] as const) {
      expect(costly[version].submitAckMs - free[version].submitAckMs).toBeCloseTo(6, 9);
      expect(costly[version].submitToLeaseMs - free[version].submitToLeaseMs).toBeCloseTo(6, 9);
      expect(costly[version].completeMs - free[version].completeMs).toBeCloseTo(6, 9);
    }
  });
});

describe("the demo world", () => {
  it("has the 32 cities the issue names", () => {
    expect(CITIES).toHaveLength(32);
    expect(modelCities(CITIES, REGIONS, ASHBURN).map((r) => r.city)).toEqual(CITIES.map((c) => c.name));
  });

  it("routes every city to the region a brute-force search finds nearest", () => {
    for (const city of CITIES) {
      const byDistance = [...REGIONS].sort((a, b) => referenceKm(city, a) - referenceKm(city, b));
      expect(nearestRegion(city, REGIONS).id, city.name).toBe(byDistance[0]!.id);
    }
  });
});

describe("v2 is never slower than v1 (no processing cost)", () => {
  const point = fc.record({
    lat: fc.double({ min: -89, max: 89, noNaN: true }),
    lon: fc.double({ min: -180, max: 180, noNaN: true }),
  });
  it("holds for any city and any regions that include the coordinator's", () => {
    fc.assert(
      fc.property(point, fc.array(point, { minLength: 0, maxLength: 12 }), (city, others) => {
        const regions: Site[] = [
          { id: "coordinator", ...ASHBURN },
          ...others.map((p, i) => ({ id: `r${i}`, ...p })),
        ];
        const row = modelCity({ name: "x", ...city }, regions, ASHBURN);
        // Nearest region no farther than the coordinator's; the triangle inequality for the lease.
        expect(row.v2.submitAckMs).toBeLessThanOrEqual(row.v1.submitAckMs + 1e-9);
        expect(row.v2.submitToLeaseMs).toBeLessThanOrEqual(row.v1.submitToLeaseMs + 1e-9);
        expect(row.v2.completeMs).toBeLessThanOrEqual(row.v1.completeMs);
      }),
    );
  });
});

describe("summaries", () => {
  it("takes the median of unsorted input without reordering it", () => {
    const values = [5, 1, 4, 2, 3];
    expect(median(values)).toBe(3);
    expect(values).toEqual([5, 1, 4, 2, 3]);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([7])).toBe(7);
    expect(median([])).toBeNaN();
  });

  it("gives median, nearest-rank p90, max and mean", () => {
    // 1..32 shuffled: median (16 + 17) / 2, p90 the 29th value (ceil(0.9 × 32) = 29).
    const values = Array.from({ length: 32 }, (_, i) => ((i * 13) % 32) + 1);
    expect(new Set(values).size).toBe(32);
    expect(summarize(values)).toEqual({ median: 16.5, p90: 29, max: 32, mean: 16.5 });
  });

  it("formats ratios, with a zero denominator shown as infinite", () => {
    expect(formatRatio(80, 6.4)).toBe("12.5×");
    expect(formatRatio(3, 0)).toBe("∞");
    expect(formatRatio(0, 0)).toBe("1.0×");
  });

  it("renders each city in order, then the summary rows and the ratios", () => {
    const regions: Site[] = [{ id: "home", ...ASHBURN }];
    // One region at the coordinator: v1 = v2 for both cities, so every ratio is 1.
    const near = { name: "Near", lat: 39.0438, lon: -76.4874 };
    const far = { name: "Far", lat: 39.0438, lon: -67.4874 };
    const markdown = renderMarkdown(modelCities([far, near], regions, ASHBURN));
    const lines = markdown.split("\n");
    expect(lines[2]).toMatch(/^\| Far \| home \| /);
    expect(lines[3]).toMatch(/^\| Near \| home \| /);
    const nearMs = referenceKm(near, ASHBURN) / 100;
    const farMs = referenceKm(far, ASHBURN) / 100;
    const medianAck = ((nearMs + farMs) / 2).toFixed(1);
    const medianLease = ((nearMs + farMs) / 4).toFixed(1);
    expect(lines).toContain(
      `| **median** | | ${((nearMs + farMs) * 50).toFixed(0)} | ${medianAck} | ${medianAck} | ${medianLease} | ${medianLease} |`,
    );
    expect(lines).toContain(`| max | 1.0× | 1.0× |`);
  });
});
