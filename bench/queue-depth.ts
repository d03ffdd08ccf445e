/**
 * Does a deep queue slow the hot path? One cycle = submit one task, then poll one task, as a client
 * and a node would. Two fresh servers run side by side: "empty" starts with an empty task table;
 * "deep" first gets 100 000 queued tasks in the very region its nodes poll (the harder case: every
 * poll must find the best of 100 000 runnable rows, every insert grows the table's indexes). Then
 * they take turns, `rounds` times each (empty first in even rounds, deep first in odd ones), so a
 * change in the machine's other load hits both alike.
 * slowdown = cycle cost deep ÷ cycle cost empty = cycle rate empty ÷ cycle rate deep.
 */
import { type PhaseCpu, startCpuReading } from "./cpu.ts";
import { benchTask, type Fleet, seedTasks, setUpFleet } from "./fleet.ts";
import { type Answer, type Call, HttpClient, summarizeLatencies } from "./load.ts";
import type { BenchServer } from "./server.ts";

export interface QueueBenchOptions {
  connections: number;
  /** Measured time per side, over all rounds. */
  durationMs: number;
  warmupMs: number;
  rounds: number;
  /** Tasks stored on the deep side before measuring. */
  depth: number;
  log: (line: string) => void;
  /** Starts a fresh server for one side. */
  startServer: (side: Side) => Promise<BenchServer>;
  /** Called right before and right after each measured run (the profiler hooks in here). */
  around?: (phase: string, moment: "start" | "stop") => Promise<void>;
}

export type Side = "empty" | "deep";
type Numbers = Record<string, number>;

interface CycleRun {
  latencies: number[];
  seconds: number;
  cpu: PhaseCpu | null;
}

interface Stage {
  server: BenchServer;
  client: HttpClient;
  fleet: Fleet;
  submitted: number;
}

/** Runs submit-then-poll cycles on every connection for `durationMs`; latency is that of the whole cycle. */
async function cycles(stage: Stage, durationMs: number, connections: number): Promise<CycleRun> {
  const { client, fleet } = stage;
  const latencies: number[] = [];
  const send = async (call: Call, status: number): Promise<Answer> => {
    const answer = await client.send(call);
    if (answer.status !== status) {
      throw new Error(`queue: ${call.method} ${call.path} -> ${answer.status}: ${answer.text.slice(0, 300)}`);
    }
    return answer;
  };
  const stop = startCpuReading(stage.server.pid, stage.server.port);
  const start = performance.now();
  const deadline = start + durationMs;
  const worker = async (id: number) => {
    const poll: Call = {
      method: "POST",
      path: `/v1/nodes/${fleet.nodeIds[id]}/poll`,
      token: fleet.nodeToken,
      raw: '{"max":1}',
    };
    while (performance.now() < deadline) {
      const began = performance.now();
      const task = JSON.stringify(benchTask(fleet, stage.submitted++));
      await send({ method: "POST", path: "/v1/tasks", token: fleet.clientToken, raw: task }, 201);
      // Never empty: every poll follows its own worker's submit, so submits stay ahead of polls.
      const polled = await send(poll, 200);
      latencies.push(performance.now() - began);
      if (polled.text.startsWith('{"tasks":[]')) {
        throw new Error("queue: a poll found nothing although every cycle submits first");
      }
    }
  };
  await Promise.all(Array.from({ length: connections }, (_, i) => worker(i)));
  const seconds = (performance.now() - start) / 1000;
  return { latencies, seconds, cpu: stop() };
}

async function prepare(side: Side, options: QueueBenchOptions): Promise<Stage> {
  const server = await options.startServer(side);
  const client = new HttpClient(server.url);
  try {
    const fleet = await setUpFleet(
      client,
      server.adminToken,
      "bench-q",
      { lat: 35.68, lon: 139.69 },
      options.connections,
    );
    if (side === "deep") {
      options.log(`  storing ${options.depth} queued tasks on the deep side through the batch route ...`);
      await seedTasks(client, fleet, options.depth);
    }
    return { server, client, fleet, submitted: 0 };
  } catch (error) {
    client.close();
    await server.stop();
    throw error;
  }
}

/** Measures `queue.submit.100k.*` on two fresh servers; stops both. */
export async function benchQueueDepth(options: QueueBenchOptions): Promise<Numbers> {
  const { connections, log } = options;
  const stages = new Map<Side, Stage>();
  try {
    for (const side of ["empty", "deep"] as const) {
      stages.set(side, await prepare(side, options));
    }
    const runs = new Map<Side, CycleRun[]>([
      ["empty", []],
      ["deep", []],
    ]);
    for (const side of ["empty", "deep"] as const) {
      await cycles(stages.get(side) as Stage, options.warmupMs, connections);
    }
    for (let round = 0; round < options.rounds; round++) {
      const order: Side[] = round % 2 === 0 ? ["empty", "deep"] : ["deep", "empty"];
      for (const side of order) {
        await options.around?.(`queue.${side}`, "start");
        const run = await cycles(stages.get(side) as Stage, options.durationMs / options.rounds, connections);
        await options.around?.(`queue.${side}`, "stop");
        runs.get(side)?.push(run);
      }
    }

    const out: Numbers = { "queue.depth": options.depth, "queue.rounds": options.rounds };
    const cost = new Map<Side, { cyclesPerSec: number; cpuMsPerCycle: number | null }>();
    for (const side of ["empty", "deep"] as const) {
      const sideRuns = runs.get(side) ?? [];
      const latencies = sideRuns.flatMap((r) => r.latencies);
      const seconds = sideRuns.reduce((sum, r) => sum + r.seconds, 0);
      const { rps, p50ms, p99ms } = summarizeLatencies(latencies, seconds);
      // The runtime workerd's CPU: the Worker and the Durable Object, where the queue lives.
      const runtimeCpu = sideRuns.reduce<number | null>(
        (sum, r) => (sum === null || r.cpu === null ? null : sum + r.cpu.runtime),
        0,
      );
      const cpuMsPerCycle = runtimeCpu === null ? null : (runtimeCpu * 1000) / latencies.length;
      const key = side === "empty" ? "queue.submit.empty" : "queue.submit.100k";
      out[`${key}.cyclesPerSec`] = rps;
      out[`${key}.p50ms`] = p50ms;
      out[`${key}.p99ms`] = p99ms;
      if (cpuMsPerCycle !== null) {
        out[`${key}.runtimeCpuMsPerCycle`] = cpuMsPerCycle;
      }
      cost.set(side, { cyclesPerSec: rps, cpuMsPerCycle });
      log(
        `  ${side.padEnd(6)} ${rps.toFixed(0).padStart(6)} cycles/s  p50 ${p50ms.toFixed(1)} ms  p99 ${p99ms.toFixed(1)} ms`,
      );
    }
    const empty = cost.get("empty");
    const deep = cost.get("deep");
    if (empty && deep) {
      out["queue.submit.100k.slowdown"] = empty.cyclesPerSec / deep.cyclesPerSec;
      if (empty.cpuMsPerCycle !== null && deep.cpuMsPerCycle !== null) {
        // The same ratio from the runtime's CPU per cycle: blind to other load on the machine.
        out["queue.submit.100k.cpuSlowdown"] = deep.cpuMsPerCycle / empty.cpuMsPerCycle;
      }
    }
    return out;
  } finally {
    for (const stage of stages.values()) {
      stage.client.close();
      await stage.server.stop();
    }
  }
}
