/**
 * The task lifecycle over region shards: submit in batches of 100, poll 100, report 100, with the
 * load spread over 1, 2, 4 and 8 regions of one server, and the coordinator calls it causes.
 *
 * One server holds 8 regions, each with its own shard and `connections` nodes of its own. In the
 * phase with k regions, connection i drives the (i mod k)-th of them as node ⌊i / k⌋ of it: it
 * submits 100 tasks pinned to the region (POST /v1/tasks:batch), polls up to 100 (POST
 * /v1/nodes/{id}/poll) and reports each one it got succeeded (POST /v1/nodes/{id}/report), then
 * starts again. The same 32 connections in every phase, so the phases differ only in how many shards
 * share the load. The phases take turns (1, 2, 4, 8; then 2, 4, 8, 1; ...), the same measured time
 * each, so a change in the machine's other load hits them alike.
 *
 * Under `wrangler dev` every object runs on the runtime's one thread (docs/BENCHMARKS.md): total
 * throughput is not expected to grow with the regions; the target is that it does not shrink.
 *
 * The coordinator's own counters (`coordinatorCalls` of GET /v1/status, read with the admin secret,
 * which needs no `authenticate`) are read right before and right after every measured turn.
 */
import { type PhaseCpu, startCpuReading } from "./cpu.ts";
import { countItemErrors, type Lease } from "./fleet.ts";
import { type Answer, type Call, type HttpClient, summarizeLatencies } from "./load.ts";
import type { BenchServer } from "./server.ts";

export interface ShardsBenchOptions {
  connections: number;
  /** Measured time per region count, over all rounds. */
  durationMs: number;
  /** Unmeasured time per region count before the first round. */
  warmupMs: number;
  rounds: number;
  log: (line: string) => void;
  around?: (phase: string, moment: "start" | "stop") => Promise<void>;
  /** Region counts to measure (default REGION_COUNTS; an A/B of two counts takes fewer). */
  regionCounts?: readonly number[];
}

type Numbers = Record<string, number>;

/** Region counts measured, in the order of even rounds. */
export const REGION_COUNTS = [1, 2, 4, 8] as const;
const BATCH = 100;

/** Eight places far apart, one region each (the edge's table routes by them; tasks are pinned anyway). */
const PLACES = [
  { lat: 50.11, lon: 8.68 },
  { lat: 39.04, lon: -77.49 },
  { lat: 35.68, lon: 139.69 },
  { lat: -23.55, lon: -46.63 },
  { lat: 1.35, lon: 103.82 },
  { lat: -33.87, lon: 151.21 },
  { lat: 19.08, lon: 72.88 },
  { lat: 45.5, lon: -122.68 },
] as const;

/** Coordinator methods by who causes them during the lifecycle. */
const EDGE_REFRESH = ["routingTable", "authenticate"] as const;
const SHARD_BACKGROUND = ["reportLoad", "nodesGone"] as const;
/** The bench's own reading (GET /v1/status asks the coordinator for these two). */
const READING = ["status", "listRegions"] as const;

export interface Stage {
  clientToken: string;
  nodeToken: string;
  regions: string[];
  /** Per region, `connections` node ids. */
  nodes: string[][];
  /** Per region, the body of a batch of 100 tasks pinned to it. */
  batches: string[];
}

interface TurnResult {
  tasks: number;
  cycles: number;
  seconds: number;
  latencies: number[];
  cpu: PhaseCpu | null;
  calls: Map<string, number>;
}

