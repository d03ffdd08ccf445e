/**
 * The Durable Object location hint for a region's coordinates: where Cloudflare should create the
 * region's shard when it first exists (`namespace.get(id, { locationHint })`). The hints name broad
 * areas; the boundaries below are rough continental ones, good enough for "near the region".
 */
import type { LatLon } from "./geo-routing";

export const LOCATION_HINTS = ["wnam", "enam", "sam", "weur", "eeur", "apac", "oc", "afr", "me"] as const;
export type LocationHint = (typeof LOCATION_HINTS)[number];

/** The broad area a point is in: the Americas by longitude, Europe / Africa / Middle East / Asia-Pacific / Oceania. */
export function locationHintFor({ lat, lon }: LatLon): LocationHint {
  if (lon < -30) {
    if (lat < 12) {
      return "sam";
    }
    return lon < -100 ? "wnam" : "enam";
  }
  if (lat < -10 && lon >= 110) {
    return "oc";
  }
  if (lon >= 60) {
    return "apac";
  }
  if (lat >= 12 && lat <= 42 && lon >= 34) {
    return "me";
  }
  if (lat < 35) {
    return "afr";
  }
  return lon < 20 ? "weur" : "eeur";
}
