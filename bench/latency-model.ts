/**
 * `npm run latency-model [-- --per-hop-ms <ms>]`: a paper model of submit→lease latency for the
 * demo's cities (scripts/demo/world.ts), with one coordinator Durable Object in N. Virginia (v1)
 * against one region shard per region (v2). Prints Markdown for docs/SCALING.md. Nothing is
 * measured: every number is a great-circle distance turned into time.
 *
 * The model's assumptions:
 * - Fibre RTT: RTT ms = great-circle km ÷ 100 (light in fibre ≈ 200,000 km/s, there and back),
 *   so one-way = RTT / 2 = km ÷ 200. Real routes are longer than great circles; this is a floor.
 * - The caller's edge PoP is in the caller's city (caller→edge = 0 km). An executor node sits in
 *   its region and reaches its shard, or its edge PoP, at 0 km.
 * - A task goes to the region nearest the city (every region healthy and with room), chosen by
 *   the production router (`pickRegion`).
 * - The node is already waiting in a long poll (or on its channel), so the lease is the task's
 *   way in (edge→coordinator or edge→shard, one-way) plus the answer's way out to the node (one-way).
 * - Processing is ignored by default; `perHopMs` adds a fixed cost to every one-way message.
 * - v1: every call goes through the coordinator in N. Virginia. v2: submit, poll and complete go
 *   from the edge straight to the region's shard, placed in the region (API-v2 §1).
 */

import { CITIES, REGIONS } from "../scripts/demo/world.ts";
import { greatCircleKm, type LatLon, pickRegion, type RegionLoad } from "../src/core/geo-routing.ts";
import { percentile } from "./stats.ts";

/** Great-circle km that cost 1 ms of round trip in fibre. */
export const FIBRE_KM_PER_RTT_MS = 100;

/** The region the v1 coordinator is placed in. */
export const COORDINATOR_REGION = "us-east-1";

/** Round-trip time in ms over `km` of fibre, by the km ÷ 100 rule. */
export function fibreRttMs(km: number): number {
  return km / FIBRE_KM_PER_RTT_MS;
}

/** One message over `km` of fibre: half the RTT plus the fixed per-hop cost. */
export function oneWayMs(km: number, perHopMs = 0): number {
  return fibreRttMs(km) / 2 + perHopMs;
}

/** A request and its answer over `km`: two one-way messages. */
export function roundTripMs(km: number, perHopMs = 0): number {
  return 2 * oneWayMs(km, perHopMs);
}

/** A place in the model: a region with an id, a city with a name. */
export interface Site extends LatLon {
  id: string;
}

/** The latencies of one topology (v1 or v2) for one city, in ms. */
export interface Latencies {
  /** Caller submits, edge forwards, the owner answers: one RTT edge↔owner. */
  submitAckMs: number;
  /** Submit reaches the owner (one-way), the lease goes out to the waiting node (one-way). */
  submitToLeaseMs: number;
  /** Node reports or completes and gets the answer: one RTT node↔owner. */
  completeMs: number;
}

/** The model's answer for one city. */
export interface CityLatency {
  city: string;
  /** The region the task is routed to (nearest). */
  region: string;
  /** City → chosen region, km. */
  regionKm: number;
  /** City → coordinator, km. */
  coordinatorKm: number;
  /** Chosen region (where the node sits) → coordinator, km. */
  nodeToCoordinatorKm: number;
  v1: Latencies;
  v2: Latencies;
}

/**
 * The nearest region to `origin`, as the edge's router picks it with every region healthy and with
 * room. Throws when `regions` is empty.
 */
export function nearestRegion(origin: LatLon, regions: readonly Site[]): Site {
  const loads: RegionLoad[] = regions.map((r) => ({
    id: r.id,
    lat: r.lat,
    lon: r.lon,
    healthy: true,
    capacity: 1,
    inFlight: 0,
    queued: 0,
  }));
  const decision = pickRegion(origin, loads);
  const region = regions.find((r) => r.id === decision?.region);
  if (region === undefined) {
    throw new Error("no region to route to");
  }
  return region;
}

/** Models one city: v1 through `coordinator`, v2 through the shard of the city's nearest region. */
export function modelCity(
  city: { name: string } & LatLon,
  regions: readonly Site[],
  coordinator: LatLon,
  perHopMs = 0,
): CityLatency {
  const region = nearestRegion(city, regions);
  const regionKm = greatCircleKm(city, region);
  const coordinatorKm = greatCircleKm(city, coordinator);
  const nodeToCoordinatorKm = greatCircleKm(region, coordinator);
  // v2: the shard is in the region, so node→shard is 0 km and city→shard is city→region.
  const nodeToShardKm = 0;
  return {
    city: city.name,
    region: region.id,
    regionKm,
    coordinatorKm,
    nodeToCoordinatorKm,
    v1: {
      submitAckMs: roundTripMs(coordinatorKm, perHopMs),
      submitToLeaseMs: oneWayMs(coordinatorKm, perHopMs) + oneWayMs(nodeToCoordinatorKm, perHopMs),
      completeMs: roundTripMs(nodeToCoordinatorKm, perHopMs),
    },
    v2: {
      submitAckMs: roundTripMs(regionKm, perHopMs),
      submitToLeaseMs: oneWayMs(regionKm, perHopMs) + oneWayMs(nodeToShardKm, perHopMs),
      completeMs: roundTripMs(nodeToShardKm, perHopMs),
    },
  };
}

/** Models every city, in the order given. */
export function modelCities(
  cities: readonly ({ name: string } & LatLon)[],
  regions: readonly Site[],
  coordinator: LatLon,
  perHopMs = 0,
): CityLatency[] {
  return cities.map((city) => modelCity(city, regions, coordinator, perHopMs));
}

