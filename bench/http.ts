/**
 * The HTTP benches: each route alone through the real `wrangler dev` stack, 32 connections, the same
 * measured time each, next to a no-op route (`GET /healthz`) through the same Worker as the limit.
 *
 * The routes take turns: `rounds` rounds of every route in ROUTES, each for duration / rounds.
 * Besides the task routes, three routes are there to split the runtime's CPU between the objects
 * (all of them run in its one process): `edgeOnly` is a submit whose body fails validation (the
 * edge alone: auth from its cache, body read and validated, a 400), `election` a read of an
 * election (the edge and the coordinator), and `submitKeyed` a submit with an idempotency key (the
 * edge, the token's IdempotencyKeys object, the shard), next to the plain submit.
 *
 * Load generator and server share the machine's cores with whatever else runs there, so a change
 * in that other load would otherwise favour whichever route ran at a quiet moment; taking turns
 * spreads it over all routes, and the ratios to noop stay fair.
 */
import { cpuPerObject, type PhaseCpu, startCpuReading } from "./cpu.ts";
import {
  benchTask,
  countItemErrors,
  type Fleet,
  type Lease,
  leaseTasks,
  seedTasks,
  setUpFleet,
} from "./fleet.ts";
import { type Call, combine, drive, type HttpClient, type LoadOptions, type LoadResult } from "./load.ts";
import type { BenchServer } from "./server.ts";

export interface HttpBenchOptions {
  connections: number;
  /** Measured time per route, over all rounds. */
  durationMs: number;
  /** Unmeasured time per route before the first round. */
  warmupMs: number;
  rounds: number;
  log: (line: string) => void;
  /** Called right before and right after each measured run (the profiler hooks in here). */
  around?: (phase: string, moment: "start" | "stop") => Promise<void>;
}

type Numbers = Record<string, number>;
type Workload = Omit<LoadOptions, "connections" | "durationMs">;

const ROUTES = [
  "noop",
  "edgeOnly",
  "submit",
  "submitKeyed",
  "poll",
  "complete",
  "batch",
  "election",
] as const;
type Route = (typeof ROUTES)[number];

/** The election `election` reads (one free candidate, so it has a leader). */
const ELECTION = "bench-e";

/** Cores of this machine, to turn CPU seconds into a share of it. */
function cores(): number {
  return Math.max(1, navigator.hardwareConcurrency);
}

/** Hands out prepared items in order; null once they are used up. */
function supply<T>(items: T[], toCall: (item: T) => Call): () => Call | null {
  let next = 0;
  return () => (next < items.length ? toCall(items[next++] as T) : null);
}

/** The workloads over one fleet; poll and complete draw on work prepared beforehand. */
function workloads(fleet: Fleet, leases: Lease[], collected: Lease[]): Record<Route, Workload> {
  let n = 0;
  const batch = JSON.stringify({ tasks: Array.from({ length: 100 }, (_, i) => benchTask(fleet, i)) });
  // A bench task but for a lease shorter than the minimum (1000 ms): refused once the whole body is read.
  const invalid = JSON.stringify({ ...benchTask(fleet, 0), timeoutMs: 999 });
  // Keys never used before, so every keyed submit claims a new key (the cost of a first submit).
  const keyPrefix = `bench-${Date.now().toString(36)}-`;
  return {
    noop: { next: () => ({ method: "GET", path: "/healthz" }) },
    edgeOnly: {
      next: () => ({ method: "POST", path: "/v1/tasks", token: fleet.clientToken, raw: invalid }),
      ok: (status) => status === 400,
    },
    submit: {
      next: () => ({
        method: "POST",
        path: "/v1/tasks",
        token: fleet.clientToken,
        raw: JSON.stringify(benchTask(fleet, n++)),
      }),
    },
    submitKeyed: {
      next: () => {
        const i = n++;
        return {
          method: "POST",
          path: "/v1/tasks",
          token: fleet.clientToken,
          raw: JSON.stringify({ ...benchTask(fleet, i), idempotencyKey: `${keyPrefix}${i}` }),
        };
      },
      ok: (status) => status === 201,
    },
    election: {
      next: () => ({ method: "GET", path: `/v1/elections/${ELECTION}`, token: fleet.nodeToken }),
    },
    // Every connection is one registered node polling for one task at a time from a full queue.
    poll: {
      next: (worker) => ({
        method: "POST",
        path: `/v1/nodes/${fleet.nodeIds[worker]}/poll`,
        token: fleet.nodeToken,
        raw: '{"max":1}',
      }),
      onAnswer: (_, __, answer) => {
        const tasks = (JSON.parse(answer.text) as { tasks: Lease[] }).tasks;
        if (tasks.length === 0) {
          throw new Error("poll: a poll found the queue empty (a bench sizing bug)");
        }
        for (const t of tasks) {
          collected.push({ id: t.id, leaseToken: t.leaseToken });
        }
      },
    },
    complete: {
      next: supply(leases, (lease) => ({
        method: "POST",
        path: `/v1/tasks/${lease.id}/complete`,
        token: fleet.nodeToken,
        raw: JSON.stringify({ leaseToken: lease.leaseToken, result: { ok: true } }),
      })),
    },
    // 100 tasks per call; every item must be stored, or the run fails.
    batch: {
      next: () => ({ method: "POST", path: "/v1/tasks:batch", token: fleet.clientToken, raw: batch }),
      onAnswer: (_, __, answer) => {
        if (countItemErrors(answer.text) > 0) {
          throw new Error(`batch: items were refused: ${answer.text.slice(0, 300)}`);
        }
      },
    },
  };
}

