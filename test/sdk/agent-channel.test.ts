import { describe, expect, it } from "vitest";
import type { Agent, AgentOptions } from "../../src/sdk/index.ts";
import { startAgent } from "./channel-agents.ts";
import { FakeMeridian } from "./fake-meridian.ts";

// The agent on its default transport, the node channel, against the fake shard of fake-channel.ts.
// Time is the fake's virtual clock throughout, as in agent.test.ts (the HTTP path).

function start(fake: FakeMeridian, options: Partial<AgentOptions> = {}): Agent {
  return startAgent(fake, { capacity: 2, ...options });
}

describe("Agent over the node channel", () => {
  it("runs pushed work up to its capacity, offering credit only for free slots, without polling", async () => {
    const fake = new FakeMeridian();
    const { clock } = fake;
    const startedAt = clock.now();
    const credits: { n: number; inFlight: number }[] = [];
    let running = 0;
    let peak = 0;
    const agent: Agent = start(fake, {
      capacity: 2,
      webSocket: (url, init) => {
        const socket = fake.webSocket(url, init);
        const send = socket.send.bind(socket);
        socket.send = (data) => {
          const frame = JSON.parse(data);
          if (frame.op === "credit") {
            credits.push({ n: frame.n, inFlight: agent.inFlight });
          }
          send(data);
        };
        return socket;
      },
      handlers: {
        echo: async (payload: { n: number }, ctx) => {
          running++;
          peak = Math.max(peak, running);
          await clock.sleep(30);
          running--;
          return { n: payload.n, region: ctx.region };
        },
      },
    });
    for (let n = 0; n < 5; n++) {
      fake.enqueue("echo", { n });
    }
    await fake.until("five outcomes", () => fake.outcomes.length === 5);
    expect(peak).toBe(2);
    expect(clock.now() - startedAt).toBe(90); // a freed slot is filled at once: 2 + 2 + 1 in three rounds
    expect(fake.outcomes.map((o) => (o.result as { n: number }).n).sort()).toEqual([0, 1, 2, 3, 4]);
    expect(credits[0]).toEqual({ n: 2, inFlight: 0 });
    expect(credits.every((c) => c.n + c.inFlight <= 2)).toBe(true);
    expect(fake.callsTo("POST", "/v1/nodes/:id/poll")).toEqual([]);
    expect(fake.calls.map((c) => `${c.method} ${c.path}`)).toEqual(["POST /v1/nodes"]);
  });

  it("reports outcomes that finish together in one report frame", async () => {
    const fake = new FakeMeridian();
    start(fake, { capacity: 4, handlers: { quick: async () => "ok" } });
    await fake.until("the channel", () => fake.channels.sent("credit").length > 0);
    for (let i = 0; i < 4; i++) {
      fake.enqueue("quick");
    }
    await fake.until("four outcomes", () => fake.outcomes.length === 4);
    const reports = fake.channels.sent("report");
    expect(reports.length).toBe(1);
    expect(reports[0]!.frame.reports.map((r: { outcome: string }) => r.outcome)).toEqual(
      Array(4).fill("succeeded"),
    );
    expect(fake.callsTo("POST", "/v1/nodes/:id/report")).toEqual([]);
    expect(fake.callsTo("POST", "/v1/tasks/:id/complete")).toEqual([]);
  });

  it("extends leases over the channel; an extension refused by ref aborts only its task", async () => {
    const fake = new FakeMeridian();
    const { clock } = fake;
    let aborted = 0;
    start(fake, {
      capacity: 2,
      handlers: {
        hang: (_p, ctx) =>
          new Promise((_, reject) =>
            ctx.signal.addEventListener("abort", () => {
              aborted++;
              reject(new Error("aborted"));
            }),
          ),
        long: () => clock.sleep(1700).then(() => "done"),
      },
    });
    fake.channels.faults.set("extend", [{ code: "conflict", reason: "lease_lost" }]);
    const hung = fake.enqueue("hang", null, 1000);
    const long = fake.enqueue("long", null, 1000); // lease of 1 s, work of 1.7 s
    await fake.until("both leased", () => fake.leases.has(hung) && fake.leases.has(long));
    const leasedAt = clock.now();
    await fake.until("the long task's outcome", () => fake.outcomes.length === 1, 5000);
    expect(aborted).toBe(1);
    expect(fake.outcomes).toMatchObject([{ id: long, outcome: "succeeded", result: "done" }]);
    expect(clock.now() - leasedAt).toBe(1700);
    const extensions = fake.channels.sent("extend");
    // Halfway through each lease, each asking for the lease's length again; the first (hang's) refused.
    expect(extensions.map((e) => [e.frame.id, e.at - leasedAt, e.frame.extendMs])).toEqual([
      [hung, 500, 1000],
      [long, 500, 1000],
      [long, 1000, 1000],
      [long, 1500, 1000],
    ]);
    expect(fake.callsTo("POST", "/v1/tasks/:id/extend")).toEqual([]);
  });

  it("heartbeats over the channel on the interval Meridian gives, with its load", async () => {
    const fake = new FakeMeridian();
    const { clock } = fake;
    fake.heartbeatIntervalMs = 30;
    const agent = start(fake, { capacity: 2, handlers: { hold: () => clock.sleep(400) } });
    await fake.until("registration", () => agent.nodeId !== null);
    const registeredAt = fake.callsTo("POST", "/v1/nodes")[0]!.at;
    fake.enqueue("hold");
    await clock.advance(300);
    const beats = fake.channels.sent("heartbeat");
    expect(beats.map((b) => b.at - registeredAt)).toEqual([30, 60, 90, 120, 150, 180, 210, 240, 270, 300]);
    expect(beats.every((b) => b.frame.load === 0.5)).toBe(true);
    expect(fake.callsTo("POST", "/v1/nodes/:id/heartbeat")).toEqual([]);
  });

  it("ignores malformed frames from the shard and keeps working", async () => {
    const fake = new FakeMeridian();
    const agent = start(fake, { handlers: { quick: async () => "ok" } });
    await fake.until("the channel", () => fake.channels.sent("credit").length > 0);
    fake.channels.sendRaw(agent.nodeId!, "{not json");
    fake.channels.sendRaw(agent.nodeId!, JSON.stringify({ op: "tasks", tasks: [{ id: 7 }] }));
    fake.channels.sendRaw(agent.nodeId!, JSON.stringify({ op: "self-destruct" }));
    fake.enqueue("quick");
    await fake.until("the outcome", () => fake.outcomes.length === 1);
    expect(fake.outcomes[0]).toMatchObject({ outcome: "succeeded", result: "ok" });
    expect(agent.state).toBe("running");
  });

  it("drains on stop: no new credit, finishes what it holds, reports, and the shard closes the channel", async () => {
    const fake = new FakeMeridian();
    const { clock } = fake;
    const agent = start(fake, {
      capacity: 2,
      handlers: { work: () => clock.sleep(150).then(() => "finished") },
    });
    fake.enqueue("work");
    fake.enqueue("work");
    await fake.until("two leases", () => fake.leases.size === 2);
    const nodeId = agent.nodeId!;
    const stopping = agent.stop();
    fake.enqueue("work"); // arrives during the drain: must not be taken
    await clock.run(stopping);
    expect(agent.state).toBe("stopped");
    expect(fake.outcomes.map((o) => o.result)).toEqual(["finished", "finished"]);
    expect(fake.queue.length).toBe(1);
    const ops = fake.channels.frames.map((f) => f.frame.op);
    const drain = ops.indexOf("drain");
    expect(drain).toBeGreaterThan(0);
    expect(ops.slice(drain + 1)).not.toContain("credit");
    expect(ops.slice(drain + 1)).toContain("report");
    // The shard closed the drained channel itself (1000) after the last report, then the agent deregistered.
    expect(fake.channels.closes).toEqual([{ nodeId, code: 1000, by: "shard", at: expect.any(Number) }]);
    expect(fake.channels.closes[0]!.at).toBe(fake.channels.sent("report").at(-1)!.at);
    expect(fake.callsTo("DELETE", "/v1/nodes/:id")[0]!.at).toBeGreaterThanOrEqual(
      fake.channels.closes[0]!.at,
    );
    expect(fake.callsTo("POST", "/v1/nodes/:id/drain")).toEqual([]);
    expect(fake.nodes.has(nodeId)).toBe(false);
  });
});