/** Median: the middle value, or the mean of the two middle values for an even count; NaN when empty. */
export function median(values: readonly number[]): number {
  if (values.length === 0) {
    return Number.NaN;
  }
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** Summary of one column. */
export interface Summary {
  median: number;
  /** Nearest-rank 90th percentile (bench/stats.ts): the 29th of 32 values. */
  p90: number;
  max: number;
  mean: number;
}

/** Median, nearest-rank p90, max and mean of `values`; NaN (and -Infinity for max) when empty. */
export function summarize(values: readonly number[]): Summary {
  const sorted = [...values].sort((a, b) => a - b);
  const sum = values.reduce((acc, v) => acc + v, 0);
  return {
    median: median(sorted),
    p90: percentile(sorted, 0.9),
    max: Math.max(...values),
    mean: values.length === 0 ? Number.NaN : sum / values.length,
  };
}

/** `a ÷ b` as "12.3×", or "∞" when only `b` is 0. */
export function formatRatio(a: number, b: number): string {
  if (b === 0) {
    return a === 0 ? "1.0×" : "∞";
  }
  return `${(a / b).toFixed(1)}×`;
}

const ms = (value: number) => value.toFixed(1);
const km = (value: number) => value.toFixed(0);

const STATS = ["median", "p90", "max", "mean"] as const;

/** The Markdown tables for docs/SCALING.md: per city with summary rows, the v1 ÷ v2 ratios, complete per region. */
export function renderMarkdown(rows: readonly CityLatency[]): string {
  const lines: string[] = [
    "| city | region chosen | distance km | v1 submit ack ms | v2 submit ack ms | v1 submit→lease ms | v2 submit→lease ms |",
    "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
  ];
  for (const r of rows) {
    lines.push(
      `| ${r.city} | ${r.region} | ${km(r.regionKm)} | ${ms(r.v1.submitAckMs)} | ${ms(r.v2.submitAckMs)} | ${ms(r.v1.submitToLeaseMs)} | ${ms(r.v2.submitToLeaseMs)} |`,
    );
  }
  const columns = {
    distance: summarize(rows.map((r) => r.regionKm)),
    v1Ack: summarize(rows.map((r) => r.v1.submitAckMs)),
    v2Ack: summarize(rows.map((r) => r.v2.submitAckMs)),
    v1Lease: summarize(rows.map((r) => r.v1.submitToLeaseMs)),
    v2Lease: summarize(rows.map((r) => r.v2.submitToLeaseMs)),
  };
  for (const stat of STATS) {
    lines.push(
      `| **${stat}** | | ${km(columns.distance[stat])} | ${ms(columns.v1Ack[stat])} | ${ms(columns.v2Ack[stat])} | ${ms(columns.v1Lease[stat])} | ${ms(columns.v2Lease[stat])} |`,
    );
  }

  // The ratio of the summaries (not a summary of per-city ratios: a city at its shard has v2 = 0).
  lines.push("", "| v1 ÷ v2 | submit ack | submit→lease |", "| --- | ---: | ---: |");
  for (const stat of STATS) {
    lines.push(
      `| ${stat} | ${formatRatio(columns.v1Ack[stat], columns.v2Ack[stat])} | ${formatRatio(columns.v1Lease[stat], columns.v2Lease[stat])} |`,
    );
  }

  // Report/complete depends only on the region the node sits in, so one row per region used.
  lines.push(
    "",
    "| region (node) | cities | node→coordinator km | v1 report/complete ms | v2 report/complete ms |",
    "| --- | ---: | ---: | ---: | ---: |",
  );
  const byRegion = new Map<string, CityLatency[]>();
  for (const r of rows) {
    byRegion.set(r.region, [...(byRegion.get(r.region) ?? []), r]);
  }
  for (const [region, group] of byRegion) {
    const first = group[0]!;
    lines.push(
      `| ${region} | ${group.length} | ${km(first.nodeToCoordinatorKm)} | ${ms(first.v1.completeMs)} | ${ms(first.v2.completeMs)} |`,
    );
  }
  return lines.join("\n");
}

function parsePerHopMs(argv: readonly string[]): number {
  let perHopMs = 0;
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = (argv[i] as string).split("=", 2) as [string, string | undefined];
    if (flag !== "--per-hop-ms") {
      throw new Error(`unknown argument ${argv[i]} (use --per-hop-ms <ms>)`);
    }
    perHopMs = Number(inline ?? argv[++i]);
    if (!Number.isFinite(perHopMs) || perHopMs < 0) {
      throw new Error("--per-hop-ms takes a number >= 0");
    }
  }
  return perHopMs;
}

/** Prints the model for the demo's world. */
function main(argv: readonly string[]): void {
  const perHopMs = parsePerHopMs(argv);
  const coordinator = REGIONS.find((r) => r.id === COORDINATOR_REGION);
  if (coordinator === undefined) {
    throw new Error(`${COORDINATOR_REGION} is not a demo region`);
  }
  const rows = modelCities(CITIES, REGIONS, coordinator, perHopMs);
  console.log(
    `Latency model: ${CITIES.length} cities, ${REGIONS.length} regions, coordinator in ${coordinator.label} ` +
      `(${COORDINATOR_REGION}, ${coordinator.lat}, ${coordinator.lon}); RTT ms = km ÷ ${FIBRE_KM_PER_RTT_MS}, ` +
      `one-way = RTT ÷ 2, per-hop cost ${perHopMs} ms.\n`,
  );
  console.log(renderMarkdown(rows));
}

if (import.meta.main) {
  main(process.argv.slice(2));
}
