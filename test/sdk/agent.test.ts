import { afterEach, describe, expect, it } from "vitest";
import { Agent, type AgentOptions, PermanentError } from "../../src/sdk/index.ts";
import { FakeMeridian } from "./fake-meridian.ts";

// Time is the fake's virtual clock throughout: handlers wait with `clock.sleep`, tests move time
// with `fake.until` / `clock.advance` / `clock.run`, and nothing waits on the real clock.

const agents: { agent: Agent; fake: FakeMeridian }[] = [];

function start(fake: FakeMeridian, options: Partial<AgentOptions> = {}): Agent {
  const agent = new Agent({
    url: "http://meridian.test",
    token: "node-token",
    region: "eu-west-1",
    capacity: 2,
    handlers: {},
    fetch: fake.fetch,
    clock: fake.clock,
    logger: false,
    handleSignals: false,
    random: () => 0.5,
    transport: "http", // these tests drive the HTTP path; agent-channel.test.ts drives the channel
    ...options,
  });
  agents.push({ agent, fake });
  void agent.start().catch(() => {});
  return agent;
}

afterEach(async () => {
  for (const { agent, fake } of agents.splice(0)) {
    await fake.clock.run(agent.stop({ drain: false }));
  }
});

describe("Agent", () => {
  it("registers, runs handlers concurrently up to its capacity, and records each result", async () => {
    const fake = new FakeMeridian();
    const { clock } = fake;
    const startedAt = clock.now();
    let running = 0;
    let peak = 0;
    start(fake, {
      capacity: 2,
      handlers: {
        echo: async (payload: { n: number }, ctx) => {
          running++;
          peak = Math.max(peak, running);
          await clock.sleep(30);
          running--;
          return { n: payload.n, region: ctx.region, attempt: ctx.attempt };
        },
      },
    });
    for (let n = 0; n < 5; n++) {
      fake.enqueue("echo", { n });
    }
    await fake.until("five outcomes", () => fake.outcomes.length === 5);
    expect(peak).toBe(2);
    // Three rounds of 30 ms (2 + 2 + 1): a freed slot is filled at once.
    expect(clock.now() - startedAt).toBe(90);
    expect(fake.outcomes.map((o) => o.outcome)).toEqual(Array(5).fill("succeeded"));
    expect(fake.outcomes.map((o) => (o.result as { n: number }).n).sort()).toEqual([0, 1, 2, 3, 4]);
    expect(fake.outcomes[0]!.result).toMatchObject({ region: "eu-west-1", attempt: 1 });
    // Never asked for more than it had room for.
    expect(fake.callsTo("POST", "/v1/nodes/:id/poll").every((c) => c.body.max <= 2)).toBe(true);
  });

  it("heartbeats on the interval Meridian gives, with its load", async () => {
    const fake = new FakeMeridian();
    const { clock } = fake;
    fake.heartbeatIntervalMs = 30;
    const agent = start(fake, { capacity: 2, handlers: { hold: () => clock.sleep(400) } });
    await fake.until("registration", () => agent.nodeId !== null);
    const registeredAt = fake.callsTo("POST", "/v1/nodes")[0]!.at;
    fake.enqueue("hold");
    await clock.advance(300);
    const beats = fake.callsTo("POST", "/v1/nodes/:id/heartbeat");
    // One per 30 ms after registration, none missing, none early, each with the load of 1 task in 2.
    expect(beats.map((b) => b.at - registeredAt)).toEqual([30, 60, 90, 120, 150, 180, 210, 240, 270, 300]);
    expect(beats.every((b) => b.body.load === 0.5)).toBe(true);
    expect(beats.at(-1)!.body).toEqual({ load: 0.5 });
  });

  it("reports outcomes that finish together in one report call", async () => {
    const fake = new FakeMeridian();
    start(fake, { capacity: 4, handlers: { quick: async () => "ok" } });
    // Four tasks leased by one poll finish in the same turn.
    for (let i = 0; i < 4; i++) {
      fake.enqueue("quick");
    }
    await fake.until("four outcomes", () => fake.outcomes.length === 4);
    const reports = fake.callsTo("POST", "/v1/nodes/:id/report");
    expect(reports.length).toBe(1);
    expect(reports[0]!.body.reports.length).toBe(4);
    expect(fake.callsTo("POST", "/v1/tasks/:id/complete")).toEqual([]);
  });

  it("fails a task with the error's message; a PermanentError is not retryable", async () => {
    const fake = new FakeMeridian();
    start(fake, {
      capacity: 1,
      handlers: {
        flaky: async () => {
          throw new Error("upstream 503");
        },
        broken: async () => {
          throw new PermanentError("bad input");
        },
      },
    });
    fake.enqueue("flaky");
    await fake.until("one outcome", () => fake.outcomes.length === 1);
    fake.enqueue("broken");
    await fake.until("two outcomes", () => fake.outcomes.length === 2);
    expect(fake.outcomes).toEqual([
      { id: expect.any(String), outcome: "failed", error: "upstream 503", retryable: true },
      { id: expect.any(String), outcome: "failed", error: "bad input", retryable: false },
    ]);
  });

  it("fails a task whose type has no handler, and one whose result is not JSON", async () => {
    const fake = new FakeMeridian();
    start(fake, { capacity: 1, handlers: { big: async () => 10n } });
    fake.enqueue("unknown");
    await fake.until("one outcome", () => fake.outcomes.length === 1);
    fake.enqueue("big");
    await fake.until("two outcomes", () => fake.outcomes.length === 2);
    expect(fake.outcomes[0]).toMatchObject({ outcome: "failed", retryable: true });
    expect(fake.outcomes[0]!.error).toMatch(/no handler for task type unknown/);
    expect(fake.outcomes[1]).toMatchObject({ outcome: "failed", retryable: false });
    expect(fake.outcomes[1]!.error).toMatch(/not JSON/);
  });

  it("extends the lease of a task that outlives it", async () => {
    const fake = new FakeMeridian();
    const { clock } = fake;
    start(fake, { capacity: 1, handlers: { long: () => clock.sleep(1700).then(() => "done") } });
    const id = fake.enqueue("long", null, 1000); // lease of 1 s, work of 1.7 s
    await fake.until("the task to be leased", () => fake.leases.has(id));
    const leasedAt = clock.now();
    await fake.until("the outcome", () => fake.outcomes.length === 1, 5000);
    expect(fake.outcomes[0]).toMatchObject({ outcome: "succeeded", result: "done" });
    expect(clock.now() - leasedAt).toBe(1700);
    const extends_ = fake.callsTo("POST", "/v1/tasks/:id/extend");
    // Halfway through each lease: at 0.5, 1.0 and 1.5 s, each asking for the lease's length again.
    expect(extends_.map((c) => c.at - leasedAt)).toEqual([500, 1000, 1500]);
    expect(extends_.map((c) => c.body.extendMs)).toEqual([1000, 1000, 1000]);
  });

  it("aborts a task whose lease was lost and records nothing for it", async () => {
    const fake = new FakeMeridian();
    let aborted = false;
    start(fake, {
      capacity: 1,
      handlers: {
        long: (_payload, ctx) =>
          new Promise((_, reject) =>
            ctx.signal.addEventListener("abort", () => {
              aborted = true;
              reject(new Error("stopped"));
            }),
          ),
      },
    });
    const { clock } = fake;
    const id = fake.enqueue("long", null, 1000);
    await fake.until("the task to be leased", () => fake.leases.has(id));
    const leasedAt = clock.now();
    fake.faults.set("POST /v1/tasks/:id/extend", [{ status: 409, code: "conflict", reason: "lease_lost" }]);
    await fake.until("the handler to be aborted", () => aborted, 3000);
    // Aborted as soon as the first extension (halfway through the lease) was refused.
    expect(clock.now() - leasedAt).toBe(500);
    await clock.advance(1000); // past the end of the lost lease
    expect(fake.outcomes).toEqual([]);
    expect(fake.callsTo("POST", "/v1/tasks/:id/extend").length).toBe(1);
  });

  it("backs off while Meridian cannot be reached, then registers", async () => {
    const fake = new FakeMeridian();
    fake.faults.set("POST /v1/nodes", ["network", "network", { status: 503, code: "internal" }]);
    const agent = start(fake);
    await fake.until("registration", () => agent.nodeId !== null, 5000);
    const attempts = fake.callsTo("POST", "/v1/nodes");
    expect(attempts.length).toBe(4);
    // Back-off grows: 250, 500, 1000 ms nominal, with equal jitter at random() = 0.5.
    const gaps = attempts.slice(1).map((c, i) => c.at - attempts[i]!.at);
    expect(gaps[0]!).toBeGreaterThanOrEqual(150);
    expect(gaps[1]!).toBeGreaterThan(gaps[0]!);
    expect(gaps[2]!).toBeGreaterThan(gaps[1]!);
    expect(gaps).toEqual([188, 375, 750]);
  });

  it("registers again after node_dead and drops what the dead node held", async () => {
    const fake = new FakeMeridian();
    let aborted = 0;
    const agent = start(fake, {
      capacity: 1,
      handlers: {
        hang: (_p, ctx) =>
          new Promise((_, reject) =>
            ctx.signal.addEventListener("abort", () => {
              aborted++;
              reject(new Error("aborted"));
            }),
          ),
        quick: async () => "ok",
      },
    });
    await fake.until("registration", () => agent.nodeId !== null);
    const first = agent.nodeId!;
    const id = fake.enqueue("hang");
    await fake.until("the task to be leased", () => fake.leases.has(id));
    fake.kill(first); // the task goes back to the queue
    fake.queue.length = 0; // and is not handed out again in this test
    await fake.until("a new registration", () => agent.nodeId !== null && agent.nodeId !== first);
    expect(aborted).toBe(1);
    fake.enqueue("quick");
    await fake.until("the new node to run work", () => fake.outcomes.length === 1);
    expect(fake.outcomes).toEqual([{ id: expect.any(String), outcome: "succeeded", result: "ok" }]);
  });

  it("drains: asks Meridian to stop sending work, finishes what it holds, then deregisters", async () => {
    const fake = new FakeMeridian();
    const { clock } = fake;
    const agent = start(fake, {
      capacity: 2,
      handlers: { work: () => clock.sleep(150).then(() => "finished") },
    });
    fake.enqueue("work");
    fake.enqueue("work");
    await fake.until("two leases", () => fake.leases.size === 2);
    const stopping = agent.stop();
    fake.enqueue("work"); // arrives during the drain: must not be taken
    await clock.run(stopping);
    expect(agent.state).toBe("stopped");
    expect(fake.outcomes.map((o) => o.result)).toEqual(["finished", "finished"]);
    expect(fake.queue.length).toBe(1);
    const order = fake.calls.map((c) => `${c.method} ${c.path.split("/").slice(3).join("/") || c.path}`);
    const drain = order.findIndex((c) => c.endsWith("/drain"));
    const bye = order.findIndex((c) => c.startsWith("DELETE"));
    expect(drain).toBeGreaterThanOrEqual(0);
    expect(bye).toBeGreaterThan(drain);
    // Nothing polled after the drain began.
    expect(order.slice(drain).some((c) => c.endsWith("/poll"))).toBe(false);
  });

  it("campaigns with its node id, knows when it leads, and hands over when it stops", async () => {
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
    expect(second.leadership("leader:eu")?.isLeader).toBe(false);
    expect(fake.elections.get("leader:eu")?.candidates).toEqual([first.nodeId, second.nodeId]);
    const firstTerm = first.leadership("leader:eu")!.term!;

    await fake.clock.run(first.stop());
    await fake.until("second leads", () => second.leadership("leader:eu")?.isLeader === true, 2000);
    expect(second.leadership("leader:eu")!.term).toBeGreaterThan(firstTerm);
    expect(changes).toContainEqual({ agent: "first", isLeader: true, term: firstTerm });
    expect(changes).toContainEqual({ agent: "first", isLeader: false, term: null });
    expect(changes.at(-1)).toMatchObject({ agent: "second", isLeader: true });
  });
});