/** Runs every route of ROUTES on a fresh server; returns the `http.*` and `cpu.msPerOp.*` numbers. */
export async function benchHttp(
  server: BenchServer,
  client: HttpClient,
  options: HttpBenchOptions,
): Promise<Numbers> {
  const { connections, log } = options;
  const fleet = await setUpFleet(
    client,
    server.adminToken,
    "bench-a",
    { lat: 50.11, lon: 8.68 },
    connections,
  );
  const run = (workload: Workload, durationMs: number) =>
    drive(client, { ...workload, connections, durationMs });

  // Size the prepared work from the no-op rate: no route through the same stack is faster than it.
  // Twice that rate for the whole time, as the machine's other load may drop after this estimate.
  const probe = await run(
    { next: () => ({ method: "GET", path: "/healthz" }) },
    Math.max(1000, options.warmupMs),
  );
  const enough =
    Math.ceil(probe.rps * ((options.warmupMs + options.durationMs) / 1000) * 2) + 100 * connections;
  log(`  preparing ${enough} queued tasks for poll and ${enough} leases for complete ...`);
  await client.json({
    method: "POST",
    path: `/v1/elections/${ELECTION}/campaign`,
    token: fleet.nodeToken,
    body: { candidate: "bench-c", ttlMs: 300_000 },
  });
  await seedTasks(client, fleet, 2 * enough);
  const leases = await leaseTasks(client, fleet, enough);

  const collected: Lease[] = [];
  const routes = workloads(fleet, leases, collected);
  for (const route of ROUTES) {
    if (options.warmupMs > 0) {
      await run(routes[route], options.warmupMs);
    }
  }
  const runs = new Map<Route, LoadResult[]>(ROUTES.map((r) => [r, []]));
  const cpu = new Map<Route, (PhaseCpu | null)[]>(ROUTES.map((r) => [r, []]));
  for (let round = 0; round < options.rounds; round++) {
    for (const route of ROUTES) {
      await options.around?.(route, "start");
      const stop = startCpuReading(server.pid, server.port);
      const result = await run(routes[route], options.durationMs / options.rounds);
      cpu.get(route)?.push(stop());
      await options.around?.(route, "stop");
      runs.get(route)?.push(result);
      if (result.errors > 0) {
        throw new Error(`${route}: ${result.errors} requests failed; first: ${result.firstError}`);
      }
      if (result.exhausted) {
        throw new Error(`${route}: ran out of prepared work before the end of the run (a bench sizing bug)`);
      }
    }
  }

  const out: Numbers = { "http.rounds": options.rounds };
  for (const route of ROUTES) {
    const result = combine(runs.get(route) ?? []);
    out[`http.${route}.rps`] = result.rps;
    out[`http.${route}.p50ms`] = result.p50ms;
    out[`http.${route}.p99ms`] = result.p99ms;
    out[`http.${route}.requests`] = result.requests;
    Object.assign(out, cpuNumbers(route, cpu.get(route) ?? [], result));
    log(
      `  ${route.padEnd(11)} ${result.rps.toFixed(0).padStart(6)} req/s  p50 ${result.p50ms.toFixed(1)} ms  p99 ${result.p99ms.toFixed(1)} ms`,
    );
  }
  out["http.batch.tasksPerSec"] = (out["http.batch.rps"] ?? 0) * 100;
  log(`  batch       ${out["http.batch.tasksPerSec"]?.toFixed(0).padStart(6)} tasks/s`);
  return { ...out, ...cpuPerObject(out) };
}

/** CPU per request of each process, and how busy the rest of the machine was. */
function cpuNumbers(route: Route, readings: (PhaseCpu | null)[], result: LoadResult): Numbers {
  if (readings.length === 0 || readings.some((c) => c === null)) {
    return {};
  }
  const total = (pick: (c: PhaseCpu) => number) => readings.reduce((sum, c) => sum + pick(c as PhaseCpu), 0);
  const perRequest = (seconds: number) => (seconds * 1000) / result.requests;
  return {
    [`http.${route}.serverCpuMsPerRequest`]: perRequest(total((c) => c.server)),
    [`http.${route}.runtimeCpuMsPerRequest`]: perRequest(total((c) => c.runtime)),
    [`http.${route}.proxyCpuMsPerRequest`]: perRequest(total((c) => c.proxy)),
    [`http.${route}.clientCpuMsPerRequest`]: perRequest(total((c) => c.loadGenerator)),
    // Share of the machine's cores busy with other work while this ran: 0 means the run had it alone.
    [`http.${route}.otherCpuShare`]: total((c) => c.other) / result.seconds / cores(),
  };
}
