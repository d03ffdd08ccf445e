import { describe, expect, it } from "vitest";
import { harness } from "./harness";

describe("regions", () => {
  it("creates and updates idempotently", async () => {
    const h = await harness();
    const first = await h.put("/v1/regions/eu-west", { lat: 53.35, lon: -6.26, label: "Dublin" });
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({
      id: "eu-west",
      lat: 53.35,
      lon: -6.26,
      label: "Dublin",
      healthy: false,
    });
    const again = await h.put("/v1/regions/eu-west", { lat: 53.35, lon: -6.26, label: "Dublin" });
    expect(again.body).toEqual(first.body);
    const list = await h.get("/v1/regions");
    expect(list.body.regions).toHaveLength(1);
  });

  it("reports health, capacity and load", async () => {
    const h = await harness();
    await h.region("eu-west", 53.35, -6.26);
    const node = await h.token("node");
    await h.node(node, "eu-west", 7);
    await h.node(node, "eu-west", 3);
    await h.submit({ type: "x" });
    const [region] = (await h.get("/v1/regions")).body.regions;
    expect(region).toMatchObject({
      healthy: true,
      nodes: { healthy: 2, total: 2 },
      capacity: 10,
      inFlight: 0,
      queued: 1,
    });
  });

  it("rejects bad coordinates and bad ids with 400, changing nothing", async () => {
    const h = await harness();
    for (const [id, body] of [
      ["eu-west", { lat: 91, lon: 0 }],
      ["eu-west", { lat: 0 }],
      ["eu-west", { lat: "north", lon: 0 }],
      ["EU_West", { lat: 0, lon: 0 }],
      ["eu-west", { lat: 0, lon: 0, extra: true }],
    ] as const) {
      const reply = await h.put(`/v1/regions/${id}`, body);
      expect(reply.status).toBe(400);
      expect(reply.body.error.code).toBe("invalid_request");
    }
    expect((await h.get("/v1/regions")).body.regions).toEqual([]);
  });

  it("deletes an empty region, refuses while nodes are registered, 404 when unknown", async () => {
    const h = await harness();
    await h.region("eu-west", 53.35, -6.26);
    const node = await h.token("node");
    const nodeId = await h.node(node, "eu-west");
    const busy = await h.delete("/v1/regions/eu-west");
    expect(busy.status).toBe(409);
    expect(busy.body.error.reason).toBe("region_has_nodes");
    expect((await h.delete(`/v1/nodes/${nodeId}`, node)).status).toBe(204);
    expect((await h.delete("/v1/regions/eu-west")).status).toBe(204);
    expect((await h.delete("/v1/regions/eu-west")).status).toBe(404);
  });

  it("deleting a region whose node missed its deadline (not yet reaped) leaves no node behind (regression)", async () => {
    const h = await harness();
    await h.region("eu-west", 53.35, -6.26);
    const node = await h.token("node");
    const nodeId = await h.node(node, "eu-west");
    await h.post("/v1/elections/db/campaign", { candidate: nodeId, ttlMs: 300_000 }, node);
    await h.advance(10_001); // dead by the clock; no alarm has declared it yet
    expect((await h.delete("/v1/regions/eu-west")).status).toBe(204);
    // v1 dropped the node from memory but kept its row (only rows already marked dead were deleted):
    // it came back, pointing at a deleted region. Now it is reaped first, then every node goes.
    expect(await h.shardSql("eu-west", "SELECT id FROM nodes")).toEqual([]);
    await h.evictAll();
    await h.region("eu-west", 53.35, -6.26);
    expect((await h.get("/v1/nodes")).body.nodes).toEqual([]);
    // Reaping it told the coordinator: its leadership ended.
    expect((await h.get("/v1/elections/db")).body.leader).toBeNull();
  });

  it("lets clients and readers read, but only admins write", async () => {
    const h = await harness();
    const client = await h.token("client");
    expect((await h.get("/v1/regions", client)).status).toBe(200);
    expect((await h.put("/v1/regions/x", { lat: 0, lon: 0 }, client)).status).toBe(403);
    expect((await h.delete("/v1/regions/x", client)).status).toBe(403);
  });
});
