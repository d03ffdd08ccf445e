/**
 * Schedule firing under a storm: `count` schedules (1,000) share one slot in one region, and each
 * run's lag is how long after its slot its task was stored (`task.createdAt - slot`, both the
 * server's clock; the slot is read from the task's idempotency key `schedule:{id}:{slot}`). It
 * includes the alarm's own wake-up delay, the decision commit, and the runs' placement through the
 * edge's routing (one key claim and one submit per region for the whole batch). Printed, never asserted.
 */
import type { HttpClient } from "./load.ts";
import type { BenchServer } from "./server.ts";
import { percentile } from "./stats.ts";

export interface SchedulesBenchOptions {
  count: number;
  log: (line: string) => void;
}

type Numbers = Record<string, number>;

interface TaskRow {
  idempotencyKey: string | null;
  scheduleId: string | null;
  createdAt: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function benchSchedules(
  server: BenchServer,
  client: HttpClient,
  options: SchedulesBenchOptions,
): Promise<Numbers> {
  const admin = server.adminToken;
  await client.json({
    method: "PUT",
    path: "/v1/regions/bench-sched",
    token: admin,
    body: { lat: 50.1, lon: 8.7 },
  });
  const node = await client.json<{ token: string }>({
    method: "POST",
    path: "/v1/tokens",
    token: admin,
    body: { role: "node" },
  });
  await client.json({
    method: "POST",
    path: "/v1/nodes",
    token: node.token,
    body: { region: "bench-sched", capacity: 10_000 },
  });
  const { token } = await client.json<{ token: string }>({
    method: "POST",
    path: "/v1/tokens",
    token: admin,
    body: { role: "client" },
  });

  // Every schedule's first slot is the same instant, far enough ahead for the PUTs to finish.
  const slot = Math.ceil((Date.now() + 20_000) / 1000) * 1000;
  const began = performance.now();
  const ids = Array.from({ length: options.count }, (_, i) => `storm-${i}`);
  for (let i = 0; i < ids.length; i += 32) {
    await Promise.all(
      ids.slice(i, i + 32).map((id) =>
        client.json({
          method: "PUT",
          path: `/v1/schedules/${id}`,
          token,
          body: { everyMs: 3_600_000, startAt: slot, task: { type: "storm", region: "bench-sched" } },
        }),
      ),
    );
  }
  const putMs = performance.now() - began;
  options.log(`  ${options.count} schedules created in ${Math.round(putMs)} ms; all due at one slot`);
  if (Date.now() >= slot - 1000) {
    throw new Error("schedules: the PUTs took too long to leave time before the shared slot");
  }
  await sleep(slot - Date.now() + 500);

  // Read the tasks until every schedule has stored its run (or 60 s pass).
  const deadline = Date.now() + 60_000;
  let runs: TaskRow[] = [];
  while (Date.now() < deadline) {
    runs = [];
    let cursor: string | null = null;
    do {
      const query: string = `/v1/tasks?region=bench-sched&limit=500${cursor ? `&cursor=${cursor}` : ""}`;
      const page: { tasks: TaskRow[]; cursor: string | null } = await client.json({
        method: "GET",
        path: query,
        token,
      });
      runs.push(...page.tasks.filter((t) => t.scheduleId !== null));
      cursor = page.cursor;
    } while (cursor !== null);
    if (runs.length >= options.count) {
      break;
    }
    await sleep(250);
  }
  if (runs.length !== options.count || new Set(runs.map((r) => r.scheduleId)).size !== options.count) {
    throw new Error(`schedules: ${runs.length} runs stored for ${options.count} schedules`);
  }
  const lags = runs
    .map((r) => r.createdAt - Number(r.idempotencyKey!.split(":").pop()))
    .sort((a, b) => a - b);
  return {
    "schedules.fire.count": options.count,
    "schedules.fire.lagMs.p50": percentile(lags, 0.5),
    "schedules.fire.lagMs.p99": percentile(lags, 0.99),
    "schedules.fire.lagMs.max": lags[lags.length - 1]!,
    "schedules.put.msPerSchedule": putMs / options.count,
  };
}
