import { describe, expect, it } from "vitest";
import type { Agent, AgentOptions } from "../../src/sdk/index.ts";
import { startAgent } from "./channel-agents.ts";
import { FakeMeridian } from "./fake-meridian.ts";

// Elections over the node channel: campaign binds the candidacy to the channel's session, changes
// are pushed as leader frames, resign hands over. On the fake's virtual clock, as agent.test.ts.

function start(fake: FakeMeridian, options: Partial<AgentOptions> = {}): Agent {
  return startAgent(fake, options);
}

describe("Agent elections over the node channel", () => {
  it("campaigns over the channel, hears changes pushed, and hands over by resigning", async () => {
    const fake = new FakeMeridian();
    const changes: { agent: string; isLeader: boolean; term: number | null }[] = [];
    const first = start(fake, {
      name: "first",
      campaign: ["leader:eu"],
      onLeadership: (s) => changes.push({ agent: "first", isLeader: s.isLeader, term: s.term }),
    });
    await fake.until("first leads", () => first.leadership("leader:eu")?.isLeader === true);
    const second = start(fake, {
      name: "second",
      campaign: ["leader:eu"],
      onLeadership: (s) => changes.push({ agent: "second", isLeader: s.isLeader, term: s.term }),
    });
    await fake.until("second sees the leader", () => second.leadership("leader:eu")?.leader !== null);
    expect(second.leadership("leader:eu")!.state).toMatchObject({ isLeader: false, position: 1 });
    expect(fake.elections.get("leader:eu")?.candidates).toEqual([first.nodeId, second.nodeId]);
    const firstTerm = first.leadership("leader:eu")!.term!;
    const secondId = second.nodeId!;

    await fake.clock.run(first.stop());
    expect(fake.channels.sent("resign").map((f) => f.frame.election)).toEqual(["leader:eu"]);
    // The second learns from a pushed frame, before its next own round trip.
    const pushedAt = fake.clock.now();
    await fake.until("second leads", () => second.leadership("leader:eu")?.isLeader === true, 5);
    expect(fake.clock.now()).toBe(pushedAt);
    expect(second.leadership("leader:eu")!.term).toBeGreaterThan(firstTerm);
    expect(second.leadership("leader:eu")!.leader).toMatchObject({ candidate: secondId });
    expect(changes).toContainEqual({ agent: "first", isLeader: true, term: firstTerm });
    expect(changes).toContainEqual({ agent: "first", isLeader: false, term: null });
    expect(changes.at(-1)).toMatchObject({ agent: "second", isLeader: true });
    expect(fake.callsTo("POST", "/v1/elections/:id/campaign")).toEqual([]);
    expect(fake.callsTo("POST", "/v1/elections/:id/resign")).toEqual([]);
  });

  it("campaigns once per session and keeps leading on pongs alone (a grace period from the last one); stops believing it leads before it can be replaced", async () => {
    const fake = new FakeMeridian();
    fake.heartbeatIntervalMs = 200; // the grace period too
    const agent = start(fake, { campaign: ["leader:eu"] });
    await fake.until("it leads", () => agent.leadership("leader:eu")?.isLeader === true);
    const nodeId = agent.nodeId!;
    await fake.clock.advance(1000);
    // One campaign (no renewals: the candidacy is bound to the session), a ping every half grace period.
    expect(fake.channels.sent("campaign").length).toBe(1);
    const pings = fake.channels.sent("ping").map((c) => c.at);
    const gaps = pings.slice(1).map((at, i) => at - pings[i]!);
    expect(gaps.length).toBeGreaterThanOrEqual(9);
    expect(new Set(gaps)).toEqual(new Set([100]));
    expect(agent.leadership("leader:eu")!.isLeader).toBe(true);

    // The channel breaks and cannot come back: the shard declares the node dead a grace period
    // after it saw the close. By then the agent must no longer believe it leads.
    fake.channels.refuseNext = 1000;
    fake.channels.breakChannel(nodeId);
    let leaderAtDeath: boolean | null = null;
    await fake.until("the node is declared dead", () => {
      if (fake.nodes.get(nodeId)?.dead && leaderAtDeath === null) {
        leaderAtDeath = agent.leadership("leader:eu")!.isLeader;
      }
      return leaderAtDeath !== null;
    });
    expect(leaderAtDeath).toBe(false);
  });

  it("campaigns over HTTP when the shard does not run elections over the channel", async () => {
    const fake = new FakeMeridian();
    fake.channels.electionsSupported = false;
    const agent = start(fake, { campaign: ["leader:eu"] });
    await fake.until("it leads", () => agent.leadership("leader:eu")?.isLeader === true);
    expect(fake.channels.sent("campaign").length).toBe(1); // refused once, not asked again
    expect(fake.callsTo("POST", "/v1/elections/:id/campaign")[0]!.body).toEqual({
      candidate: agent.nodeId,
      ttlMs: 1000,
    });
    await fake.clock.advance(400);
    expect(fake.channels.sent("campaign").length).toBe(1);
    expect(fake.callsTo("POST", "/v1/elections/:id/campaign").length).toBeGreaterThan(5); // with heartbeats
    expect(agent.leadership("leader:eu")!.isLeader).toBe(true);
  });
});
