/**
 * `npm run bench:profile -- <phase> [--quick]`: runs the HTTP or queue bench with the Worker's
 * V8 CPU profiler (workerd's inspector, through `wrangler dev --inspector-port`) recording during
 * the measured run of one phase. Writes $TMPDIR/meridian-profiles/<phase>.cpuprofile (open it in
 * Chrome DevTools or speedscope) and the Worker bundle its line numbers refer to
 * (<phase>.worker.js), and prints the functions with the most self and total time.
 *
 * Phases: noop, edgeOnly, submit, submitKeyed, poll, complete, batch, election (HTTP bench);
 * shards.1, shards.2, shards.4, shards.8 (lifecycle over k regions); queue.empty, queue.deep (queue bench);
 * channel.lifecycle, channel.heartbeats, channel.renewals (node channel bench).
 * Only the Worker's isolate is profiled (the Worker and the Durable Object run in it); wrangler's
 * proxy in front of it is a separate workerd process and shows as the no-op route's cost.
 */
import { copyFile, mkdir, readdir, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { benchChannel } from "./channel.ts";
import { benchHttp } from "./http.ts";
import { HttpClient } from "./load.ts";
import { benchQueueDepth, type Side } from "./queue-depth.ts";
import { type BenchServer, freePort, startBenchServer } from "./server.ts";
import { benchShards, REGION_COUNTS } from "./shards.ts";

const CHANNEL_PHASES = ["channel.lifecycle", "channel.heartbeats", "channel.renewals", "channel.keepalives"];

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  hitCount?: number;
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
}

/** A minimal Chrome DevTools Protocol session over the inspector's WebSocket. */
class Inspector {
  private nextId = 1;
  private readonly pending = new Map<number, (result: unknown) => void>();

  private readonly ws: WebSocket;

  // A plain field, not a parameter property: Node runs this file by stripping types, which
  // supports only erasable syntax.
  private constructor(ws: WebSocket) {
    this.ws = ws;
    ws.addEventListener("message", (event) => {
      const message = JSON.parse(String(event.data)) as { id?: number; result?: unknown; error?: unknown };
      // workerd acknowledges some methods (Profiler.enable, .start) by echoing the request: any
      // message with the call's id settles it.
      if (message.id !== undefined) {
        this.pending.get(message.id)?.(message.error ? { error: message.error } : message.result);
        this.pending.delete(message.id);
      }
    });
  }

  static async connect(port: number): Promise<Inspector> {
    const targets = (await (await fetch(`http://127.0.0.1:${port}/json`)).json()) as {
      webSocketDebuggerUrl: string;
    }[];
    const url = targets[0]?.webSocketDebuggerUrl;
    if (!url) {
      throw new Error(`no inspector target on port ${port}`);
    }
    // wrangler's inspector proxy refuses an upgrade without an allowed Origin; undici's WebSocket
    // takes extra headers as a non-standard option, which the DOM typing does not know.
    const ws = new (
      WebSocket as unknown as new (
        url: string,
        init: { headers: Record<string, string> },
      ) => WebSocket
    )(url, { headers: { origin: "http://127.0.0.1" } });
    await new Promise((resolve, reject) => {
      ws.addEventListener("open", resolve, { once: true });
      ws.addEventListener("error", reject, { once: true });
    });
    return new Inspector(ws);
  }

  send<T>(method: string, params: Record<string, unknown> = {}): Promise<T> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.pending.set(id, (result) => resolve(result as T));
      this.ws.send(JSON.stringify({ id, method, params }));
    });
  }

  close(): void {
    this.ws.close();
  }
}

/** Self and total sample counts per function (the same function at every call site summed). */
function summarize(profile: Profile): {
  self: Map<string, number>;
  total: Map<string, number>;
  samples: number;
} {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parentOf = new Map<number, number>();
  for (const node of profile.nodes) {
    for (const child of node.children ?? []) {
      parentOf.set(child, node.id);
    }
  }
  const label = (frame: CallFrame) => {
    const file = frame.url.split("/").slice(-2).join("/");
    return `${frame.functionName || "(anonymous)"}  ${file}:${frame.lineNumber + 1}`;
  };
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  let samples = 0;
  for (const node of profile.nodes) {
    const hits = node.hitCount ?? 0;
    if (hits === 0) {
      continue;
    }
    samples += hits;
    const name = label(node.callFrame);
    self.set(name, (self.get(name) ?? 0) + hits);
    // Count each function once per stack, however deep it recurses.
    const seen = new Set<string>();
    for (let id: number | undefined = node.id; id !== undefined; id = parentOf.get(id)) {
      const frame = byId.get(id)?.callFrame;
      if (frame) {
        const key = label(frame);
        if (!seen.has(key)) {
          seen.add(key);
          total.set(key, (total.get(key) ?? 0) + hits);
        }
      }
    }
  }
  return { self, total, samples };
}

