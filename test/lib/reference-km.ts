import type { LatLon } from "../../src/core/geo-routing";

/**
 * Independent reference: the spherical Vincenty formula (atan2 of the cross and dot products),
 * well conditioned everywhere, including near antipodes where haversine loses precision.
 */
export function referenceKm(a: LatLon, b: LatLon): number {
  const rad = Math.PI / 180;
  const phi1 = a.lat * rad;
  const phi2 = b.lat * rad;
  const dLambda = (b.lon - a.lon) * rad;
  const y = Math.hypot(
    Math.cos(phi2) * Math.sin(dLambda),
    Math.cos(phi1) * Math.sin(phi2) - Math.sin(phi1) * Math.cos(phi2) * Math.cos(dLambda),
  );
  const x = Math.sin(phi1) * Math.sin(phi2) + Math.cos(phi1) * Math.cos(phi2) * Math.cos(dLambda);
  return 6371.0088 /* km, the same mean radius, written out */ * Math.atan2(y, x);
}
