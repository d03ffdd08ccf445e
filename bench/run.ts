/**
 * `npm run bench [-- --quick] [-- --only core,balance,http,channel,failover,shards,queue,events,retention,push,schedules]`: measures Meridian against its
 * own limits, prints a table with the targets of issue 5, and writes bench/results/latest.json
 * (one flat object of numbers). Timings are never asserted; a missed target is printed, not fatal.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { benchBalance } from "./balance.ts";
import { benchChannel } from "./channel.ts";
import { benchCore } from "./core.ts";
import { benchEvents } from "./events.ts";
import { benchFailover } from "./failover.ts";
import { benchHttp } from "./http.ts";
import { HttpClient } from "./load.ts";
import { benchPush } from "./push.ts";
import { benchQueueDepth } from "./queue-depth.ts";
import { benchRetention } from "./retention.ts";
import { benchSchedules } from "./schedules.ts";
import { type BenchServer, startBenchServer } from "./server.ts";
import { benchShards } from "./shards.ts";
import { tidy } from "./stats.ts";
import { printTable } from "./table.ts";

const PARTS = [
  "core",
  "balance",
  "http",
  "channel",
  "failover",
  "shards",
  "queue",
  "events",
  "retention",
  "push",
  "schedules",
] as const;
type Part = (typeof PARTS)[number];

interface Settings {
  quick: boolean;
  parts: Set<Part>;
  out: string;
}

function parseArgs(argv: string[]): Settings {
  const here = dirname(fileURLToPath(import.meta.url));
  const settings: Settings = {
    quick: false,
    parts: new Set(PARTS),
    out: join(here, "results", "latest.json"),
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const [flag, inline] = arg.split("=", 2) as [string, string | undefined];
    const value = () => inline ?? argv[++i] ?? "";
    if (flag === "--quick") {
      settings.quick = true;
    } else if (flag === "--only") {
      const wanted = value().split(",");
      for (const part of wanted) {
        if (!(PARTS as readonly string[]).includes(part)) {
          throw new Error(`--only takes ${PARTS.join(",")}; got ${part}`);
        }
      }
      settings.parts = new Set(wanted as Part[]);
    } else if (flag === "--out") {
      settings.out = value();
    } else {
      throw new Error(`unknown argument ${arg} (use --quick, --only <parts>, --out <file>)`);
    }
  }
  return settings;
}

const log = (line: string) => console.log(line);

/** Starts a fresh server, runs `fn` against it and always stops it. */
async function withServer<T>(
  fn: (server: BenchServer, client: HttpClient) => Promise<T>,
  options: { defaults?: boolean } = {},
): Promise<T> {
  const server = await startBenchServer(options);
  const client = new HttpClient(server.url);
  try {
    return await fn(server, client);
  } finally {
    client.close();
    await server.stop();
  }
}