function printTop(title: string, counts: Map<string, number>, samples: number, limit: number): void {
  console.log(`\n${title}`);
  const rows = [...counts.entries()].sort((a, b) => b[1] - a[1]).slice(0, limit);
  for (const [name, hits] of rows) {
    console.log(`${((100 * hits) / samples).toFixed(1).padStart(5)}%  ${name}`);
  }
}

/** Outside the checkout: profiles and bundles are large and never committed. */
const RESULTS = join(tmpdir(), "meridian-profiles");

/** Keeps wrangler's bundle next to the profile: the profile's line numbers point into it. */
async function keepBundle(server: BenchServer | undefined, phase: string): Promise<void> {
  if (!server) {
    return;
  }
  const tmp = join(server.sourceDir, ".wrangler", "tmp");
  const entries = await readdir(tmp, { recursive: true }).catch(() => [] as string[]);
  const bundle = entries.find((entry) => basename(entry) === "index.js");
  if (bundle) {
    await copyFile(join(tmp, bundle), join(RESULTS, `${phase}.worker.js`));
  }
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const phase = args.find((a: string) => !a.startsWith("--"));
  const quick = args.includes("--quick");
  const phases = [
    "noop",
    "edgeOnly",
    "submit",
    "submitKeyed",
    "poll",
    "complete",
    "batch",
    "election",
    ...REGION_COUNTS.map((k) => `shards.${k}`),
    "queue.empty",
    "queue.deep",
    ...CHANNEL_PHASES,
  ];
  if (phase === undefined || !phases.includes(phase)) {
    throw new Error(`usage: npm run bench:profile -- <${phases.join("|")}> [--quick]`);
  }
  await mkdir(RESULTS, { recursive: true });
  const inspectorPort = await freePort();
  let inspector: Inspector | undefined;
  let profiled: BenchServer | undefined;
  let profile: Profile | undefined;
  const around = async (name: string, moment: "start" | "stop") => {
    if (name !== phase || !inspector) {
      return;
    }
    if (moment === "start") {
      await inspector.send("Profiler.enable");
      await inspector.send("Profiler.setSamplingInterval", { interval: 100 });
      await inspector.send("Profiler.start");
    } else {
      profile = (await inspector.send<{ profile: Profile }>("Profiler.stop")).profile;
      await keepBundle(profiled, phase);
    }
  };
  const options = {
    connections: 32,
    durationMs: quick ? 3_000 : 10_000,
    warmupMs: 1_000,
    // One round, so the profile is one contiguous recording.
    rounds: 1,
    log: (line: string) => console.log(line),
    around,
  };
  if (phase.startsWith("queue.")) {
    // Only the profiled side's server gets an inspector port.
    const startServer = async (side: Side) => {
      if (`queue.${side}` !== phase) {
        return startBenchServer();
      }
      profiled = await startBenchServer({ inspectorPort });
      inspector = await Inspector.connect(inspectorPort);
      return profiled;
    };
    try {
      await benchQueueDepth({ ...options, depth: 100_000, startServer });
    } finally {
      inspector?.close();
    }
  } else {
    const server = await startBenchServer({ inspectorPort });
    profiled = server;
    const client = new HttpClient(server.url);
    try {
      inspector = await Inspector.connect(inspectorPort);
      if (phase.startsWith("channel.")) {
        await benchChannel(server, client, { ...options, samples: 1 });
      } else {
        await (phase.startsWith("shards.") ? benchShards : benchHttp)(server, client, options);
      }
    } finally {
      inspector?.close();
      client.close();
      await server.stop();
    }
  }
  if (!profile) {
    throw new Error(`phase ${phase} did not run`);
  }
  const file = join(RESULTS, `${phase}.cpuprofile`);
  await writeFile(file, JSON.stringify(profile));
  const { self, total, samples } = summarize(profile);
  const seconds = (profile.endTime - profile.startTime) / 1e6;
  console.log(`\nprofile of ${phase}: ${samples} samples over ${seconds.toFixed(1)} s, written to ${file}`);
  printTop("self time (top 30)", self, samples, 30);
  printTop("total time (top 40)", total, samples, 40);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
