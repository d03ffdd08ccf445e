/**
 * A Meridian of the bench's own: `wrangler dev` on a free loopback port, a fresh temp state dir and
 * a random admin token, so a bench never reads or writes `npm run dev`'s state.
 *
 * It serves a snapshot of the source taken when it starts (src/, durable-objects/, wrangler.toml
 * copied to a temp dir): `wrangler dev` rebuilds and restarts the Worker whenever a source file
 * changes, and an edit in the working tree during a run would otherwise reset the Worker mid-measurement.
 */
import type { ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { closeSync, openSync, rmSync } from "node:fs";
import { cp, mkdtemp, readFile, rm, symlink } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
// scripts/dev.mjs is plain JS; scripts/dev.d.mts types it.
import { ensureAssets, startWrangler, stopWrangler } from "../scripts/dev.mjs";

/**
 * Config of the bench server: nodes are never suspected or declared dead during a run, and no
 * token is rate-limited.
 */
export const BENCH_VARS = {
  // Nodes that only submit or sit idle for a whole phase must stay healthy (suspect after 2 intervals).
  HEARTBEAT_INTERVAL_MS: "300000",
  NODE_DEAD_AFTER_MS: "600000",
  // The per-token limit (500/s per object) would refuse a route that serves one token faster than
  // that (an election read can); the bench measures cost, not the limiter, which still runs.
  RATE_LIMIT_PER_SEC: "1000000",
  RATE_LIMIT_BURST: "1000000",
  // Likewise the per-tenant submit rate (every bench token is of tenant default): counted, never reached.
  TENANT_TASKS_PER_SEC: "1000000",
  TENANT_TASKS_BURST: "1000000",
} as const;

export interface BenchServer {
  url: string;
  /** The wrangler process; workerd runs as its children (CPU is read for the whole tree). */
  pid: number;
  port: number;
  /** The source snapshot it serves (wrangler's bundle lands in its .wrangler/tmp). */
  sourceDir: string;
  adminToken: string;
  stop(): Promise<void>;
}

/** A free TCP port on 127.0.0.1 (asked of the kernel, then released). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** The known warning of an offline machine (wrangler cannot fetch the real `request.cf`) and its stack. */
const OFFLINE_NOISE = [
  /Unable to fetch the `Request\.cf` object/,
  /^Error: getaddrinfo ENOTFOUND/,
  /^\s+at /,
];

/** wrangler's log without the offline noise, to show when something went wrong. */
async function interestingLog(file: string): Promise<string> {
  const text = await readFile(file, "utf8").catch(() => "");
  return text
    .split("\n")
    .filter((line) => line.trim() !== "" && !OFFLINE_NOISE.some((re) => re.test(line)))
    .join("\n");
}

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");

/**
 * Copies what wrangler builds the Worker from into `dir`; returns the copy's wrangler.toml. The
 * source is this checkout, or the tree named by MERIDIAN_BENCH_SOURCE (to measure a change side by
 * side with the checkout, e.g. a worktree of another branch; its packages still come from here).
 */
async function snapshotSource(dir: string): Promise<string> {
  const source = process.env.MERIDIAN_BENCH_SOURCE || ROOT;
  for (const entry of ["src", "durable-objects", "wrangler.toml", "package.json", "tsconfig.json"]) {
    await cp(join(source, entry), join(dir, entry), { recursive: true });
  }
  // The static assets wrangler.toml names (the dashboard, /docs): served as in production.
  await ensureAssets();
  await cp(join(ROOT, "dist", "assets"), join(dir, "dist", "assets"), { recursive: true });
  // Packages resolve from the snapshot through this link, exactly as from the working tree.
  await symlink(join(ROOT, "node_modules"), join(dir, "node_modules"), "dir");
  return join(dir, "wrangler.toml");
}

/**
 * Starts a fresh server; `stop()` ends it and deletes its state and source snapshot. A failed start
 * is tried once more with a new snapshot (one taken in the middle of someone's edit may not build).
 */
export async function startBenchServer(options: StartOptions = {}): Promise<BenchServer> {
  try {
    return await startOnce(options);
  } catch (error) {
    console.error(`wrangler dev did not start (${error}); trying once more`);
    await new Promise((resolve) => setTimeout(resolve, 2000));
    return startOnce(options);
  }
}

interface StartOptions {
  inspectorPort?: number;
  /** Keep wrangler.toml's timings and limits instead of BENCH_VARS (a bench of the defaults themselves). */
  defaults?: boolean;
}

async function startOnce(options: StartOptions): Promise<BenchServer> {
  const temp = await mkdtemp(join(tmpdir(), "meridian-bench-"));
  const persist = join(temp, "state");
  const sourceDir = join(temp, "source");
  const config = await snapshotSource(sourceDir);
  const adminToken = `bench_admin_${randomBytes(18).toString("base64url")}`;
  const port = await freePort();
  const logFile = join(temp, "wrangler.log");
  const logFd = openSync(logFile, "a");
  let started: { child: ChildProcess; url: string };
  try {
    started = await startWrangler({
      port,
      persist,
      quiet: true,
      vars: { ADMIN_TOKEN: adminToken, ...(options.defaults ? {} : BENCH_VARS) },
      extraArgs: [
        "--config",
        config,
        ...(options.inspectorPort === undefined ? [] : ["--inspector-port", String(options.inspectorPort)]),
      ],
      // Its own process group, so stopping it ends workerd too.
      detached: true,
      // To a file: read back when the start fails, and for warnings once the run is over.
      stdio: ["ignore", logFd, logFd],
    });
  } catch (error) {
    console.error(await interestingLog(logFile));
    await rm(temp, { recursive: true, force: true });
    throw error;
  } finally {
    closeSync(logFd);
  }
  const { child, url } = started;
  const server: BenchServer = {
    url,
    pid: child.pid ?? 0,
    port,
    sourceDir,
    adminToken,
    async stop() {
      live.delete(server);
      await stopWrangler(child, { timeoutMs: 10_000 });
      const log = await interestingLog(logFile);
      if (log !== "") {
        console.error(`wrangler said:\n${log}`);
      }
      await rm(temp, { recursive: true, force: true });
    },
  };
  live.add(server);
  leftovers.set(server, { pid: child.pid ?? 0, temp });
  stopAllOnSignal();
  return server;
}

/** Servers not stopped yet. */
const live = new Set<BenchServer>();
/** What a server leaves behind if the bench exits without stopping it. */
const leftovers = new WeakMap<BenchServer, { pid: number; temp: string }>();
let signalsHandled = false;

/**
 * Ctrl-C or SIGTERM stops every live server before the bench exits: each runs in a process group of
 * its own, which a terminal's Ctrl-C does not reach, so it would outlive the bench.
 */
function stopAllOnSignal(): void {
  if (signalsHandled) {
    return;
  }
  signalsHandled = true;
  // Any other way out (an uncaught error, an emptied event loop): end their process groups, synchronously.
  process.once("exit", () => {
    for (const server of live) {
      const left = leftovers.get(server);
      if (left && left.pid > 0) {
        try {
          process.kill(-left.pid, "SIGTERM");
        } catch {
          // already gone
        }
        rmSync(left.temp, { recursive: true, force: true });
      }
    }
  });
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => {
      console.error(`\n${signal}: stopping ${live.size} bench server(s)`);
      void Promise.allSettled([...live].map((s) => s.stop())).then(() => process.exit(130));
    });
  }
}
