/**
 * The targets of issue 5 and of round 2 (shards), and the printed table: each number next to its
 * target and whether it is met.
 */

type Numbers = Record<string, number>;

/** One target: the measured value, what it must reach, and how it compares. */
interface Target {
  key: string;
  /** The bound, from the run's own numbers where the target is relative; undefined: printed only. */
  bound: (r: Numbers) => number | undefined;
  atMost: boolean;
  describe: string | ((r: Numbers) => string);
}

const TARGETS: Target[] = [
  ...(["submit", "poll", "complete"] as const).map(
    (route): Target => ({
      key: `http.${route}.rps`,
      bound: (r) => (r["http.noop.rps"] === undefined ? undefined : 0.5 * r["http.noop.rps"]),
      atMost: false,
      describe: ">= 0.5 x noop",
    }),
  ),
  {
    key: "http.batch.tasksPerSec",
    bound: (r) => (r["http.submit.rps"] === undefined ? undefined : 20 * r["http.submit.rps"]),
    atMost: false,
    describe: ">= 20 x submit",
  },
  {
    key: "channel.lifecycle.tasksPerSec",
    bound: (r) => noop(r, 15),
    atMost: false,
    describe: ">= 15 x noop",
  },
  {
    key: "push.tasksPerSec",
    bound: () => undefined,
    atMost: false,
    describe: (r) =>
      r["channel.lifecycle.tasksPerSec"] === undefined
        ? "printed"
        : `printed (${((r["push.tasksPerSec"] ?? 0) / r["channel.lifecycle.tasksPerSec"]).toFixed(2)} x channel lifecycle)`,
  },
  ...(["channel.heartbeatsPerSec", "channel.renewalsPerSec"] as const).map(
    (key): Target => ({ key, bound: (r) => noop(r, 5), atMost: false, describe: ">= 5 x noop" }),
  ),
  { key: "channel.keepalivesPerSec", bound: () => undefined, atMost: false, describe: "printed" },
  ...(["channel", "http"] as const).flatMap((via) =>
    (["p50ms", "p99ms"] as const).map(
      (q): Target => ({
        key: `${via}.dispatch.${q}`,
        bound: () => undefined,
        atMost: true,
        describe: "printed",
      }),
    ),
  ),
  { key: "failover.killLeader.p50ms", bound: () => 1500, atMost: true, describe: "<= 1500 ms" },
  { key: "failover.killLeader.maxMs", bound: () => 1500, atMost: true, describe: "<= 1500 ms" },
  { key: "core.pickNode.10k.p99us", bound: () => 20, atMost: true, describe: "<= 20 µs" },
  { key: "core.pickRegion.300.p99us", bound: () => 5, atMost: true, describe: "<= 5 µs" },
  { key: "ring.maxOverAvg", bound: () => 1.25, atMost: true, describe: "<= 1.25" },
  {
    key: "ring.movedFraction",
    bound: (r) => (r["ring.nodes"] === undefined ? undefined : 2 / r["ring.nodes"]),
    atMost: true,
    describe: "<= 2/n",
  },
  { key: "queue.submit.100k.slowdown", bound: () => 1.5, atMost: true, describe: "<= 1.5" },
  {
    key: "shards.lifecycle.tasksPerSec.4",
    bound: (r) => r["shards.lifecycle.tasksPerSec.1"],
    atMost: false,
    describe: (r) => `>= 1 region (CPU/task ${fmt(r["shards.lifecycle.cpuPerTaskVs1.4"])} x of 1 region)`,
  },
  {
    key: "schedules.fire.lagMs.p99",
    bound: () => 1000,
    atMost: true,
    describe: (r) =>
      `<= 1000 ms (${fmt(r["schedules.fire.count"])} schedules due at once; p50 ${fmt(r["schedules.fire.lagMs.p50"])} ms)`,
  },
  {
    key: "events.overhead.ratio",
    bound: () => 1.1,
    atMost: true,
    describe: (r) =>
      `<= 1.1 (tasks/s with no stream ÷ with ${fmt(r["events.streams"])} streams read; ${fmt(r["events.stream.dropped"])} dropped markers)`,
  },
  {
    key: "edge.coordinatorCallsPerTask.hotPath",
    bound: () => 0,
    atMost: true,
    describe: "== 0 (calls of the task routes)",
  },
  {
    key: "edge.coordinatorCallsPerTask",
    bound: () => undefined,
    atMost: true,
    describe: (r) =>
      `printed: table refresh ${fmt(r["edge.coordinatorCallsPerTask.refresh"])}/task, all ${fmt(r["coordinator.callsPerTask.total"])}/task`,
  },
];

