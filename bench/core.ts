/**
 * Per-call latency of the two choices made for every task, using the real core classes:
 * - pickNode: the least-loaded node among N with LeastLoadedIndex (peek, then the chosen node's
 *   load goes up by one: the two heap operations the scheduler does per task);
 * - pickRegion: RegionIndex.pick among 300 regions from a random origin (what the edge does per task).
 * Every call is timed alone with process.hrtime.bigint(); the timer's own cost (reported as
 * core.timerOverheadNs) is included, so the percentiles are upper bounds.
 */
import { type LatLon, RegionIndex, type RegionLoad } from "../src/core/geo-routing.ts";
import { LeastLoadedIndex } from "../src/core/least-loaded-index.ts";
import { percentile, seededRandom } from "./stats.ts";

type Numbers = Record<string, number>;

export interface CoreBenchOptions {
  /** Timed calls per measurement (after as many untimed warm-up calls). */
  calls: number;
  log: (line: string) => void;
}

interface Timing {
  p50us: number;
  p99us: number;
  meanUs: number;
}

function summarize(samples: Float64Array): Timing {
  let sum = 0;
  for (const s of samples) {
    sum += s;
  }
  samples.sort();
  return {
    p50us: percentile(samples, 0.5) / 1000,
    p99us: percentile(samples, 0.99) / 1000,
    meanUs: sum / samples.length / 1000,
  };
}

/** What reading the clock twice costs, in ns (median of many), to read the numbers against. */
function timerOverheadNs(): number {
  const samples = new Float64Array(100_000);
  for (let i = 0; i < samples.length; i++) {
    const t0 = process.hrtime.bigint();
    samples[i] = Number(process.hrtime.bigint() - t0);
  }
  samples.sort();
  return percentile(samples, 0.5);
}

/**
 * pickNode among `nodes` nodes of capacity 1..100, about half loaded. Between timed calls (untimed)
 * one random busy node finishes a task, so the fleet stays about half loaded however long it runs.
 */
function benchPickNode(nodes: number, calls: number): Timing {
  const random = seededRandom(nodes);
  const index = new LeastLoadedIndex<string>();
  const ids: string[] = [];
  const capacity = new Int32Array(nodes);
  const inFlight = new Int32Array(nodes);
  const slotOf = new Map<string, number>();
  for (let i = 0; i < nodes; i++) {
    const id = `node-${i.toString(36)}-${Math.floor(random() * 1e9).toString(36)}`;
    ids.push(id);
    slotOf.set(id, i);
    capacity[i] = 1 + Math.floor(random() * 100);
    inFlight[i] = Math.floor(random() * (capacity[i] as number) * 0.5);
    index.set(id, inFlight[i] as number, capacity[i] as number);
  }
  const finishOne = () => {
    for (;;) {
      const j = Math.floor(random() * nodes);
      if ((inFlight[j] as number) > 0) {
        inFlight[j] = (inFlight[j] as number) - 1;
        index.set(ids[j] as string, inFlight[j] as number, capacity[j] as number);
        return;
      }
    }
  };
  const pickOne = (): void => {
    const chosen = index.peek();
    if (chosen === undefined) {
      throw new Error("pickNode: every node is full (the bench keeps them half loaded)");
    }
    const i = slotOf.get(chosen) as number;
    inFlight[i] = (inFlight[i] as number) + 1;
    index.set(chosen, inFlight[i] as number, capacity[i] as number);
  };
  for (let k = 0; k < calls; k++) {
    pickOne();
    finishOne();
  }
  const samples = new Float64Array(calls);
  for (let k = 0; k < calls; k++) {
    const t0 = process.hrtime.bigint();
    pickOne();
    samples[k] = Number(process.hrtime.bigint() - t0);
    finishOne();
  }
  return summarize(samples);
}

/** A point uniformly distributed on the sphere. */
function randomPoint(random: () => number): LatLon {
  return { lat: (Math.asin(2 * random() - 1) * 180) / Math.PI, lon: random() * 360 - 180 };
}

/** pickRegion among `count` regions spread over the globe, a tenth of them full (so spillover happens). */
function benchPickRegion(count: number, calls: number): Timing {
  const random = seededRandom(count + 7);
  const regions: RegionLoad[] = Array.from({ length: count }, (_, i) => {
    const capacity = 100 + Math.floor(random() * 900);
    const full = random() < 0.1;
    return {
      id: `region-${i}`,
      ...randomPoint(random),
      healthy: true,
      capacity,
      inFlight: full ? capacity : Math.floor(capacity * random() * 0.5),
      queued: full ? 10 : 0,
    };
  });
  const index = new RegionIndex(regions);
  const origins = Array.from({ length: 4096 }, () => randomPoint(random));
  let sink = 0;
  for (let k = 0; k < calls; k++) {
    sink += index.pick(origins[k & 4095] as LatLon)?.distanceKm ?? 0;
  }
  const samples = new Float64Array(calls);
  for (let k = 0; k < calls; k++) {
    const origin = origins[k & 4095] as LatLon;
    const t0 = process.hrtime.bigint();
    const decision = index.pick(origin);
    samples[k] = Number(process.hrtime.bigint() - t0);
    sink += decision?.distanceKm ?? 0;
  }
  if (!Number.isFinite(sink)) {
    throw new Error("pickRegion returned a non-finite distance");
  }
  return summarize(samples);
}

/** Runs the core benches; returns the `core.*` numbers. */
export function benchCore(options: CoreBenchOptions): Numbers {
  const out: Numbers = { "core.timerOverheadNs": timerOverheadNs(), "core.calls": options.calls };
  for (const [label, nodes] of [
    ["1k", 1_000],
    ["10k", 10_000],
    ["100k", 100_000],
  ] as const) {
    const t = benchPickNode(nodes, options.calls);
    out[`core.pickNode.${label}.p50us`] = t.p50us;
    out[`core.pickNode.${label}.p99us`] = t.p99us;
    out[`core.pickNode.${label}.meanUs`] = t.meanUs;
    options.log(`  pickNode   ${label.padEnd(5)} p50 ${t.p50us.toFixed(3)} µs  p99 ${t.p99us.toFixed(3)} µs`);
  }
  const r = benchPickRegion(300, options.calls);
  out["core.pickRegion.300.p50us"] = r.p50us;
  out["core.pickRegion.300.p99us"] = r.p99us;
  out["core.pickRegion.300.meanUs"] = r.meanUs;
  options.log(`  pickRegion 300   p50 ${r.p50us.toFixed(3)} µs  p99 ${r.p99us.toFixed(3)} µs`);
  return out;
}