async function main(): Promise<void> {
  const settings = parseArgs(process.argv.slice(2));
  const quick = settings.quick;
  const began = performance.now();
  const results: Record<string, number> = {
    "meta.quick": quick ? 1 : 0,
    "meta.startedAt": Date.now(),
    "meta.cpus": navigator.hardwareConcurrency,
  };
  console.log(
    `Meridian bench (${quick ? "quick" : "full"} run) on ${navigator.hardwareConcurrency} CPUs, Node ${process.version}`,
  );

  if (settings.parts.has("core")) {
    log("core: per-call latency");
    Object.assign(results, benchCore({ calls: quick ? 100_000 : 1_000_000, log }));
  }
  if (settings.parts.has("balance")) {
    log("balance: placement and hash rings");
    Object.assign(results, benchBalance({ tasks: 1_000_000, keys: 1_000_000, ringNodes: 100, log }));
  }
  const http = {
    connections: 32,
    durationMs: quick ? 2_000 : 12_000,
    warmupMs: quick ? 500 : 2_000,
    rounds: quick ? 1 : 4,
    log,
  };
  results["meta.http.connections"] = http.connections;
  results["meta.http.durationMs"] = http.durationMs;
  if (settings.parts.has("http")) {
    log(
      `http: each route alone, ${http.connections} connections, ${http.durationMs / 1000} s each in ${http.rounds} turn(s) (wrangler dev)`,
    );
    Object.assign(results, await withServer((server, client) => benchHttp(server, client, http)));
  }
  if (settings.parts.has("channel")) {
    const channel = {
      connections: http.connections,
      durationMs: quick ? 2_000 : 10_000,
      warmupMs: quick ? 300 : 1_000,
      samples: quick ? 50 : 200,
      noopRps: results["http.noop.rps"],
      log,
    };
    log(
      `channel: ${channel.connections} node channels (lifecycle, heartbeats, renewals ${channel.durationMs / 1000} s each; dispatch ${channel.samples} samples per transport)`,
    );
    Object.assign(results, await withServer((server, client) => benchChannel(server, client, channel)));
  }
  if (settings.parts.has("failover")) {
    const kills = 5;
    log(`failover: kill -9 of the leading agent process, ${kills} times (wrangler.toml's own timings)`);
    Object.assign(
      results,
      await withServer((server, client) => benchFailover(server, client, { kills, log }), { defaults: true }),
    );
  }
  if (settings.parts.has("shards")) {
    // At least two turns even when quick: the order rotates, so no region count always goes first.
    const shards = { ...http, durationMs: quick ? 6_000 : 12_000, rounds: Math.max(2, http.rounds) };
    log(
      `shards: submit 100 / poll 100 / report 100 over 1, 2, 4 and 8 regions, ${shards.connections} connections, ${shards.durationMs / 1000} s each in ${shards.rounds} turns`,
    );
    Object.assign(results, await withServer((server, client) => benchShards(server, client, shards)));
  }
  if (settings.parts.has("queue")) {
    log(
      "queue: submit + poll cycles, empty task table vs 100k queued tasks (two fresh wrangler dev, taking turns)",
    );
    Object.assign(
      results,
      // At least two turns each even when quick: the order alternates, so neither side always goes first.
      await benchQueueDepth({
        ...http,
        rounds: Math.max(2, http.rounds),
        depth: 100_000,
        startServer: () => startBenchServer(),
      }),
    );
  }
  if (settings.parts.has("events")) {
    // At least two turns each even when quick: the order alternates, so neither side always goes first.
    const events = {
      ...http,
      durationMs: quick ? 6_000 : 12_000,
      rounds: Math.max(2, http.rounds),
      streams: 10,
    };
    log(
      `events: submit 100 / poll 100 / report 100 in one region, ${events.connections} connections, with no event stream vs ${events.streams} streams read, ${events.durationMs / 1000} s each in ${events.rounds} turns`,
    );
    Object.assign(results, await withServer((server, client) => benchEvents(server, client, events)));
  }
  if (settings.parts.has("retention")) {
    log(
      "retention: alarm prune passes over 100k finished tasks beside 10k queued (the shard's code on Node's SQLite)",
    );
    Object.assign(results, await benchRetention({ finished: 100_000, live: 10_000, log }));
  }
  if (settings.parts.has("push")) {
    const push = { durationMs: quick ? 3_000 : 10_000, warmupMs: quick ? 500 : 2_000, capacity: 32, log };
    log(
      `push: one region served by a push endpoint of capacity ${push.capacity} (a no-op HTTP executor in this process), ${push.durationMs / 1000} s`,
    );
    Object.assign(results, await withServer((server, client) => benchPush(server, client, push)));
  }
  if (settings.parts.has("schedules")) {
    const count = 1000;
    log(`schedules: ${count} schedules due in the same second in one region; lag from slot to stored task`);
    Object.assign(
      results,
      await withServer((server, client) => benchSchedules(server, client, { count, log })),
    );
  }
  results["meta.seconds"] = (performance.now() - began) / 1000;

  const tidied = Object.fromEntries(Object.entries(results).map(([k, v]) => [k, tidy(v)]));
  const missing = printTable(tidied);
  await mkdir(dirname(settings.out), { recursive: true });
  await writeFile(settings.out, `${JSON.stringify(tidied, null, 2)}\n`);
  console.log(
    `\nwrote ${settings.out} (${Object.keys(tidied).length} numbers) in ${tidied["meta.seconds"]} s`,
  );
  if (settings.parts.size === PARTS.length && missing.length > 0) {
    // A complete run that lacks a required key is a broken bench, whatever the numbers say.
    process.exitCode = 1;
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