/** `factor` × the no-op rate of this run: the http part's, else the one the channel part measured. */
function noop(r: Numbers, factor: number): number | undefined {
  const rps = r["http.noop.rps"] ?? r["channel.noop.rps"];
  return rps === undefined ? undefined : factor * rps;
}

/** The keys issues 5 and round 2 require in every results file. */
export const REQUIRED_KEYS = [
  ...["noop", "submit", "poll", "complete"].flatMap((r) => [
    `http.${r}.rps`,
    `http.${r}.p50ms`,
    `http.${r}.p99ms`,
  ]),
  "http.batch.tasksPerSec",
  "http.batch.p50ms",
  "http.batch.p99ms",
  "core.pickNode.1k.p99us",
  "core.pickNode.10k.p99us",
  "core.pickNode.100k.p99us",
  "core.pickRegion.300.p99us",
  "ring.nodes",
  "ring.maxOverAvg",
  "ring.movedFraction",
  "queue.submit.100k.slowdown",
  ...[1, 2, 4, 8].map((k) => `shards.lifecycle.tasksPerSec.${k}`),
  "edge.coordinatorCallsPerTask",
  "edge.coordinatorCallsPerTask.hotPath",
  "edge.coordinatorCallsPerTask.refresh",
  "edge.coordinatorCalls.routingTable",
  "edge.coordinatorCalls.authenticate",
  "coordinator.callsPerTask.total",
  "http.submitKeyed.rps",
  "http.submitKeyed.p50ms",
  "http.submitKeyed.p99ms",
  // The node channel (API-v2 §4).
  "channel.lifecycle.tasksPerSec",
  "channel.heartbeatsPerSec",
  "channel.renewalsPerSec",
  "channel.dispatch.p50ms",
  "channel.dispatch.p99ms",
  "http.dispatch.p50ms",
  "http.dispatch.p99ms",
  "failover.killLeader.p50ms",
  "failover.killLeader.maxMs",
  // Live events (issue 11).
  "events.overhead.ratio",
  "events.lifecycle.tasksPerSec.none",
  "events.lifecycle.tasksPerSec.streaming",
  // Push delivery (issue 12): tasks a second through one endpoint of capacity 32.
  "push.tasksPerSec",
  // Retention (issue 13): what pruning finished tasks costs.
  "retention.prune.msPerThousand",
  // Schedules (issue 12): how late a slot's task is stored when 1,000 schedules share the slot.
  "schedules.fire.lagMs.p99",
  // Read from /proc: Linux only (CI runs there).
  ...(process.platform === "linux"
    ? [
        "cpu.msPerOp.edge",
        "cpu.msPerOp.shard.submit",
        "cpu.msPerOp.shard.poll",
        "cpu.msPerOp.shard.complete",
        "cpu.msPerOp.coordinator",
        "cpu.msPerOp.idempotencyClaim",
      ]
    : []),
];

function fmt(value: number | undefined): string {
  if (value === undefined) {
    return "-";
  }
  return Math.abs(value) >= 100
    ? value.toFixed(0)
    : Math.abs(value) >= 1
      ? value.toFixed(2)
      : value.toPrecision(3);
}

/** Prints the targets (met or not, with the margin) and then every other number; returns the required keys missing. */
export function printTable(results: Numbers): string[] {
  const rows: string[][] = [["key", "value", "target", "bound", "met"]];
  for (const target of TARGETS) {
    const value = results[target.key];
    const bound = target.bound(results);
    let met = "-";
    if (value !== undefined && bound !== undefined) {
      const ok = target.atMost ? value <= bound : value >= bound;
      // The margin as value ÷ bound: above 1 is better for a floor, below 1 for a ceiling.
      met =
        bound === 0 ? (ok ? "yes" : "NO") : `${ok ? "yes" : "NO"} (${(value / bound).toFixed(2)} of bound)`;
    }
    const describe = typeof target.describe === "string" ? target.describe : target.describe(results);
    rows.push([target.key, fmt(value), describe, fmt(bound), met]);
  }
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((row) => (row[c] ?? "").length)));
  console.log("\nTargets");
  for (const row of rows) {
    console.log(row.map((cell, c) => cell.padEnd(widths[c] ?? 0)).join("  "));
  }
  console.log("\nAll numbers");
  const keyWidth = Math.max(...Object.keys(results).map((k) => k.length));
  for (const [key, value] of Object.entries(results)) {
    console.log(`${key.padEnd(keyWidth)}  ${value}`);
  }
  const missing = REQUIRED_KEYS.filter((key) => results[key] === undefined);
  if (missing.length > 0) {
    console.log(`\nnot measured in this run: ${missing.join(", ")}`);
  }
  return missing;
}
