/**
 * `failover.killLeader`: `kill -9` of the process of an election's leader → another candidate
 * leads, as `GET /v1/elections/{name}` shows it (read every 10 ms). Three `meridian-agent`
 * processes (the CLI, over node channels, `--campaign`), against a server with wrangler.toml's own
 * timings: NODE_DEAD_AFTER_MS and CHANNEL_GRACE_MS as a deployment gets them. Each round kills the
 * leader and starts a new agent in its place, so every round starts from three live candidates.
 *
 * What it measures: the socket's close reaching the shard, the grace period, the reaper's alarm,
 * the node_gone report to the coordinator and the election passing on. The new leader's process
 * learns it by a pushed `leader` frame a few ms later (test/e2e/channel-failover.test.ts checks that).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { HttpClient } from "./load.ts";
import type { BenchServer } from "./server.ts";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const REGION = "failover-bench";
const ELECTION = "bench-leader";
const CANDIDATES = 3;

export interface FailoverBenchOptions {
  kills: number;
  log: (line: string) => void;
}

interface ElectionView {
  leader: { candidate: string; term: number } | null;
}

/** One agent process; resolves `ready` with its node id once its channel is open. */
class AgentProcess {
  readonly child: ChildProcess;
  readonly ready: Promise<string>;
  private output = "";

  constructor(server: BenchServer, token: string) {
    this.child = spawn(
      process.execPath,
      [
        join(ROOT, "bin", "meridian-agent.mjs"),
        "--url",
        server.url,
        "--region",
        REGION,
        "--campaign",
        ELECTION,
        join(ROOT, "examples", "demo-handlers.ts"),
      ],
      { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, MERIDIAN_TOKEN: token } },
    );
    this.ready = new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`agent: no open channel within 20 s:\n${this.output}`)),
        20_000,
      );
      const read = (chunk: Buffer) => {
        this.output += chunk.toString("utf8");
        const node = this.output.match(/\[agent \S+ (node-\S+)\] registered in/)?.[1];
        if (node && /\bchannel open\b/.test(this.output)) {
          clearTimeout(timer);
          resolve(node);
        }
      };
      this.child.stdout?.on("data", read);
      this.child.stderr?.on("data", read);
      this.child.once("exit", (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`agent exited (${code ?? signal}) before its channel opened:\n${this.output}`));
      });
    });
    this.ready.catch(() => {}); // read by whoever awaits it
  }

  kill(): void {
    this.child.kill("SIGKILL");
  }
}

/** Reads `read` every `everyMs` until it returns a value (or throws after `timeoutMs`). */
async function until<T>(
  what: string,
  read: () => Promise<T | undefined>,
  timeoutMs: number,
  everyMs: number,
) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (value !== undefined) {
      return value;
    }
    if (Date.now() > deadline) {
      throw new Error(`failover bench: ${what} not seen within ${timeoutMs} ms`);
    }
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

export async function benchFailover(
  server: BenchServer,
  client: HttpClient,
  options: FailoverBenchOptions,
): Promise<Record<string, number>> {
  const admin = server.adminToken;
  const { token } = await client.json<{ token: string }>({
    method: "POST",
    path: "/v1/tokens",
    token: admin,
    body: { role: "node", label: "failover bench" },
  });
  await client.json({
    method: "PUT",
    path: `/v1/regions/${REGION}`,
    token: admin,
    body: { lat: 50.1, lon: 8.7 },
  });
  const leaderNow = async () =>
    (await client.json<ElectionView>({ method: "GET", path: `/v1/elections/${ELECTION}`, token: admin }))
      .leader ?? undefined;

  const live = new Map<string, AgentProcess>();
  const spawnAgent = async () => {
    const agent = new AgentProcess(server, token);
    live.set(await agent.ready, agent);
  };
  const samples: number[] = [];
  try {
    await Promise.all(Array.from({ length: CANDIDATES }, spawnAgent));
    for (let round = 1; round <= options.kills; round++) {
      const leader = await until(
        "a leader among the live agents",
        async () => {
          const now = await leaderNow();
          return now && live.has(now.candidate) ? now : undefined;
        },
        20_000,
        50,
      );
      const killedAt = performance.now();
      live.get(leader.candidate)?.kill();
      live.delete(leader.candidate);
      const next = await until(
        "another leader",
        async () => {
          const now = await leaderNow();
          return now && now.candidate !== leader.candidate ? now : undefined;
        },
        30_000,
        10,
      );
      const ms = performance.now() - killedAt;
      samples.push(ms);
      options.log(
        `  kill ${round}: ${leader.candidate} (term ${leader.term}) → ${next.candidate} (term ${next.term}) after ${ms.toFixed(0)} ms`,
      );
      if (next.term <= leader.term) {
        throw new Error(`failover bench: the term did not grow (${leader.term} → ${next.term})`);
      }
      await spawnAgent();
    }
  } finally {
    for (const agent of live.values()) {
      agent.kill();
    }
  }
  const sorted = [...samples].sort((a, b) => a - b);
  return {
    "failover.killLeader.p50ms": sorted[Math.ceil(sorted.length / 2) - 1] ?? Number.NaN,
    "failover.killLeader.maxMs": sorted[sorted.length - 1] ?? Number.NaN,
    "failover.killLeader.kills": samples.length,
  };
}
