import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { MeridianClient, type TaskView } from "../../src/sdk/index.ts";
import { AgentProcess, type Api, PLACES, readRuns, runLogPath, Server, TIMINGS, waitFor } from "./harness.ts";

describe("an agent that crashes or freezes mid-task", () => {
  const server = new Server();
  const agents: AgentProcess[] = [];
  let tokens: Awaited<ReturnType<Server["seed"]>>;
  let client: MeridianClient;
  let api: Api;

  beforeAll(async () => {
    await server.start();
    tokens = await server.seed({ "eu-central-1": PLACES.frankfurt });
    client = new MeridianClient({ url: server.url, token: tokens.client });
    api = server.api;
  });

  // Each test starts from a region without nodes: the survivors drain and deregister.
  afterEach(async () => {
    for (const a of agents.splice(0)) {
      a.kill("SIGCONT");
      a.kill("SIGTERM");
      await a.exited;
    }
  });

  afterAll(async () => {
    await server.dispose();
  });

  function agent(name: string, runLog: string): AgentProcess {
    const a = new AgentProcess({ url: server.url, token: tokens.node, region: "eu-central-1", name, runLog });
    agents.push(a);
    return a;
  }

  /**
   * Starts two agents, submits one task, and resolves once one of them runs it: that one is
   * `first` (to be crashed or frozen), the other one `second`.
   */
  async function taskRunningOn(runLog: string, body: Record<string, unknown>) {
    const pair = [agent(`a-${agents.length}`, runLog), agent(`b-${agents.length + 1}`, runLog)];
    const ids = await Promise.all(pair.map((a) => a.nodeId()));
    const task = await client.submit({ type: "work", region: "eu-central-1", ...body });
    const started = await waitFor("an agent to start the task", () =>
      readRuns(runLog).find((r) => r.id === task.id && r.phase === "start"),
    );
    const i = ids.indexOf(started.node);
    expect(i).toBeGreaterThanOrEqual(0);
    return { task, first: pair[i]!, firstNode: ids[i]!, second: pair[1 - i]!, secondNode: ids[1 - i]! };
  }

  it("kill -9: the task completes on another node once the node deadline passes, with one outcome", async () => {
    const runLog = runLogPath();
    // A lease far longer than the node deadline: recovery must come from the node's death.
    const { task, first, firstNode, secondNode } = await taskRunningOn(runLog, {
      payload: { ms: 3000 },
      timeoutMs: 60_000,
    });
    const killedAt = Date.now();
    first.kill("SIGKILL");
    const done = await client.waitForResult(task.id, {
      timeoutMs: 20_000,
      intervalMs: 50,
      maxIntervalMs: 100,
    });
    const recoveredMs = Date.now() - killedAt;
    const restart = readRuns(runLog).find((r) => r.id === task.id && r.node === secondNode)!;
    console.log(
      `kill -9 → another node started the task after ${restart.at - killedAt} ms, succeeded after ${recoveredMs} ms`,
    );

    expect(done.status).toBe("succeeded");
    expect(done.attempts).toBe(2);
    expect(done.nodeId).toBe(secondNode);
    expect((done.result as { node: string }).node).toBe(secondNode);
    // Dead at most NODE_DEAD_AFTER_MS (+ one heartbeat) after the kill; then a retry back-off
    // (at most 1 s for the first retry) and the 1.5 s of work.
    expect(recoveredMs).toBeLessThan(
      TIMINGS.NODE_DEAD_AFTER_MS + TIMINGS.HEARTBEAT_INTERVAL_MS + 1000 + 1500 + 1500,
    );

    const runs = readRuns(runLog).filter((r) => r.id === task.id);
    expect(runs.filter((r) => r.phase === "start").map((r) => r.node)).toEqual([firstNode, secondNode]);
    expect(runs.filter((r) => r.phase === "end").map((r) => r.node)).toEqual([secondNode]);
    await expectSettled(done);
  });

  it("a frozen agent that wakes up after losing its lease records nothing", async () => {
    const runLog = runLogPath();
    // Short lease: recovery comes from the lease running out (or the node deadline, whichever is first).
    const { task, first, firstNode, secondNode } = await taskRunningOn(runLog, {
      payload: { ms: 2500 },
      timeoutMs: 2000,
    });
    first.kill("SIGSTOP");
    const done = await client.waitForResult(task.id, {
      timeoutMs: 20_000,
      intervalMs: 50,
      maxIntervalMs: 100,
    });
    expect(done.status).toBe("succeeded");
    expect(done.nodeId).toBe(secondNode);

    first.kill("SIGCONT");
    // It finishes its stale run, learns its node was declared dead, and registers again.
    await first.waitForLine(/declared this node dead|lease was lost|not recorded/, 10_000);
    await waitFor("the first agent to finish its stale run", () =>
      readRuns(runLog).some((r) => r.id === task.id && r.phase === "end" && r.node === firstNode),
    );
    const after = await client.get(task.id);
    expect(after.result).toEqual(done.result);
    expect(after.updatedAt).toBe(done.updatedAt);
    expect(after.attempts).toBe(2);
    await expectSettled(done);
  });

  /** Nothing else is recorded for the task later on. */
  async function expectSettled(done: TaskView): Promise<void> {
    await new Promise((r) => setTimeout(r, 1000));
    const later = await api.ok<TaskView>("GET", `/v1/tasks/${done.id}`);
    expect(later).toEqual(done);
  }
});
