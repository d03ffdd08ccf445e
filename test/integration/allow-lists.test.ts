import { describe, expect, it } from "vitest";
import { CITIES, world } from "./harness";

/** Region allow-lists (API-v2 §3) through the Worker: `regions` and `fallback` on a task body. */
describe("region allow-lists", () => {
  it("routes to the nearest healthy region of the list, and explains the nearer regions outside it", async () => {
    const { h, client } = await world({ "eu-west": 5, "eu-central": 5, "us-east": 5 });
    // From Paris, eu-central (Frankfurt) is nearest; the list allows only eu-west and us-east.
    const reply = await h.submit(
      { type: "x", location: CITIES.paris, regions: ["us-east", "eu-west"] },
      client,
    );
    expect(reply.status).toBe(201);
    expect(reply.body).toMatchObject({
      region: "eu-west",
      regions: ["us-east", "eu-west"],
      fallback: "none",
      routing: {
        reason: "allowed",
        region: "eu-west",
        considered: [
          { region: "eu-central", outcome: "not_allowed" },
          { region: "eu-west", outcome: "chosen" },
        ],
      },
    });
    // Stored with the task: GET shows the same.
    const read = await h.get(`/v1/tasks/${reply.body.id}`, client);
    expect(read.body).toMatchObject({
      regions: ["us-east", "eu-west"],
      fallback: "none",
      routing: reply.body.routing,
    });
  });

  it("answers 503 naming the list when no region of it can take the task, and stores nothing", async () => {
    const { h, client } = await world({ "eu-central": 5 });
    const reply = await h.submit(
      { type: "x", location: CITIES.paris, regions: ["eu-west", "us-east"] },
      client,
    );
    expect(reply.status).toBe(503);
    expect(reply.body.error.code).toBe("no_healthy_region");
    expect(reply.body.error.message).toContain("eu-west, us-east");
    expect((await h.get("/v1/tasks", client)).body.tasks).toEqual([]);
  });

  it("with fallback nearest, spills over outside the list when the list cannot take it", async () => {
    const { h, client } = await world({ "eu-central": 5, "us-east": 5 });
    const reply = await h.submit(
      { type: "x", location: CITIES.paris, regions: ["eu-west"], fallback: "nearest" },
      client,
    );
    expect(reply.status).toBe(201);
    expect(reply.body).toMatchObject({
      region: "eu-central",
      fallback: "nearest",
      routing: {
        reason: "spillover",
        considered: [{ region: "eu-central", outcome: "chosen" }],
      },
    });
  });

  it("with fallback nearest, prefers a region of the list that is farther but has room", async () => {
    const { h, client } = await world({ "eu-central": 5, "us-east": 5 });
    const reply = await h.submit(
      { type: "x", location: CITIES.paris, regions: ["us-east"], fallback: "nearest" },
      client,
    );
    expect(reply.body.routing).toMatchObject({
      reason: "allowed",
      region: "us-east",
      considered: [
        { region: "eu-central", outcome: "not_allowed" },
        { region: "eu-west", outcome: "unhealthy" },
        { region: "us-east", outcome: "chosen" },
      ],
    });
  });

  it("refuses a pin with a list (400), an unknown region in the list (404), and a fallback without a list (400)", async () => {
    const { h, client } = await world({ "eu-west": 5 });
    const both = await h.submit({ type: "x", region: "eu-west", regions: ["eu-west"] }, client);
    expect(both.status).toBe(400);
    expect(both.body.error.issues).toEqual([expect.objectContaining({ path: "regions" })]);
    const unknown = await h.submit({ type: "x", regions: ["eu-west", "mars"] }, client);
    expect(unknown.status).toBe(404);
    expect(unknown.body.error).toMatchObject({ code: "not_found", message: "no region mars" });
    expect((await h.submit({ type: "x", fallback: "nearest" }, client)).status).toBe(400);
    expect((await h.submit({ type: "x", regions: [] }, client)).status).toBe(400);
    expect((await h.submit({ type: "x", regions: ["eu-west", "eu-west"] }, client)).status).toBe(400);
    const many = Array.from({ length: 17 }, (_, i) => `r${i}`);
    expect((await h.submit({ type: "x", regions: many }, client)).status).toBe(400);
  });

  it("honours each item's list in a batch", async () => {
    const { h, client } = await world({ "eu-west": 5, "eu-central": 5 });
    const reply = await h.post(
      "/v1/tasks:batch",
      {
        tasks: [
          { type: "x", location: CITIES.paris, regions: ["eu-west"] },
          { type: "x", location: CITIES.paris },
          { type: "x", location: CITIES.paris, regions: ["us-east"] },
          { type: "x", location: CITIES.paris, regions: ["nowhere"] },
          { type: "x", location: CITIES.paris, regions: ["us-east"], fallback: "nearest" },
        ],
      },
      client,
    );
    const [listed, plain, exhausted, unknown, fallback] = reply.body.results;
    expect(listed.task).toMatchObject({ region: "eu-west", routing: { reason: "allowed" } });
    expect(plain.task).toMatchObject({ region: "eu-central", routing: { reason: "nearest" } });
    expect(exhausted.error.code).toBe("no_healthy_region");
    expect(unknown.error.code).toBe("not_found");
    expect(fallback.task).toMatchObject({ region: "eu-central", routing: { reason: "spillover" } });
  });

  it("spills over within the list when the list's first choice refuses (its node is gone since the edge's table)", async () => {
    const { h, client, node, nodes } = await world({ "eu-west": 5, "eu-central": 5, "us-east": 5 });
    // The edge's copy of the table still sees eu-west healthy; its shard now has no node.
    await h.submit({ type: "warm", location: CITIES.paris }, client);
    expect((await h.delete(`/v1/nodes/${nodes["eu-west"]}`, node)).status).toBe(204);
    const reply = await h.submit(
      { type: "x", location: CITIES.paris, regions: ["eu-west", "us-east"] },
      client,
    );
    expect(reply.status).toBe(201);
    expect(reply.body.region).toBe("us-east");
    expect(reply.body.routing.reason).toBe("allowed");
    expect(
      reply.body.routing.considered.map((c: { region: string; outcome: string }) => [c.region, c.outcome]),
    ).toEqual([
      ["eu-central", "not_allowed"],
      ["eu-west", "refused"],
      ["us-east", "chosen"],
    ]);
  });

  it("makes the list part of an idempotent repeat: the same list in another order repeats, another list is a mismatch", async () => {
    const { h, client } = await world({ "eu-west": 5, "eu-central": 5 });
    const body = {
      type: "x",
      location: CITIES.paris,
      idempotencyKey: "k",
      regions: ["eu-west", "eu-central"],
    };
    const first = await h.submit(body, client);
    expect(first.status).toBe(201);
    const repeat = await h.submit({ ...body, regions: ["eu-central", "eu-west"], fallback: "none" }, client);
    expect(repeat.status).toBe(200);
    expect(repeat.body.id).toBe(first.body.id);
    const other = await h.submit({ ...body, regions: ["eu-west"] }, client);
    expect(other.status).toBe(409);
    expect(other.body.error.reason).toBe("idempotency_mismatch");
    const fallback = await h.submit({ ...body, fallback: "nearest" }, client);
    expect(fallback.body.error.reason).toBe("idempotency_mismatch");
  });
});