/** Runs `calls` with up to `concurrency` in flight; each answer must be `status`. */
async function inParallel(
  client: HttpClient,
  calls: Call[],
  concurrency: number,
  status: number,
): Promise<Answer[]> {
  const answers: Answer[] = new Array(calls.length);
  let next = 0;
  const worker = async () => {
    while (next < calls.length) {
      const at = next++;
      const call = calls[at] as Call;
      const answer = await client.send(call);
      if (answer.status !== status) {
        throw new Error(`${call.method} ${call.path} -> ${answer.status}: ${answer.text.slice(0, 300)}`);
      }
      answers[at] = answer;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return answers;
}

/** Two tokens, `regionCount` regions (8 by default) and `connections` nodes (capacity 10 000) in each. */
export async function setUp(
  client: HttpClient,
  adminToken: string,
  connections: number,
  regionCount: number = PLACES.length,
): Promise<Stage> {
  const token = async (role: string) =>
    (
      await client.json<{ token: string }>({
        method: "POST",
        path: "/v1/tokens",
        token: adminToken,
        body: { role, label: `bench shards ${role}` },
      })
    ).token;
  const clientToken = await token("client");
  const nodeToken = await token("node");
  const regions = PLACES.slice(0, regionCount).map((_, i) => `bench-s${i}`);
  await inParallel(
    client,
    regions.map((id, i) => ({
      method: "PUT",
      path: `/v1/regions/${id}`,
      token: adminToken,
      body: PLACES[i],
    })),
    4,
    200,
  );
  const registrations = regions.flatMap((region) =>
    Array.from(
      { length: connections },
      (): Call => ({
        method: "POST",
        path: "/v1/nodes",
        token: nodeToken,
        body: { region, capacity: 10_000 },
      }),
    ),
  );
  const registered = await inParallel(client, registrations, 8, 201);
  const nodes = regions.map((_, r) =>
    registered
      .slice(r * connections, (r + 1) * connections)
      .map((answer) => (JSON.parse(answer.text) as { id: string }).id),
  );
  const batches = regions.map((region, r) =>
    JSON.stringify({
      tasks: Array.from({ length: BATCH }, (_, n) => ({
        type: "bench",
        payload: { n },
        region,
        location: { lat: PLACES[r]!.lat + 0.01, lon: PLACES[r]!.lon + 0.01 },
        timeoutMs: 3_600_000,
      })),
    }),
  );
  return { clientToken, nodeToken, regions, nodes, batches };
}

/** The coordinator's calls by method so far, from its own counters. */
async function coordinatorCalls(client: HttpClient, adminToken: string): Promise<Map<string, number>> {
  const status = await client.json<{ coordinatorCalls: Record<string, number> }>(
    { method: "GET", path: "/v1/status", token: adminToken },
    200,
  );
  return new Map(Object.entries(status.coordinatorCalls));
}

function callsBetween(before: Map<string, number>, after: Map<string, number>): Map<string, number> {
  const delta = new Map<string, number>();
  for (const [method, n] of after) {
    const d = n - (before.get(method) ?? 0);
    if (d < 0) {
      throw new Error(`shards: the coordinator's count of ${method} went down (it restarted mid-run)`);
    }
    if (d > 0) {
      delta.set(method, d);
    }
  }
  return delta;
}

/**
 * Every connection's cycles for `durationMs`: submit 100 (pinned), poll 100, report what it got.
 * The k regions are k consecutive ones from `first` (round the 8): each run starts further on, so
 * every region's table grows alike and no region count always meets the same tables.
 */
export async function lifecycle(
  client: HttpClient,
  stage: Stage,
  regionCount: number,
  first: number,
  connections: number,
  durationMs: number,
): Promise<{ tasks: number; cycles: number; seconds: number; latencies: number[] }> {
  const latencies: number[] = [];
  let tasks = 0;
  const send = async (call: Call): Promise<Answer> => {
    const answer = await client.send(call);
    if (answer.status !== 200) {
      throw new Error(
        `shards: ${call.method} ${call.path} -> ${answer.status}: ${answer.text.slice(0, 300)}`,
      );
    }
    return answer;
  };
  const start = performance.now();
  const deadline = start + durationMs;
  const worker = async (i: number) => {
    const region = (first + (i % regionCount)) % stage.regions.length;
    const node = stage.nodes[region]?.[Math.floor(i / regionCount)] as string;
    const submit: Call = {
      method: "POST",
      path: "/v1/tasks:batch",
      token: stage.clientToken,
      raw: stage.batches[region],
    };
    const poll: Call = {
      method: "POST",
      path: `/v1/nodes/${node}/poll`,
      token: stage.nodeToken,
      raw: `{"max":${BATCH}}`,
    };
    while (performance.now() < deadline) {
      const began = performance.now();
      const stored = await send(submit);
      const refused = countItemErrors(stored.text);
      if (refused > 0) {
        throw new Error(`shards: ${refused} tasks refused: ${stored.text.slice(0, 300)}`);
      }
      const leases = (JSON.parse((await send(poll)).text) as { tasks: Lease[] }).tasks;
      if (leases.length > 0) {
        const reports = leases.map((l) => ({ id: l.id, leaseToken: l.leaseToken, outcome: "succeeded" }));
        const answer = await send({
          method: "POST",
          path: `/v1/nodes/${node}/report`,
          token: stage.nodeToken,
          raw: JSON.stringify({ reports }),
        });
        const results = (JSON.parse(answer.text) as { results: { status?: string }[] }).results;
        const done = results.filter((r) => r.status === "succeeded").length;
        if (done !== leases.length) {
          throw new Error(`shards: ${leases.length - done} reports failed: ${answer.text.slice(0, 300)}`);
        }
        tasks += done;
      }
      latencies.push(performance.now() - began);
    }
  };
  await Promise.all(Array.from({ length: connections }, (_, i) => worker(i)));
  return { tasks, cycles: latencies.length, seconds: (performance.now() - start) / 1000, latencies };
}

/** Measures `shards.lifecycle.*` and the coordinator calls per task (`edge.*`, `coordinator.*`). */
export async function benchShards(
  server: BenchServer,
  client: HttpClient,
  options: ShardsBenchOptions,
): Promise<Numbers> {
  const { connections, log } = options;
  log(`  setting up ${PLACES.length} regions with ${connections} nodes each ...`);
  const stage = await setUp(client, server.adminToken, connections);
  const counts = options.regionCounts ?? REGION_COUNTS;
  let first = 0;
  for (const k of counts) {
    if (options.warmupMs > 0) {
      await lifecycle(client, stage, k, first++, connections, options.warmupMs);
    }
  }
  const turns = new Map<number, TurnResult[]>(counts.map((k) => [k, []]));
  for (let round = 0; round < options.rounds; round++) {
    // Each round starts one further on, so every count takes every position once in 4 rounds and
    // no count has two turns in a row (reversing every other round would give 8 two adjacent
    // turns, and a burst of other load on the machine to it alone).
    const order = counts.map((_, i) => counts[(i + round) % counts.length] as number);
    for (const k of order) {
      const phase = `shards.${k}`;
      const before = await coordinatorCalls(client, server.adminToken);
      await options.around?.(phase, "start");
      const stop = startCpuReading(server.pid, server.port);
      const run = await lifecycle(
        client,
        stage,
        k,
        first++,
        connections,
        options.durationMs / options.rounds,
      );
      const cpu = stop();
      await options.around?.(phase, "stop");
      const calls = callsBetween(before, await coordinatorCalls(client, server.adminToken));
      turns.get(k)?.push({ ...run, cpu, calls });
    }
  }
  return numbers(turns, log);
}

function numbers(turns: Map<number, TurnResult[]>, log: (line: string) => void): Numbers {
  const out: Numbers = { "shards.lifecycle.batch": BATCH };
  const calls = new Map<string, number>();
  let tasks = 0;
  let seconds = 0;
  let shardSeconds = 0;
  for (const [k, runs] of turns) {
    const kTasks = runs.reduce((sum, r) => sum + r.tasks, 0);
    const kSeconds = runs.reduce((sum, r) => sum + r.seconds, 0);
    const { p50ms, p99ms } = summarizeLatencies(
      runs.flatMap((r) => r.latencies),
      kSeconds,
    );
    out[`shards.lifecycle.tasksPerSec.${k}`] = kTasks / kSeconds;
    out[`shards.lifecycle.cycleP50ms.${k}`] = p50ms;
    out[`shards.lifecycle.cycleP99ms.${k}`] = p99ms;
    out[`shards.lifecycle.tasks.${k}`] = kTasks;
    if (runs.every((r) => r.cpu !== null)) {
      const runtime = runs.reduce((sum, r) => sum + (r.cpu as PhaseCpu).runtime, 0);
      const other = runs.reduce((sum, r) => sum + (r.cpu as PhaseCpu).other, 0);
      out[`shards.lifecycle.runtimeCpuMsPerTask.${k}`] = (runtime * 1000) / kTasks;
      // How busy the runtime's one thread was: below 1 it waited (blocked in a commit's fsync, or idle).
      out[`shards.lifecycle.runtimeBusyShare.${k}`] = runtime / kSeconds;
      out[`shards.lifecycle.otherCpuShare.${k}`] =
        other / kSeconds / Math.max(1, navigator.hardwareConcurrency);
    }
    const cpu = out[`shards.lifecycle.runtimeCpuMsPerTask.${k}`];
    log(
      `  ${String(k).padStart(2)} region(s) ${(kTasks / kSeconds).toFixed(0).padStart(6)} tasks/s  cycle p50 ${p50ms.toFixed(0)} ms  p99 ${p99ms.toFixed(0)} ms${cpu === undefined ? "" : `  runtime CPU ${cpu.toFixed(3)} ms/task, busy ${out[`shards.lifecycle.runtimeBusyShare.${k}`]?.toFixed(2)}`}`,
    );
    for (const run of runs) {
      for (const [method, n] of run.calls) {
        calls.set(method, (calls.get(method) ?? 0) + n);
      }
    }
    tasks += kTasks;
    seconds += kSeconds;
    shardSeconds += kSeconds * k;
  }
  // CPU per task with k regions ÷ with 1: blind to the machine's other load, which moves the rates.
  const one = out["shards.lifecycle.runtimeCpuMsPerTask.1"];
  for (const k of turns.keys()) {
    const cpu = out[`shards.lifecycle.runtimeCpuMsPerTask.${k}`];
    if (k > 1 && one !== undefined && cpu !== undefined) {
      out[`shards.lifecycle.cpuPerTaskVs1.${k}`] = cpu / one;
    }
  }
  const count = (methods: readonly string[]) => methods.reduce((sum, m) => sum + (calls.get(m) ?? 0), 0);
  const known = new Set<string>([...EDGE_REFRESH, ...SHARD_BACKGROUND, ...READING]);
  // Anything not named above is a call the task routes made: the issue's target is none.
  const hotPath = [...calls].filter(([m]) => !known.has(m)).reduce((sum, [, n]) => sum + n, 0);
  const refresh = count(EDGE_REFRESH);
  out["shards.lifecycle.tasks"] = tasks;
  out["shards.lifecycle.seconds"] = seconds;
  for (const method of EDGE_REFRESH) {
    out[`edge.coordinatorCalls.${method}`] = calls.get(method) ?? 0;
    out[`edge.coordinatorCallsPerSec.${method}`] = (calls.get(method) ?? 0) / seconds;
  }
  out["edge.coordinatorCalls.hotPath"] = hotPath;
  for (const method of SHARD_BACKGROUND) {
    out[`shards.coordinatorCalls.${method}`] = calls.get(method) ?? 0;
  }
  // Per shard that had work: every phase's shards, for the time they had it.
  out["shards.coordinatorCalls.reportLoadPerShardPerSec"] = (calls.get("reportLoad") ?? 0) / shardSeconds;
  out["bench.coordinatorCalls.reading"] = count(READING);
  out["edge.coordinatorCallsPerTask"] = (refresh + hotPath) / tasks;
  out["edge.coordinatorCallsPerTask.hotPath"] = hotPath / tasks;
  out["edge.coordinatorCallsPerTask.refresh"] = refresh / tasks;
  out["coordinator.callsPerTask.total"] = (refresh + hotPath + count(SHARD_BACKGROUND)) / tasks;
  log(
    `  coordinator calls over ${tasks} tasks: ${[...calls].map(([m, n]) => `${m} ${n}`).join(", ")} (status and listRegions are the bench's own reading)`,
  );
  return out;
}
