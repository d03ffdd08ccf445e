import { describe, expect, it } from "vitest";
import { AgentProcess, PLACES, runLogPath, serverForFile, TIMINGS, waitFor } from "./harness.ts";

const ELECTION = "leader:eu-central-1";

interface ElectionView {
  leader: { candidate: string; term: number } | null;
  term: number;
}

describe("leader election among agents", () => {
  const { server, agents } = serverForFile();

  it("after the leader is killed, another agent leads with a higher term within NODE_DEAD_AFTER_MS plus a heartbeat", async () => {
    const tokens = await server.seed({ "eu-central-1": PLACES.frankfurt });
    const runLog = runLogPath();
    for (const name of ["a", "b", "c"]) {
      agents.push(
        new AgentProcess({
          url: server.url,
          token: tokens.node,
          region: "eu-central-1",
          name,
          runLog,
          campaign: [ELECTION],
        }),
      );
    }
    const nodeIds = await Promise.all(agents.map((a) => a.nodeId()));
    const election = () => server.api.ok<ElectionView>("GET", `/v1/elections/${ELECTION}`);
    const first = await waitFor("a leader", async () => (await election()).leader ?? undefined);
    const leaderIndex = nodeIds.indexOf(first.candidate);
    expect(leaderIndex).toBeGreaterThanOrEqual(0);
    const leader = agents[leaderIndex]!;
    // The leader's own process knows it leads, with the coordinator's term.
    await leader.waitForLine(new RegExp(`leads ${ELECTION}, term ${first.term}\\b`));

    const killedAt = Date.now();
    leader.kill("SIGKILL");
    const next = await waitFor(
      "another leader",
      async () => {
        const view = await election();
        return view.leader && view.leader.candidate !== first.candidate ? view.leader : undefined;
      },
      15_000,
      20,
    );
    const serverMs = Date.now() - killedAt;
    expect(next.term).toBeGreaterThan(first.term);
    const successor = agents[nodeIds.indexOf(next.candidate)]!;
    expect(successor).toBeDefined();
    expect(successor).not.toBe(leader);
    // The new leader learns it at its next renewal (one heartbeat later at most).
    const learned = await successor.waitForLine(
      new RegExp(`leads ${ELECTION}, term ${next.term}\\b`),
      15_000,
    );
    const agentMs = learned.at - killedAt;
    console.log(
      `leader killed → coordinator elected ${next.candidate} (term +${next.term - first.term}) after ${serverMs} ms; ` +
        `the agent knew after ${agentMs} ms (NODE_DEAD_AFTER_MS ${TIMINGS.NODE_DEAD_AFTER_MS}, heartbeat ${TIMINGS.HEARTBEAT_INTERVAL_MS})`,
    );
    // 150 ms of slack for the 20 ms polling of the election and the alarm firing.
    expect(serverMs).toBeLessThanOrEqual(TIMINGS.NODE_DEAD_AFTER_MS + TIMINGS.HEARTBEAT_INTERVAL_MS + 150);
    expect(agentMs).toBeLessThanOrEqual(TIMINGS.NODE_DEAD_AFTER_MS + 2 * TIMINGS.HEARTBEAT_INTERVAL_MS + 150);

    // The old term no longer passes the fence; the new one does.
    expect(
      (await server.api.call("POST", `/v1/elections/${ELECTION}/fence`, { term: first.term })).status,
    ).toBe(409);
    expect(
      (await server.api.call("POST", `/v1/elections/${ELECTION}/fence`, { term: next.term })).status,
    ).toBe(200);
  });
});
