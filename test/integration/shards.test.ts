import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { canonicalJson } from "../../src/core/canonical-json";
import { sha256Hex } from "../../src/core/sha256-hex";
import { mintTaskId } from "../../src/ids";
import { SubmitTask } from "../../src/schemas/tasks";
import { CITIES, type Harness, world } from "./harness";

const taskRows = (h: Harness, region: string) =>
  h.shardSql<{ id: string }>(region, "SELECT id FROM tasks ORDER BY id");

describe("region shards", () => {
  it("stores each task in its region's shard only, under an id that names that shard", async () => {
    const { h, client } = await world({ "eu-central": 5, "ap-northeast": 5 });
    const paris = (await h.submit({ type: "x", location: CITIES.paris }, client)).body;
    const tokyo = (await h.submit({ type: "x", location: CITIES.tokyo }, client)).body;
    expect(paris.id).toMatch(/-eu-central$/);
    expect(tokyo.id).toMatch(/-ap-northeast$/);
    expect(await taskRows(h, "eu-central")).toEqual([{ id: paris.id }]);
    expect(await taskRows(h, "ap-northeast")).toEqual([{ id: tokyo.id }]);
    expect(await taskRows(h, "eu-west")).toEqual([]);
    // Calls about a task go straight to its shard; an id naming another region is unknown there.
    expect((await h.get(`/v1/tasks/${tokyo.id}`, client)).body.region).toBe("ap-northeast");
    const elsewhere = tokyo.id.replace(/-ap-northeast$/, "-eu-west");
    expect((await h.get(`/v1/tasks/${elsewhere}`, client)).status).toBe(404);
    expect((await h.get("/v1/tasks/t-not-minted-here", client)).status).toBe(404);
  });

  it("answers an id or filter naming a region that never existed with 404 or nothing, looking it up at most every 100 ms", async () => {
    const { h, client, node } = await world({ "eu-central": 5 });
    const { id } = (await h.submit({ type: "x", location: CITIES.paris }, client)).body;
    const lookups = () => h.inside((s) => s.calls.get("routingTable") ?? 0);
    const before = await lookups();
    const elsewhere = id.replace(/-eu-central$/, "-nowhere");
    for (let i = 0; i < 5; i++) {
      expect((await h.get(`/v1/tasks/${elsewhere}`, client)).status).toBe(404);
      expect((await h.post("/v1/nodes/node-000000000000-nowhere/heartbeat", {}, node)).status).toBe(404);
      expect((await h.get("/v1/tasks?region=nowhere", client)).body.tasks).toEqual([]);
      expect((await h.submit({ type: "x", region: "nowhere" }, client)).status).toBe(404);
    }
    expect(await lookups()).toBe(before + 1); // the clock stood still: one look-up for all twenty
  });

  it("offers a task to the next region when a shard refuses it, and says so in routing.considered", async () => {
    const { h, client, node, nodes } = await world({ "eu-central": 1, "eu-west": 5 });
    // The edge's table (cached) says eu-central has room; its one node then drains, so its shard refuses.
    await h.submit({ type: "warm", location: CITIES.tokyo }, client); // the table is cached from here on
    expect((await h.post(`/v1/nodes/${nodes["eu-central"]}/drain`, {}, node)).status).toBe(200);
    const reply = await h.submit({ type: "x", location: CITIES.paris }, client);
    expect(reply.status).toBe(201);
    expect(reply.body.region).toBe("eu-west");
    // Unhealthy regions are no candidates (v1's rule): eu-west is the nearest healthy one.
    expect(reply.body.routing).toMatchObject({ reason: "nearest", region: "eu-west" });
    expect(
      reply.body.routing.considered.map((c: { region: string; outcome: string }) => [c.region, c.outcome]),
    ).toEqual([
      ["eu-central", "refused"],
      ["eu-west", "chosen"],
    ]);
    // The same explanation is kept with the task.
    expect((await h.get(`/v1/tasks/${reply.body.id}`, client)).body.routing).toEqual(reply.body.routing);
  });

  it("lists every shard's tasks newest first behind one cursor, and one shard's with ?region=", async () => {
    const { h, client } = await world({ "eu-central": 9, "us-east": 9, "ap-northeast": 9 });
    const ids: string[] = [];
    for (const city of [
      CITIES.paris,
      CITIES.newYork,
      CITIES.tokyo,
      CITIES.paris,
      CITIES.tokyo,
      CITIES.newYork,
      CITIES.paris,
    ]) {
      ids.push((await h.submit({ type: "x", location: city }, client)).body.id);
      await h.advance(1);
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { body: { tasks: { id: string }[]; cursor: string | null } } = await h.get(
        `/v1/tasks?limit=3${cursor ? `&cursor=${cursor}` : ""}`,
        client,
      );
      expect(page.body.tasks.length).toBeLessThanOrEqual(3);
      seen.push(...page.body.tasks.map((t) => t.id));
      cursor = page.body.cursor;
    } while (cursor !== null);
    expect(seen).toEqual([...ids].reverse());
    const tokyo = (await h.get("/v1/tasks?region=ap-northeast", client)).body.tasks.map(
      (t: { id: string }) => t.id,
    );
    expect(tokyo).toEqual([ids[4], ids[2]]);
  });

  it("keeps an idempotency key global per token: the same key from another city is the same task", async () => {
    const { h, client } = await world({ "eu-central": 5, "ap-northeast": 5 });
    const other = await h.token("client");
    const first = await h.submit(
      { type: "x", payload: 1, location: CITIES.paris, idempotencyKey: "once" },
      client,
    );
    expect(first.status).toBe(201);
    expect(first.body.region).toBe("eu-central");
    // The body differs only where it is routed from... which is part of the body: another body, 409.
    const moved = await h.submit(
      { type: "x", payload: 1, location: CITIES.tokyo, idempotencyKey: "once" },
      client,
    );
    expect(moved.status).toBe(409);
    expect(moved.body.error.reason).toBe("idempotency_mismatch");
    // The same body again is the same task, stored in eu-central, with no second row anywhere.
    const again = await h.submit(
      { type: "x", payload: 1, location: CITIES.paris, idempotencyKey: "once" },
      client,
    );
    expect(again.status).toBe(200);
    expect(again.body).toEqual(first.body);
    expect(await taskRows(h, "eu-central")).toEqual([{ id: first.body.id }]);
    expect(await taskRows(h, "ap-northeast")).toEqual([]);
    // Keys belong to their token: another client's "once" is its own task.
    const theirs = await h.submit(
      { type: "x", payload: 1, location: CITIES.paris, idempotencyKey: "once" },
      other,
    );
    expect(theirs.status).toBe(201);
    expect(theirs.body.id).not.toBe(first.body.id);
  });

  it("a key whose first submit never stored its task (a crash between claim and store) is completed by the repeat, under the same id", async () => {
    const { h, client } = await world({ "eu-central": 5 });
    const clientId = (await h.get("/v1/tokens")).body.tokens.find(
      (t: { role: string }) => t.role === "client",
    ).id;
    const body = { type: "x", payload: 7, location: CITIES.paris };
    const recordedId = mintTaskId("eu-central", h.now);
    // What a submit that crashed after claiming left behind: a key naming a task no shard has.
    await env.IDEMPOTENCY_KEYS.get(env.IDEMPOTENCY_KEYS.idFromName(`${h.name}/${clientId}`)).claim(
      // The hash the edge takes: of the validated body (defaults filled in), without its key.
      [
        {
          key: "crashed",
          requestHash: await sha256Hex(canonicalJson(SubmitTask.parse(body))),
          taskId: recordedId,
        },
      ],
      h.now,
    );
    const repeat = await h.submit({ ...body, idempotencyKey: "crashed" }, client);
    expect(repeat.status).toBe(201);
    expect(repeat.body.id).toBe(recordedId);
    // The late first submit, had it arrived now, would find it: one task for the key.
    const again = await h.submit({ ...body, idempotencyKey: "crashed" }, client);
    expect([again.status, again.body.id]).toEqual([200, recordedId]);
    expect(await taskRows(h, "eu-central")).toEqual([{ id: recordedId }]);
  });

  it("answers a repeated key with its task even when no region could take a new one now", async () => {
    const { h, client, node, nodes } = await world({ "eu-central": 5 });
    const first = await h.submit({ type: "x", location: CITIES.paris, idempotencyKey: "k" }, client);
    expect((await h.delete(`/v1/nodes/${nodes["eu-central"]}`, node)).status).toBe(204);
    const again = await h.submit({ type: "x", location: CITIES.paris, idempotencyKey: "k" }, client);
    expect(again.status).toBe(200);
    expect(again.body.id).toBe(first.body.id);
    // A new key gets 503 and is not kept: once a region is healthy again, it is stored.
    expect(
      (await h.submit({ type: "x", location: CITIES.paris, idempotencyKey: "new" }, client)).status,
    ).toBe(503);
    await h.node(node, "eu-central", 5);
    expect(
      (await h.submit({ type: "x", location: CITIES.paris, idempotencyKey: "new" }, client)).status,
    ).toBe(201);
  });

  it("makes no coordinator call on the hot path: submit, batch, poll, complete, fail, extend, report", async () => {
    const { h, client, node, nodes } = await world({ "eu-central": 50 });
    const nodeId = nodes["eu-central"]!;
    await h.submit({ type: "warm", location: CITIES.paris }, client); // tokens and table now cached at this edge
    const before = await h.inside((s) => Object.fromEntries(s.calls));
    for (let i = 0; i < 5; i++) {
      await h.submit({ type: "x", location: CITIES.paris }, client);
    }
    await h.post(
      "/v1/tasks:batch",
      { tasks: [{ type: "y", location: CITIES.paris }, { type: "y" }] },
      client,
    );
    const leased = await h.poll(nodeId, node, 8);
    expect(leased).toHaveLength(8);
    await h.post(`/v1/tasks/${leased[0].id}/complete`, { leaseToken: leased[0].leaseToken }, node);
    await h.post(`/v1/tasks/${leased[1].id}/fail`, { leaseToken: leased[1].leaseToken, error: "e" }, node);
    await h.post(
      `/v1/tasks/${leased[2].id}/extend`,
      { leaseToken: leased[2].leaseToken, extendMs: 5000 },
      node,
    );
    const reports = leased.slice(3).map((t: { id: string; leaseToken: string }) => ({
      id: t.id,
      leaseToken: t.leaseToken,
      outcome: "succeeded",
    }));
    expect((await h.post(`/v1/nodes/${nodeId}/report`, { reports }, node)).status).toBe(200);
    const after = await h.inside((s) => Object.fromEntries(s.calls));
    // Shards may report load (debounced); nothing the edge calls on these routes reaches the coordinator.
    const edgeCalls = (calls: Record<string, number>) =>
      Object.entries(calls)
        .filter(([method]) => method !== "reportLoad" && method !== "nodesGone")
        .reduce((sum, [, n]) => sum + n, 0);
    expect(edgeCalls(after)).toBe(edgeCalls(before));
  });
});
