import { describe, expect, it } from "vitest";
import { MeridianClient } from "../../src/sdk/index.ts";
import { AgentProcess, PLACES, readRuns, runLogPath, serverForFile, waitFor } from "./harness.ts";

describe("SIGTERM drains an agent", () => {
  const { server, agents } = serverForFile();
  const runLog = runLogPath();

  it("finishes what it holds, deregisters, and no task is lost or run twice", async () => {
    const tokens = await server.seed({ "eu-central-1": PLACES.frankfurt });
    const client = new MeridianClient({ url: server.url, token: tokens.client });
    const common = { url: server.url, token: tokens.node, region: "eu-central-1", runLog, capacity: 3 };
    const leaving = new AgentProcess({ ...common, name: "leaving" });
    const staying = new AgentProcess({ ...common, name: "staying" });
    agents.push(leaving, staying);
    const leavingNode = await leaving.nodeId();
    await staying.nodeId();

    const results = await client.batch(
      Array.from({ length: 18 }, (_, i) => ({
        type: "work",
        payload: { ms: 700 },
        idempotencyKey: `drain-${i}`,
      })),
    );
    const ids = results.map((r) => {
      if (!("task" in r)) {
        throw new Error(JSON.stringify(r.error));
      }
      return r.task.id;
    });
    // SIGTERM while the leaving agent is in the middle of its tasks.
    await waitFor("the leaving agent to hold tasks", () => {
      const runs = readRuns(runLog).filter((r) => r.node === leavingNode);
      return runs.filter((r) => r.phase === "start").length > runs.filter((r) => r.phase === "end").length;
    });
    const heldAtSignal = new Set(
      readRuns(runLog)
        .filter((r) => r.node === leavingNode && r.phase === "start")
        .map((r) => r.id),
    );
    expect(heldAtSignal.size).toBeGreaterThan(0);
    const signalledAt = Date.now();
    leaving.kill("SIGTERM");
    const exit = await leaving.exited;
    console.log(`SIGTERM → drained and exited after ${Date.now() - signalledAt} ms`);
    expect(exit.code).toBe(0);
    expect(leaving.output()).toMatch(/deregistered/);

    const done = await Promise.all(ids.map((id) => client.waitForResult(id, { timeoutMs: 30_000 })));
    expect(done.map((t) => t.status)).toEqual(ids.map(() => "succeeded"));
    // One attempt each: nothing went back to the queue.
    expect(done.map((t) => t.attempts)).toEqual(ids.map(() => 1));

    const runs = readRuns(runLog);
    for (const id of ids) {
      const mine = runs.filter((r) => r.id === id);
      expect(mine.map((r) => r.phase)).toEqual(["start", "end"]);
    }
    // What it held when signalled, it finished itself.
    for (const id of heldAtSignal) {
      expect(runs.find((r) => r.id === id && r.phase === "end")?.node).toBe(leavingNode);
    }
    // Gone from the fleet, not left to die.
    const { nodes } = await server.api.ok<{ nodes: { id: string }[] }>("GET", "/v1/nodes");
    expect(nodes.map((n) => n.id)).not.toContain(leavingNode);
    const dead = await server.api.ok<{ nodes: { id: string }[] }>("GET", "/v1/nodes?status=dead");
    expect(dead.nodes.map((n) => n.id)).not.toContain(leavingNode);
  });
});
