import { describe, expect, it } from "vitest";
import { CITIES, world } from "./harness";

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

  it("routes each item of a batch with what the items before it took, repeats included", async () => {
    const { h, client, node, nodes } = await world({ "eu-central": 2, "eu-west": 5 });
    const paris = (extra: Record<string, unknown> = {}) => ({ type: "x", location: CITIES.paris, ...extra });
    const reply = await h.post(
      "/v1/tasks:batch",
      {
        tasks: [
          paris({ idempotencyKey: "k1", payload: 1 }),
          paris({ idempotencyKey: "k1", payload: 1 }), // a repeat of the first: the same task
          paris({ idempotencyKey: "k1", payload: 2 }), // the same key, another body
          paris(),
          paris(), // eu-central holds 2 of 2 by now
        ],
      },
      client,
    );
    const [first, repeat, mismatch, second, third] = reply.body.results;
    expect(repeat.task).toEqual(first.task);
    expect(mismatch.error.reason).toBe("idempotency_mismatch");
    expect([first.task.region, second.task.region]).toEqual(["eu-central", "eu-central"]);
    expect(third.task).toMatchObject({ region: "eu-west", routing: { reason: "spillover" } });
    // Stored in order, and at once: the oldest runnable task of eu-central is the batch's first.
    const listed = (await h.get("/v1/tasks", client)).body.tasks.map((t: { id: string }) => t.id);
    expect(listed).toEqual([third.task.id, second.task.id, first.task.id]);
    expect((await h.poll(nodes["eu-central"]!, node))[0].id).toBe(first.task.id);
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
    expect(reply.body.routing).toEqual({
      reason: "no_location",
      region: "eu-west",
      distanceKm: null,
      from: null,
      considered: [{ region: "eu-west", distanceKm: null, outcome: "chosen" }],
    });
    expect(reply.body.region).toBe("eu-west");
  });

  it("answers 503 and stores nothing when no region is healthy", async () => {
    const { h, client } = await world({});
    const reply = await h.submit({ type: "x", location: CITIES.paris, idempotencyKey: "k" }, client);
    expect(reply.status).toBe(503);
    expect(reply.body.error.code).toBe("no_healthy_region");
    expect((await h.get("/v1/tasks", client)).body.tasks).toEqual([]);
    for (const region of h.regions) {
      expect(await h.shardSql(region, "SELECT count(*) AS n FROM tasks")).toEqual([{ n: 0 }]);
    }
  });
});
