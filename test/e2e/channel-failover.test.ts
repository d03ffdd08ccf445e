import { describe, expect, it } from "vitest";
import { MeridianClient, type TaskView } from "../../src/sdk/index.ts";
import {
  AgentProcess,
  PLACES,
  readRuns,
  runLogPath,
  serverForFile,
  type Timings,
  waitFor,
} from "./harness.ts";

const ELECTION = "leader:eu-central-1";
const REGION = "eu-central-1";
/** The server's defaults (wrangler.toml): a kill must be detected by the channel's grace period (CHANNEL_GRACE_MS, 1 s), not by NODE_DEAD_AFTER_MS. */
const DEFAULTS: Timings = { HEARTBEAT_INTERVAL_MS: 2000, NODE_DEAD_AFTER_MS: 10_000 };
const KILLS = 5;
/** How long the leader's task blocks: it is still running when its process is killed. */
const TASK_MS = 2000;

interface ElectionView {
  leader: { candidate: string; term: number } | null;
  term: number;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

describe("leader failover over node channels, with the server's default timings", () => {
  const { server, agents } = serverForFile(DEFAULTS);

  it(`kill -9 of the leader holding a task (${KILLS} times): a higher term elsewhere, the task leased again with one outcome`, async () => {
    const tokens = await server.seed({ [REGION]: PLACES.frankfurt });
    const client = new MeridianClient({ url: server.url, token: tokens.client });
    const runLog = runLogPath();
    const election = () => server.api.ok<ElectionView>("GET", `/v1/elections/${ELECTION}`);
    let names = 0;
    /** A new agent on the channel, campaigning; resolves once its channel is open. */
    const spawnAgent = async (): Promise<{ agent: AgentProcess; node: string }> => {
      const agent = new AgentProcess({
        url: server.url,
        token: tokens.node,
        region: REGION,
        name: String.fromCharCode(97 + names++),
        runLog,
        capacity: 2,
        campaign: [ELECTION],
      });
      agents.push(agent);
      const node = await agent.nodeId();
      await agent.waitForLine(/\bchannel open\b/);
      return { agent, node };
    };
    let live: { agent: AgentProcess; node: string }[] = await Promise.all([
      spawnAgent(),
      spawnAgent(),
      spawnAgent(),
    ]);
    const detectMs: number[] = [];
    const pending: string[] = [];

    for (let round = 1; round <= KILLS; round++) {
      // Each round starts from idle agents: every task so far has finished.
      for (const id of pending.splice(0)) {
        expect((await client.waitForResult(id, { timeoutMs: 30_000, intervalMs: 50 })).status).toBe(
          "succeeded",
        );
      }
      const first = await waitFor("a live leader", async () => {
        const view = await election();
        return view.leader && live.some((l) => l.node === view.leader!.candidate) ? view.leader : undefined;
      });
      const leader = live.find((l) => l.node === first.candidate)!;
      await leader.agent.waitForLine(new RegExp(`leads ${ELECTION}, term ${first.term}\\b`));

      // Tasks until the leader runs one (each agent takes up to 2 at once).
      let held: string | undefined;
      for (let n = 0; !held; n++) {
        expect(n).toBeLessThan(2 * live.length);
        const task = await client.submit({
          type: "work",
          region: REGION,
          payload: { ms: TASK_MS },
          timeoutMs: 60_000,
        });
        pending.push(task.id);
        const start = await waitFor("an agent to start the task", () =>
          readRuns(runLog).find((r) => r.id === task.id && r.phase === "start"),
        );
        if (start.node === leader.node) {
          held = task.id;
        }
      }

      const killedAt = Date.now();
      leader.agent.kill("SIGKILL");
      const next = await waitFor(
        "another leader",
        async () => {
          const view = await election();
          return view.leader && view.leader.candidate !== first.candidate ? view.leader : undefined;
        },
        30_000,
        20,
      );
      const newLeaderMs = Date.now() - killedAt;
      detectMs.push(newLeaderMs);
      live = live.filter((l) => l !== leader);
      expect(next.term).toBeGreaterThan(first.term);
      const successor = live.find((l) => l.node === next.candidate);
      expect(successor).toBeDefined();
      // The successor's process learns it (pushed over its channel).
      const learned = await successor!.agent.waitForLine(
        new RegExp(`leads ${ELECTION}, term ${next.term}\\b`),
      );

      const done: TaskView = await client.waitForResult(held!, {
        timeoutMs: 30_000,
        intervalMs: 50,
        maxIntervalMs: 100,
      });
      const runs = readRuns(runLog).filter((r) => r.id === held);
      const restart = runs.find((r) => r.phase === "start" && r.node !== leader.node);
      console.log(
        `kill ${round}: new leader ${next.candidate} (term ${first.term} → ${next.term}) observed after ${newLeaderMs} ms, ` +
          `its agent knew after ${learned.at - killedAt} ms; the task restarted on ${restart?.node} after ` +
          `${restart ? restart.at - killedAt : "?"} ms, done after ${Date.now() - killedAt} ms`,
      );
      expect(done.status).toBe("succeeded");
      expect(done.attempts).toBe(2);
      expect(done.nodeId).not.toBe(leader.node);
      expect(runs.filter((r) => r.phase === "start").map((r) => r.node)).toEqual([leader.node, done.nodeId]);
      expect(runs.filter((r) => r.phase === "end").map((r) => r.node)).toEqual([done.nodeId]);

      // The old term no longer passes the fence.
      expect(
        (await server.api.call("POST", `/v1/elections/${ELECTION}/fence`, { term: first.term })).status,
      ).toBe(409);
      // Back to three candidates.
      live.push(await spawnAgent());
    }

    // Nothing ran twice to the end, nor was recorded twice, once everything has settled.
    for (const id of pending.splice(0)) {
      expect((await client.waitForResult(id, { timeoutMs: 30_000, intervalMs: 50 })).status).toBe(
        "succeeded",
      );
    }
    const ends = readRuns(runLog).filter((r) => r.phase === "end");
    expect(new Set(ends.map((r) => r.id)).size).toBe(ends.length);

    const sorted = [...detectMs].sort((a, b) => a - b);
    console.log(
      `kill -9 → new leader observed (n=${sorted.length}, heartbeat ${DEFAULTS.HEARTBEAT_INTERVAL_MS} ms, ` +
        `NODE_DEAD_AFTER_MS ${DEFAULTS.NODE_DEAD_AFTER_MS}): p50 ${percentile(sorted, 50)} ms, ` +
        `max ${sorted[sorted.length - 1]} ms (all: ${detectMs.join(", ")})`,
    );
  }, 180_000);
});
