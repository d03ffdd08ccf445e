import { describe, expect, it } from "vitest";
import { harness } from "./harness";

describe("durability across eviction", () => {
  it("keeps tokens, regions, nodes, leases, terms and idempotency keys", async () => {
    const h = await harness();
    await h.region("eu-west", 53.35, -6.26);
    const node = await h.token("node");
    const client = await h.token("client");
    const nodeId = await h.node(node, "eu-west", 4);
    const submitted = await h.submit({ type: "x", payload: { a: 1 }, idempotencyKey: "k1" }, client);
    const queued = await h.submit({ type: "y" }, client);
    const [leased] = await h.poll(nodeId, node);
    const term = (await h.post("/v1/elections/db/campaign", { candidate: nodeId, ttlMs: 60_000 }, node)).body
      .leader.term;
    h.now += 1;

    await h.evictAll(); // new instances: re-install the test clock

    // Tokens still authenticate; the node is still bound to its token.
    expect((await h.post(`/v1/nodes/${nodeId}/heartbeat`, {}, node)).body).toEqual({ status: "healthy" });
    // The idempotency key still maps to the first task.
    const repeat = await h.submit({ type: "x", payload: { a: 1 }, idempotencyKey: "k1" }, client);
    expect(repeat.status).toBe(200);
    expect(repeat.body.id).toBe(submitted.body.id);
    // The lease still holds, and in-flight counts were rebuilt.
    expect((await h.get("/v1/nodes")).body.nodes[0]).toMatchObject({ id: nodeId, inFlight: 1 });
    const [region] = (await h.get("/v1/regions")).body.regions;
    expect(region).toMatchObject({ healthy: true, capacity: 4, inFlight: 1, queued: 1 });
    expect(
      (await h.post(`/v1/tasks/${leased.id}/complete`, { leaseToken: leased.leaseToken }, node)).body.status,
    ).toBe("succeeded");
    // The queue is intact.
    expect((await h.poll(nodeId, node)).map((t) => t.id)).toEqual([queued.body.id]);
    // The term survives, and the next leadership gets a higher one even at an earlier clock.
    const election = (await h.get("/v1/elections/db")).body;
    expect(election.term).toBe(term);
    await h.post("/v1/elections/db/resign", { candidate: nodeId }, node);
    h.now = term - 5_000; // the clock went backwards across a restart
    await h.evictAll();
    const next = await h.post("/v1/elections/db/campaign", { candidate: "other", ttlMs: 60_000 }, node);
    expect(next.body.leader.term).toBe(term + 1);
  });

  it("fires deadlines after eviction: the alarm is durable", async () => {
    const h = await harness();
    await h.region("eu-west", 53.35, -6.26);
    const node = await h.token("node");
    const nodeId = await h.node(node, "eu-west");
    const { id } = (await h.submit({ type: "x", timeoutMs: 1000 })).body;
    await h.poll(nodeId, node);
    h.now += 1000;
    await h.evictAll();
    expect(await h.alarm("eu-west")).toBe(true);
    expect((await h.get(`/v1/tasks/${id}`)).body).toMatchObject({
      status: "scheduled",
      lastError: "lease expired",
    });
  });
});
