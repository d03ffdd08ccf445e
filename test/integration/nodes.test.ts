import { describe, expect, it } from "vitest";
import { harness } from "./harness";

describe("nodes", () => {
  it("registers with the server's timings, and 404 for an unknown region", async () => {
    const h = await harness();
    await h.region("eu-west", 53.35, -6.26);
    const node = await h.token("node");
    const reply = await h.post("/v1/nodes", { region: "eu-west", capacity: 4, labels: { zone: "a" } }, node);
    expect(reply.status).toBe(201);
    expect(reply.body).toMatchObject({ region: "eu-west", heartbeatIntervalMs: 2000, deadAfterMs: 10000 });
    expect(reply.body.id).toMatch(/^node-/);
    const unknown = await h.post("/v1/nodes", { region: "mars", capacity: 4 }, node);
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe("not_found");
  });

  it("rejects capacity outside 1..10000", async () => {
    const h = await harness();
    await h.region("eu-west", 53.35, -6.26);
    const node = await h.token("node");
    for (const capacity of [0, 10001, 2.5, "4"]) {
      expect((await h.post("/v1/nodes", { region: "eu-west", capacity }, node)).status).toBe(400);
    }
    expect((await h.get("/v1/nodes")).body.nodes).toEqual([]);
  });

  it("heartbeats, goes suspect when late, drains, lists and deregisters", async () => {
    const h = await harness();
    await h.region("eu-west", 53.35, -6.26);
    const node = await h.token("node");
    const id = await h.node(node, "eu-west");
    const beat = await h.post(`/v1/nodes/${id}/heartbeat`, { load: 0.5 }, node);
    expect(beat.body).toEqual({ status: "healthy" });
    await h.advance(5000);
    const listed = await h.get("/v1/nodes?region=eu-west");
    expect(listed.body.nodes).toEqual([
      expect.objectContaining({ id, status: "suspect", capacity: 10, inFlight: 0, load: 0.5, labels: {} }),
    ]);
    expect((await h.post(`/v1/nodes/${id}/drain`, {}, node)).body).toEqual({ status: "draining" });
    expect((await h.post(`/v1/nodes/${id}/heartbeat`, {}, node)).body).toEqual({ status: "draining" });
    expect((await h.delete(`/v1/nodes/${id}`, node)).status).toBe(204);
    expect((await h.post(`/v1/nodes/${id}/heartbeat`, {}, node)).status).toBe(404);
  });

  it("declares a silent node dead: later calls get 409 node_dead", async () => {
    const h = await harness();
    await h.region("eu-west", 53.35, -6.26);
    const node = await h.token("node");
    const id = await h.node(node, "eu-west");
    await h.advance(10_001);
    expect(await h.alarm("eu-west")).toBe(true);
    const late = await h.post(`/v1/nodes/${id}/heartbeat`, {}, node);
    expect(late.status).toBe(409);
    expect(late.body.error.reason).toBe("node_dead");
    expect((await h.get("/v1/nodes?status=dead")).body.nodes[0].status).toBe("dead");
  });

  it("a drained node gets no new work", async () => {
    const h = await harness();
    await h.region("eu-west", 53.35, -6.26);
    const node = await h.token("node");
    const id = await h.node(node, "eu-west");
    const other = await h.node(node, "eu-west");
    await h.post(`/v1/nodes/${id}/drain`, {}, node);
    await h.submit({ type: "x" });
    expect(await h.poll(id, node)).toEqual([]);
    expect(await h.poll(other, node)).toHaveLength(1);
  });

  it("a long poll is contact when it arrives, not while it waits: a vanished poller dies on time", async () => {
    const h = await harness();
    await h.region("eu-west", 53.35, -6.26);
    const node = await h.token("node");
    const client = await h.token("client");
    const id = await h.node(node, "eu-west");
    const poll = h.post(`/v1/nodes/${id}/poll`, { waitMs: 25_000 }, node);
    for (let i = 0; i < 100 && !(await h.insideShard("eu-west", (s) => s.nodes.waiting.has(id))); i++) {
      await h.get("/v1/nodes"); // let the poll reach the shard
    }
    h.now += 5_000; // silent for more than two heartbeat intervals: suspect, so no work for it
    const submitted = await h.submit({ type: "x", region: "eu-west" }, client);
    expect(submitted.status).toBe(503); // its only node is suspect: the region is not healthy
    h.now += 5_001;
    expect(await h.alarm("eu-west")).toBe(true);
    expect((await h.get("/v1/nodes?status=dead")).body.nodes[0].status).toBe("dead");
    expect((await poll).body).toEqual({ tasks: [] }); // the wait ends when its node dies
  });
});
