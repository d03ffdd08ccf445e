#!/usr/bin/env node
// `npm start`: Meridian as `npm run dev` runs it (wrangler dev on 127.0.0.1:8787, PORT overrides,
// state in .wrangler/state), plus a demo: real regions on six continents, a fleet of agents in
// them (one region's fleet is killed now and then and comes back), and a client submitting tasks
// from real cities, with a live view redrawn every second. Ctrl-C stops everything in order.
import { createWriteStream, mkdirSync, openSync } from "node:fs";
import { join } from "node:path";
import { HttpClient } from "../src/sdk/http.ts";
import { MeridianClient } from "../src/sdk/index.ts";
import { DemoFleet } from "./demo/fleet.ts";
import { DemoPushExecutor } from "./demo/push-executor.ts";
import { DemoTracker } from "./demo/tracker.ts";
import { DemoTraffic } from "./demo/traffic.ts";
import { render, type ScheduleLine } from "./demo/view.ts";
import { REGIONS } from "./demo/world.ts";
import { ensureAdminToken, startWrangler, stopWrangler } from "./dev.mjs";

const root = join(import.meta.dirname, "..");
const port = Number(process.env.PORT ?? 8787);
const url = `http://127.0.0.1:${port}`;
const logDir = join(root, ".wrangler", "demo");
const tty = process.stdout.isTTY === true;

/** Whether something already answers on the port (e.g. `npm run dev` in another terminal). */
async function portTaken(): Promise<boolean> {
  try {
    await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(1000) });
    return true;
  } catch {
    return false;
  }
}

if (await portTaken()) {
  console.error(
    `Something already answers on ${url} (npm run dev?). Stop it, or run with PORT=<another port>.`,
  );
  process.exit(1);
}

mkdirSync(logDir, { recursive: true });
const wranglerLog = openSync(join(logDir, "wrangler.log"), "a");
const agentLogPath = join(logDir, "agents.log");
const agentLog = createWriteStream(agentLogPath, { flags: "a" });

const adminToken = ensureAdminToken();
console.log(
  `Starting Meridian on ${url} (wrangler dev; its output goes to ${join(logDir, "wrangler.log")}) ...`,
);
const { child: wrangler } = await startWrangler({
  port,
  detached: true, // its own process group: Ctrl-C reaches this script, which stops it last
  stdio: ["ignore", wranglerLog, wranglerLog],
});

const admin = new HttpClient({ url, token: adminToken });
for (const region of REGIONS) {
  await admin.put(`/v1/regions/${region.id}`, { lat: region.lat, lon: region.lon, label: region.label });
}
const minted: { id: string; token: string }[] = [];
async function mint(role: "node" | "client" | "reader"): Promise<string> {
  const token = await admin.post<{ id: string; token: string }>("/v1/tokens", {
    role,
    label: `npm start demo (${role})`,
  });
  minted.push(token);
  return token.token;
}
const nodeToken = await mint("node");
const clientToken = await mint("client");
const readerToken = await mint("reader");
console.log(`Seeded ${REGIONS.length} regions; starting ${DemoFleet.size} agents ...`);
// Printed before the live view starts, and shown in it on every redraw.
console.log(`Dashboard: ${url}/dashboard  (paste the reader token ${readerToken})`);

const events: { at: number; text: string }[] = [];
const event = (text: string) => {
  events.push({ at: Date.now(), text });
  events.splice(0, Math.max(0, events.length - 20));
  agentLog.write(`${new Date().toISOString()} [demo] ${text}\n`);
};

const fleet = new DemoFleet({ url, nodeToken, log: agentLog, event });
await fleet.start();
// One region has no agents: a push endpoint serves it, an HTTP executor in a process of its own.
const pushed = REGIONS.filter((r) => r.push !== undefined).map(
  (r) => new DemoPushExecutor(admin, r.id, r.push ?? 1, agentLog),
);
await Promise.all(pushed.map((p) => p.start()));

// A schedule (API-v2 §5): a digest of Paris every 10 s, fired by its home region's shard and routed
// like any task; the view shows its last run.
const DEMO_SCHEDULE = "demo-paris-digest";
const clientHttp = new HttpClient({ url, token: clientToken });
await clientHttp.put(`/v1/schedules/${DEMO_SCHEDULE}`, {
  everyMs: 10_000,
  task: { type: "geo.enrich", payload: { city: "Paris" }, location: { lat: 48.8566, lon: 2.3522 } },
  overlap: "skip",
});
const readerHttp = new HttpClient({ url, token: readerToken });

