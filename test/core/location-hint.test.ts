import { describe, expect, it } from "vitest";
import { LOCATION_HINTS, locationHintFor } from "../../src/core/location-hint";

describe("location hints from coordinates", () => {
  it("places each real region's shard in its own broad area", () => {
    const cases: [string, number, number, string][] = [
      ["N. Virginia", 39.04, -77.49, "enam"],
      ["Oregon", 45.84, -119.7, "wnam"],
      ["Mexico City", 19.43, -99.13, "enam"],
      ["São Paulo", -23.55, -46.63, "sam"],
      ["Bogotá", 4.71, -74.07, "sam"],
      ["Dublin", 53.35, -6.26, "weur"],
      ["Frankfurt", 50.11, 8.68, "weur"],
      ["Warsaw", 52.23, 21.01, "eeur"],
      ["Cairo", 30.04, 31.24, "afr"],
      ["Lagos", 6.52, 3.38, "afr"],
      ["Nairobi", -1.29, 36.82, "afr"],
      ["Johannesburg", -26.2, 28.05, "afr"],
      ["Bahrain", 26.07, 50.56, "me"],
      ["Tel Aviv", 32.09, 34.78, "me"],
      ["Mumbai", 19.08, 72.88, "apac"],
      ["Singapore", 1.35, 103.82, "apac"],
      ["Jakarta", -6.21, 106.85, "apac"],
      ["Tokyo", 35.68, 139.65, "apac"],
      ["Sydney", -33.87, 151.21, "oc"],
      ["Auckland", -36.85, 174.76, "oc"],
    ];
    for (const [name, lat, lon, hint] of cases) {
      expect([name, locationHintFor({ lat, lon })]).toEqual([name, hint]);
    }
  });

  it("gives a valid hint for every point of the globe", () => {
    for (let lat = -90; lat <= 90; lat += 7.5) {
      for (let lon = -180; lon <= 180; lon += 7.5) {
        expect(LOCATION_HINTS).toContain(locationHintFor({ lat, lon }));
      }
    }
  });
});
