import { describe, expect, it } from "vitest";
import type { Agent, AgentOptions } from "../../src/sdk/index.ts";
import { startAgent } from "./channel-agents.ts";
import { FakeMeridian } from "./fake-meridian.ts";

// When the node channel breaks, is refused, or does not exist: reconnect with back-off, resume
// within the grace period, register again after it, fall back to HTTP. On the fake's virtual clock.

function start(fake: FakeMeridian, options: Partial<AgentOptions> = {}): Agent {
  return startAgent(fake, { capacity: 1, ...options });
}

/** A handler that runs until its task is aborted, counting the aborts. */
function hanging(counter: { aborted: number }) {
  return (_payload: unknown, ctx: { signal: AbortSignal }) =>
    new Promise((_, reject) =>
      ctx.signal.addEventListener("abort", () => {
        counter.aborted++;
        reject(new Error("aborted"));
      }),
    );
}

describe("Agent over the node channel, when it breaks", () => {
  it("reconnects with back-off and resumes within the grace period: the task runs on and reports after the welcome", async () => {
    const fake = new FakeMeridian();
    const { clock } = fake;
    fake.heartbeatIntervalMs = 2000; // the grace period too
    const agent = start(fake, { handlers: { work: () => clock.sleep(500).then(() => "done") } });
    const id = fake.enqueue("work");
    await fake.until("the task to be leased", () => fake.leases.has(id));
    const nodeId = agent.nodeId!;
    await clock.advance(100);
    fake.channels.refuseNext = 2;
    fake.channels.breakChannel(nodeId);
    const brokeAt = clock.now();
    await fake.until("the channel to be back", () => fake.channels.isOpen(nodeId), 1900);
    // Back-off from about 250 ms, doubling, equal jitter at random() = 0.5: 188, then 375, then 750.
    const tries = fake.channels.upgrades.slice(1).map((u) => u.at - brokeAt);
    expect(tries).toEqual([188, 188 + 375, 188 + 375 + 750]);
    await fake.until("the outcome", () => fake.outcomes.length === 1);
    // It finished at 500 ms, while away; its outcome went right after the resumed welcome.
    const [report] = fake.channels.sent("report");
    expect(report!.at - brokeAt).toBe(188 + 375 + 750);
    expect(fake.outcomes).toMatchObject([{ id, outcome: "succeeded", result: "done" }]);
    expect(agent.nodeId).toBe(nodeId); // the same node: never registered again
    expect(fake.callsTo("POST", "/v1/nodes").length).toBe(1);
    expect(fake.nodes.get(nodeId)!.dead).toBe(false);
    // The new channel is offered the slot once the outcome is in (a new socket starts with no credit).
    await fake.until("the slot offered again", () => fake.channels.sent("credit").length === 2);
    expect(fake.channels.sent("credit").map((c) => [c.at - brokeAt, c.frame.n])).toEqual([
      [-100, 1],
      [188 + 375 + 750, 1],
    ]);
  });

  it.each([
    ["refuses the upgrade (409 node_dead over HTTP)", "refuse"],
    ["welcomes it with resumed: false", "welcome"],
  ] as const)(
    "registers again when the channel was away past the grace period and the shard %s",
    async (_, deadUpgrade) => {
      const fake = new FakeMeridian();
      fake.heartbeatIntervalMs = 1000; // no HTTP heartbeat in the way: the reconnect finds out
      fake.channels.graceMs = 100;
      fake.channels.deadUpgrade = deadUpgrade;
      const counter = { aborted: 0 };
      const agent = start(fake, { handlers: { hang: hanging(counter), quick: async () => "ok" } });
      const id = fake.enqueue("hang");
      await fake.until("the task to be leased", () => fake.leases.has(id));
      const first = agent.nodeId!;
      fake.channels.breakChannel(first);
      const brokeAt = fake.clock.now();
      await fake.until("a new registration", () => agent.nodeId !== null && agent.nodeId !== first);
      expect(fake.clock.now() - brokeAt).toBe(188); // at the first reconnection, a back-off after the break
      // Told at once by the upgrade: the dead node's channel was not used again.
      expect(fake.channels.frames.filter((f) => f.nodeId === first && f.at > brokeAt)).toEqual([]);
      expect(fake.nodes.get(first)!.dead).toBe(true);
      expect(counter.aborted).toBe(1); // its lease went back to the queue: the handler is told
      fake.queue.length = 0; // the task given back is not handed out again in this test
      await fake.until("the new node's channel", () => fake.channels.isOpen(agent.nodeId!));
      fake.enqueue("quick");
      await fake.until("the new node to run work", () => fake.outcomes.length === 1);
      expect(fake.outcomes).toMatchObject([{ outcome: "succeeded", result: "ok" }]);
      expect(fake.channels.sent("report").at(-1)!.nodeId).toBe(agent.nodeId);
    },
  );

  it("registers again when the shard closes the channel because the node is dead (4001)", async () => {
    const fake = new FakeMeridian();
    const counter = { aborted: 0 };
    const agent = start(fake, { handlers: { hang: hanging(counter) } });
    const id = fake.enqueue("hang");
    await fake.until("the task to be leased", () => fake.leases.has(id));
    const first = agent.nodeId!;
    fake.kill(first); // e.g. silent past NODE_DEAD_AFTER_MS with the socket open
    await fake.until("a new registration", () => agent.nodeId !== null && agent.nodeId !== first);
    expect(counter.aborted).toBe(1);
    expect(fake.channels.upgrades.map((u) => u.nodeId)).toEqual([first, agent.nodeId]);
  });

  it("leaves its node to another connection that took its channel over (4000) instead of taking it back", async () => {
    const fake = new FakeMeridian();
    const agent = start(fake);
    await fake.until("the channel to open", () => fake.channels.upgrades.length === 1);
    const first = agent.nodeId!;
    // A second process opens the node's channel: the shard closes the agent's socket with 4000.
    fake.webSocket(`ws://meridian.test/v1/nodes/${first}/channel`, {
      headers: { authorization: "Bearer node-token" },
    });
    await fake.until("a new registration", () => agent.nodeId !== null && agent.nodeId !== first);
    await fake.clock.advance(5_000);
    // One upgrade for the old node by the agent, one by the other process, then the new node's:
    // no tug of war over the old one.
    expect(fake.channels.upgrades.map((u) => u.nodeId)).toEqual([first, first, agent.nodeId]);
  });

  it("falls back to HTTP when the server has no channel, and runs work by long polls", async () => {
    const fake = new FakeMeridian();
    fake.channels.supported = false; // the upgrade is answered 404, as by a server without issue 10
    const agent = start(fake, { capacity: 2, handlers: { quick: async () => "ok" } });
    const registeredAt = fake.clock.now();
    fake.enqueue("quick");
    fake.enqueue("quick");
    await fake.until("two outcomes", () => fake.outcomes.length === 2);
    await fake.clock.advance(1000);
    // Three tries (0, 188, 563 ms), each while Meridian answered over HTTP; then HTTP for good.
    expect(fake.channels.upgrades.map((u) => [u.nodeId, u.at - registeredAt])).toEqual([
      [agent.nodeId, 0],
      [agent.nodeId, 188],
      [agent.nodeId, 563],
    ]);
    expect(fake.callsTo("POST", "/v1/nodes/:id/poll").length).toBeGreaterThan(0);
    expect(fake.callsTo("POST", "/v1/nodes/:id/heartbeat").length).toBeGreaterThan(3);
    expect(fake.channels.frames).toEqual([]);
    expect(fake.callsTo("POST", "/v1/nodes/:id/report").length).toBe(1);
  });

  it("does not fall back while Meridian cannot be reached at all: it keeps trying the channel", async () => {
    const fake = new FakeMeridian();
    fake.channels.refuseNext = 2;
    fake.faults.set("POST /v1/nodes/:id/heartbeat", Array(20).fill("network"));
    const agent = start(fake, { handlers: { quick: async () => "ok" } });
    await fake.until("the channel", () => agent.nodeId !== null && fake.channels.isOpen(agent.nodeId));
    expect(fake.channels.upgrades.length).toBe(3);
    fake.enqueue("quick");
    await fake.until("the outcome", () => fake.outcomes.length === 1);
    expect(fake.callsTo("POST", "/v1/nodes/:id/poll")).toEqual([]);
  });

  it("backs off for seconds after the shard closes the channel as abuse (1008)", async () => {
    const fake = new FakeMeridian();
    fake.heartbeatIntervalMs = 10_000;
    const agent = start(fake);
    await fake.until("the channel", () => agent.nodeId !== null && fake.channels.isOpen(agent.nodeId));
    const nodeId = agent.nodeId!;
    fake.channels.end(nodeId, 1008, "too many refused frames", { grace: true });
    const closedAt = fake.clock.now();
    await fake.until("the channel to be back", () => fake.channels.isOpen(nodeId), 9000);
    // The back-off of a fifth failure: 4 s nominal, 3 s at random() = 0.5; not 188 ms.
    expect(fake.channels.upgrades.map((u) => u.at - closedAt)).toEqual([expect.any(Number), 3000]);
  });
});
