import { describe, expect, it } from "vitest";
import { MeridianClient } from "../../src/sdk/index.ts";
import { AgentProcess, PLACES, readRuns, runLogPath, serverForFile, waitFor } from "./harness.ts";

describe("the whole runtime restarted on the same state", () => {
  const { server, agents } = serverForFile();

  it("keeps queued work, which runs once agents are back", async () => {
    const tokens = await server.seed({ "eu-central-1": PLACES.frankfurt });
    const runLog = runLogPath();
    const common = { url: server.url, token: tokens.node, region: "eu-central-1", runLog, capacity: 1 };
    const before = new AgentProcess({ ...common, name: "before" });
    agents.push(before);
    await before.nodeId();

    let client = new MeridianClient({ url: server.url, token: tokens.client });
    const results = await client.batch(
      Array.from({ length: 8 }, (_, i) => ({
        type: "work",
        payload: { ms: 400, i },
        location: PLACES.paris,
      })),
    );
    const ids = results.map((r) => ("task" in r ? r.task.id : `refused: ${JSON.stringify(r.error)}`));
    await waitFor("a first task to finish", () => readRuns(runLog).some((r) => r.phase === "end"));

    // Crash everything at once: the agent and the runtime (wrangler and workerd, SIGKILL).
    before.kill("SIGKILL");
    await before.exited;
    await server.stop("SIGKILL");
    const restartedAt = Date.now();

    await server.start(); // same port, same state directory
    client = new MeridianClient({ url: server.url, token: tokens.client });
    // Tokens, regions and every task survived; nothing ran while no agent was there.
    const after = await Promise.all(ids.map((id) => client.get(id)));
    expect(after.map((t) => t.id)).toEqual(ids);
    const unfinished = after.filter((t) => t.status !== "succeeded");
    expect(unfinished.every((t) => ["queued", "leased", "scheduled"].includes(t.status))).toBe(true);
    expect(unfinished.filter((t) => t.status === "queued").length).toBeGreaterThan(0);

    const restarted = new AgentProcess({ ...common, name: "after", capacity: 4 });
    agents.push(restarted);
    await restarted.nodeId();
    const done = await Promise.all(ids.map((id) => client.waitForResult(id, { timeoutMs: 30_000 })));
    expect(done.map((t) => t.status)).toEqual(ids.map(() => "succeeded"));
    // After the restart, each unfinished task ran to the end exactly once, and no finished one ran again.
    const endsAfter = readRuns(runLog).filter((r) => r.phase === "end" && r.at > restartedAt);
    for (const task of after) {
      const expected = task.status === "succeeded" ? 0 : 1;
      expect({ id: task.id, ends: endsAfter.filter((r) => r.id === task.id).length }).toEqual({
        id: task.id,
        ends: expected,
      });
    }
  });
});