const client = new MeridianClient({ url, token: clientToken });
const tracker = new DemoTracker(new HttpClient({ url, token: readerToken }), client);
const submittedAt: { at: number; n: number }[] = [];
const traffic = new DemoTraffic({
  client,
  onSubmitted: (tasks) => {
    tracker.track(tasks);
    submittedAt.push({ at: Date.now(), n: tasks.length });
  },
  onError: (message) => agentLog.write(`${new Date().toISOString()} [client] ${message}\n`),
});
traffic.start();

const startedAt = Date.now();
let stopping = false;
let drawing = false;
let lastHeight = 0;
async function draw(): Promise<void> {
  if (drawing || stopping) {
    return;
  }
  drawing = true;
  try {
    const [snapshot, schedule] = await Promise.all([
      tracker.snapshot(REGIONS.map((r) => r.id)),
      readerHttp.get<ScheduleLine>(`/v1/schedules/${DEMO_SCHEDULE}`, { timeoutMs: 5000 }).catch(() => null),
    ]);
    await Promise.allSettled(pushed.map((p) => p.refresh()));
    const recent = submittedAt.filter((s) => s.at > Date.now() - 5000);
    submittedAt.splice(0, submittedAt.length - recent.length);
    const screen = render(snapshot, {
      url,
      startedAt,
      adminToken,
      clientToken,
      readerToken,
      regions: REGIONS,
      chaos: fleet.chaos,
      links: fleet.links(),
      push: new Map(pushed.map((p) => [p.region, p.state])),
      events,
      logDir,
      rate: recent.reduce((n, s) => n + s.n, 0) / 5,
      schedule,
      color: tty,
    });
    if (stopping) {
      return;
    }
    if (tty) {
      // Home, each line cleared to its end, then whatever the last screen had below erased.
      const lines = screen.split("\n");
      process.stdout.write(`\x1b[H${lines.map((l) => `${l}\x1b[K`).join("\n")}\n\x1b[J`);
      lastHeight = lines.length;
    } else {
      process.stdout.write(`${screen}\n${"-".repeat(80)}\n`);
    }
  } catch (error) {
    agentLog.write(`${new Date().toISOString()} [view] ${error instanceof Error ? error.message : error}\n`);
  } finally {
    drawing = false;
  }
}
if (tty) {
  process.stdout.write("\x1b[2J");
}
const ticker = setInterval(() => void draw(), 1000);
void draw();

async function shutdown(): Promise<void> {
  stopping = true;
  clearInterval(ticker);
  const began = Date.now();
  console.log(`${tty && lastHeight ? "\n" : ""}Stopping: client, then agents (draining), then Meridian ...`);
  await traffic.stop();
  await clientHttp.delete(`/v1/schedules/${DEMO_SCHEDULE}`, { timeoutMs: 1000 }).catch(() => undefined);
  await fleet.stop();
  await Promise.all(pushed.map((p) => p.stop()));
  // The demo's tokens go with it (the admin token in .dev.vars stays).
  await Promise.allSettled(minted.map((t) => admin.delete(`/v1/tokens/${t.id}`, { timeoutMs: 1000 })));
  await stopWrangler(wrangler, { signal: "SIGTERM", timeoutMs: 3000 });
  agentLog.end();
  console.log(`Stopped in ${((Date.now() - began) / 1000).toFixed(1)} s. State is kept in .wrangler/state.`);
  process.exit(0);
}

let signals = 0;
let firstSignalAt = 0;
function onSignal(): void {
  // npm forwards the terminal's Ctrl-C to us, which also got it directly: one press, two signals.
  if (signals > 0 && Date.now() - firstSignalAt < 1000) {
    return;
  }
  signals++;
  if (signals === 1) {
    firstSignalAt = Date.now();
    void shutdown();
    return;
  }
  console.log("Second Ctrl-C: killing everything now.");
  fleet.killNow();
  void stopWrangler(wrangler, { signal: "SIGKILL", timeoutMs: 500 }).then(() => process.exit(130));
}
process.on("SIGINT", onSignal);
process.on("SIGTERM", onSignal);
// The terminal went away: stop as cleanly as Ctrl-C would (nobody is watching the view).
process.on("SIGHUP", onSignal);
// Never leave agent processes or workerd behind, however this process ends.
process.on("exit", () => {
  fleet.killNow();
  for (const p of pushed) {
    p.killNow();
  }
  if (wrangler.pid && wrangler.exitCode === null) {
    try {
      process.kill(-wrangler.pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
});
wrangler.on("exit", (code) => {
  if (!stopping) {
    console.error(`wrangler dev exited (${code}); see ${join(logDir, "wrangler.log")}`);
    fleet.killNow();
    process.exit(1);
  }
});
