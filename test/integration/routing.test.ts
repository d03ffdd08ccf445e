import { describe, expect, it } from "vitest";
import { CITIES, harness, REGIONS } from "./harness";

async function world(capacities: Partial<Record<keyof typeof REGIONS, number>>) {
  const h = await harness();
  const node = await h.token("node");
  const client = await h.token("client");
  const nodes: Record<string, string> = {};
  for (const [id, at] of Object.entries(REGIONS)) {
    await h.region(id, at.lat, at.lon);
    const capacity = capacities[id as keyof typeof REGIONS];
    if (capacity !== undefined) {
      nodes[id] = await h.node(node, id, capacity);
    }
  }
  return { h, node, client, nodes };
}

describe("geo routing", () => {
  it("routes each city to its nearest healthy region, with the great-circle distance", async () => {
    const { h, client } = await world({ "eu-west": 5, "eu-central": 5, "us-east": 5, "ap-northeast": 5 });
    const paris = await h.submit({ type: "x", location: CITIES.paris }, client);
    expect(paris.body.region).toBe("eu-central");
    expect(paris.body.routing.reason).toBe("nearest");
    expect(paris.body.routing.distanceKm).toBeCloseTo(479, -1);
    expect((await h.submit({ type: "x", location: CITIES.newYork }, client)).body.region).toBe("us-east");
    expect((await h.submit({ type: "x", location: CITIES.tokyo }, client)).body.region).toBe("ap-northeast");
    // São Paulo is nearest to us-east among these.
    expect((await h.submit({ type: "x", location: CITIES.saoPaulo }, client)).body.region).toBe("us-east");
  });

  it("skips regions without a healthy node", async () => {
    const { h, client } = await world({ "eu-west": 5, "us-east": 5 });
    const paris = await h.submit({ type: "x", location: CITIES.paris }, client);
    expect(paris.body.region).toBe("eu-west");
  });

  it("spills over to the next-nearest region with room when the nearest is full", async () => {
    const { h, client } = await world({ "eu-central": 2, "eu-west": 5, "us-east": 5 });
    const first = await h.submit({ type: "x", location: CITIES.paris }, client);
    const second = await h.submit({ type: "x", location: CITIES.paris }, client);
    expect([first.body.region, second.body.region]).toEqual(["eu-central", "eu-central"]);
    // eu-central now holds 2 of 2: the edge's table may be a second old, the coordinator corrects it.
    const third = await h.submit({ type: "x", location: CITIES.paris }, client);
    expect(third.body.region).toBe("eu-west");
    expect(third.body.routing.reason).toBe("spillover");
  });

  it("queues in the nearest region when every region is full", async () => {
    const { h, client } = await world({ "eu-central": 1, "us-east": 1 });
    await h.submit({ type: "x", location: CITIES.paris }, client);
    await h.submit({ type: "x", location: CITIES.newYork }, client);
    const third = await h.submit({ type: "x", location: CITIES.paris }, client);
    expect(third.body.region).toBe("eu-central");
    expect(third.body.routing.reason).toBe("nearest");
  });

  it("pins to a region: 404 when unknown, 503 when unhealthy", async () => {
    const { h, client } = await world({ "eu-west": 5 });
    const pinned = await h.submit({ type: "x", region: "eu-west", location: CITIES.tokyo }, client);
    expect(pinned.status).toBe(201);
    expect(pinned.body.routing.reason).toBe("pinned");
    expect(pinned.body.routing.distanceKm).toBeGreaterThan(9000);
    expect((await h.submit({ type: "x", region: "mars" }, client)).status).toBe(404);
    const unhealthy = await h.submit({ type: "x", region: "us-east" }, client);
    expect(unhealthy.status).toBe(503);
    expect(unhealthy.body.error.code).toBe("no_healthy_region");
  });

  it("without a location, picks the least-loaded healthy region", async () => {
    const { h, client } = await world({ "eu-west": 10, "us-east": 1 });
    const reply = await h.submit({ type: "x" }, client);
    expect(reply.body.routing).toEqual({ reason: "no_location", distanceKm: null, from: null });
    expect(reply.body.region).toBe("eu-west");
  });

  it("answers 503 and stores nothing when no region is healthy", async () => {
    const { h, client } = await world({});
    const reply = await h.submit({ type: "x", location: CITIES.paris, idempotencyKey: "k" }, client);
    expect(reply.status).toBe(503);
    expect(reply.body.error.code).toBe("no_healthy_region");
    expect((await h.get("/v1/tasks", client)).body.tasks).toEqual([]);
    const counts = await h.inside((s) => s.tasks.depth());
    expect(Object.values(counts).every((n) => n === 0)).toBe(true);
  });
});
