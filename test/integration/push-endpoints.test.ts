import { describe, expect, it } from "vitest";
import { harness, REGIONS } from "./harness";

// A fake executor that never answers: deliveries stay in flight, their tasks leased to the endpoint.
const silent: typeof fetch = () => new Promise<Response>(() => {});
const ENDPOINT = "/v1/regions/eu-west/endpoints/hooks";

async function setUp() {
  const h = await harness();
  await h.region("eu-west", REGIONS["eu-west"].lat, REGIONS["eu-west"].lon);
  await h.startShard("eu-west", { deliver: silent });
  const client = await h.token("client");
  const put = await h.put(ENDPOINT, { url: "https://executor.example.com/run", capacity: 4 });
  expect(put.status).toBe(201);
  return { h, client };
}

const region = async (h: Awaited<ReturnType<typeof setUp>>["h"]) =>
  (await h.get("/v1/regions")).body.regions.find((r: { id: string }) => r.id === "eu-west");

describe("push endpoints in the region shard", () => {
  it("is capacity of its region; holds the region while it exists; deleting it returns its tasks to the queue", async () => {
    const { h, client } = await setUp();
    expect(await region(h)).toMatchObject({ healthy: true, capacity: 4, nodes: { healthy: 0, total: 0 } });
    const id = (await h.submit({ type: "work", region: "eu-west", maxAttempts: 3 }, client)).body.id;
    expect((await h.get(`/v1/tasks/${id}`, client)).body).toMatchObject({
      status: "leased",
      nodeId: "endpoint:hooks",
      attempts: 1,
    });
    expect((await h.get(ENDPOINT)).body.inFlight).toBe(1);
    const refused = await h.delete("/v1/regions/eu-west");
    expect(refused.status).toBe(409);
    expect(refused.body.error.reason).toBe("region_has_nodes");

    expect((await h.delete(ENDPOINT)).status).toBe(204);
    expect((await h.get(`/v1/tasks/${id}`, client)).body).toMatchObject({
      status: "scheduled",
      nodeId: null,
      attempts: 1,
      lastError: "endpoint deleted",
    });
    expect(await region(h)).toMatchObject({ healthy: false, capacity: 0 });
  });

  it("a lease to an endpoint ends like a node's: its expiry frees the room and retries the task", async () => {
    const { h, client } = await setUp();
    const id = (await h.submit({ type: "work", region: "eu-west", timeoutMs: 5000 }, client)).body.id;
    const leased = (await h.get(`/v1/tasks/${id}`, client)).body;
    expect(leased.status).toBe("leased");
    // The delivery's lease is its timeout (the task's 5 s here) and a 2 s margin.
    await h.advance(7001);
    await h.alarm("eu-west");
    expect((await h.get(`/v1/tasks/${id}`, client)).body).toMatchObject({
      status: "scheduled",
      lastError: "lease expired",
    });
    expect((await h.get(ENDPOINT)).body.inFlight).toBe(0);
  });

  it("an open breaker outlives an eviction: the region stays unhealthy until the pause ends and it is half open", async () => {
    const { h } = await setUp();
    const openedAt = h.now;
    await h.insideShard("eu-west", (engine) => {
      const endpoint = engine.endpoints.get("hooks")!;
      engine.endpoints.setBreaker(endpoint, { state: "open", failures: 5, openedAt });
      engine.deliveries.offer(endpoint, openedAt);
      engine.dueAt(openedAt + engine.deps.config.endpoints.breakerPauseMs);
    });
    await h.evictAll();
    expect((await h.get(ENDPOINT)).body.breaker).toEqual({ state: "open", failures: 5, openedAt });
    expect(await region(h)).toMatchObject({ healthy: false, capacity: 0 });
    await h.advance(30_000); // ENDPOINT_BREAKER_PAUSE_MS's default
    await h.alarm("eu-west");
    expect((await h.get(ENDPOINT)).body.breaker.state).toBe("half_open");
    // Half open: one probe's worth of capacity, so the region gets a task to probe with.
    expect(await region(h)).toMatchObject({ healthy: true, capacity: 1 });
  });
});
