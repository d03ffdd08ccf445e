import { describe, expect, it } from "vitest";
import { CITIES, harness } from "./harness";

async function setup() {
  const h = await harness();
  await h.region("eu-west", 53.35, -6.26);
  const node = await h.token("node");
  const client = await h.token("client");
  const nodeId = await h.node(node, "eu-west");
  return { h, node, client, nodeId };
}

describe("tasks", () => {
  it("submits with defaults and reads it back", async () => {
    const { h, client } = await setup();
    const reply = await h.submit({ type: "resize", payload: { w: 10 }, location: CITIES.paris }, client);
    expect(reply.status).toBe(201);
    expect(reply.body).toMatchObject({
      type: "resize",
      payload: { w: 10 },
      status: "queued",
      priority: 0,
      region: "eu-west",
      attempts: 0,
      maxAttempts: 3,
      timeoutMs: 30000,
      nodeId: null,
      routing: { reason: "nearest", from: CITIES.paris },
    });
    const got = await h.get(`/v1/tasks/${reply.body.id}`, client);
    expect(got.body).toEqual(reply.body);
    expect((await h.get("/v1/tasks/t-doesnotexist", client)).status).toBe(404);
  });

  it("rejects invalid bodies with each issue listed and stores nothing", async () => {
    const { h, client } = await setup();
    const cases: [unknown, string][] = [
      [{ type: "Bad Type" }, "type"],
      [{ type: "x", priority: 10 }, "priority"],
      [{ type: "x", maxAttempts: 0 }, "maxAttempts"],
      [{ type: "x", timeoutMs: 999 }, "timeoutMs"],
      [{ type: "x", delayMs: 10, runAt: 1 }, "runAt"],
      [{ type: "x", location: { lat: 100, lon: 0 } }, "location.lat"],
      [{ type: "x", idempotencyKey: "k".repeat(201) }, "idempotencyKey"],
      [{ type: "x", surprise: 1 }, ""],
      [[], ""],
    ];
    for (const [body, path] of cases) {
      const reply = await h.submit(body as Record<string, unknown>, client);
      expect(reply.status, JSON.stringify(body)).toBe(400);
      expect(reply.body.error.code).toBe("invalid_request");
      if (path) {
        expect(reply.body.error.issues.map((i: { path: string }) => i.path)).toContain(path);
      }
    }
    const notJson = await h.request("POST", "/v1/tasks", { raw: "{type:", token: client });
    expect(notJson.status).toBe(400);
    expect((await h.get("/v1/tasks", client)).body.tasks).toEqual([]);
  });

  it("reads every body as JSON, whatever content type the client sends (or none)", async () => {
    const { h, client } = await setup();
    const body = JSON.stringify({ type: "typed", payload: { n: 1 }, location: { lat: 53.3, lon: -6.2 } });
    for (const type of [undefined, "text/plain", "application/json; charset=utf-8", "application/json"]) {
      const headers: Record<string, string> = type === undefined ? {} : { "content-type": type };
      const reply = await h.request("POST", "/v1/tasks", { raw: body, token: client, headers });
      expect(reply.status, String(type)).toBe(201);
      expect(reply.body).toMatchObject({ type: "typed", payload: { n: 1 } });
    }
    expect((await h.get("/v1/tasks", client)).body.tasks).toHaveLength(4);
  });

  it("keeps an idempotency key that is not well-formed Unicode the same whichever way it was stored", async () => {
    const { h, client } = await setup();
    // "\\ud800" in the JSON text: a lone surrogate once parsed. Stored from a batch (one statement
    // for all its tasks) or alone, a repeat must find the first task.
    const raw = (key: string, type: string) => `{"type":"${type}","idempotencyKey":"${key}"}`;
    const batch = await h.request("POST", "/v1/tasks:batch", {
      raw: `{"tasks":[${raw("a\\ud800", "x")},${raw("b\\udfff", "y")}]}`,
      token: client,
    });
    expect(batch.body.results.map((r: { task?: unknown }) => r.task !== undefined)).toEqual([true, true]);
    const repeat = await h.request("POST", "/v1/tasks", { raw: raw("a\\ud800", "x"), token: client });
    expect(repeat.status).toBe(200);
    expect(repeat.body.id).toBe(batch.body.results[0].task.id);
    const alone = await h.request("POST", "/v1/tasks", { raw: raw("c\\ud800", "z"), token: client });
    const again = await h.request("POST", "/v1/tasks:batch", {
      raw: `{"tasks":[${raw("c\\ud800", "z")}]}`,
      token: client,
    });
    expect(again.body.results[0].task.id).toBe(alone.body.id);
    expect((await h.get("/v1/tasks", client)).body.tasks).toHaveLength(3);
  });

  it("refuses a body over 256 KiB with 413", async () => {
    const { h, client } = await setup();
    const reply = await h.submit({ type: "x", payload: "a".repeat(300 * 1024) }, client);
    expect(reply.status).toBe(413);
    expect(reply.body.error.code).toBe("payload_too_large");
    expect((await h.get("/v1/tasks", client)).body.tasks).toEqual([]);
  });

  it("is idempotent: same body gives the first task, another body 409", async () => {
    const { h, client } = await setup();
    const first = await h.submit({ type: "x", payload: 1, idempotencyKey: "order-1" }, client);
    expect(first.status).toBe(201);
    const repeat = await h.submit({ payload: 1, idempotencyKey: "order-1", type: "x" }, client);
    expect(repeat.status).toBe(200);
    expect(repeat.body).toEqual(first.body);
    const header = await h.request("POST", "/v1/tasks", {
      token: client,
      body: { type: "x", payload: 1 },
      headers: { "idempotency-key": "order-1" },
    });
    expect(header.status).toBe(200);
    expect(header.body.id).toBe(first.body.id);
    const other = await h.submit({ type: "x", payload: 2, idempotencyKey: "order-1" }, client);
    expect(other.status).toBe(409);
    expect(other.body.error.reason).toBe("idempotency_mismatch");
    expect((await h.get("/v1/tasks", client)).body.tasks).toHaveLength(1);
  });

  it("is idempotent in a large keyed batch too (the keys object claims it in two statements)", async () => {
    const { h, client } = await setup();
    const bodies = Array.from({ length: 40 }, (_, i) => ({
      type: "x",
      payload: i,
      idempotencyKey: `k-${i}`,
    }));
    const first = await h.post("/v1/tasks:batch", { tasks: bodies }, client);
    const ids = first.body.results.map((r: any) => r.task.id);
    expect(new Set(ids).size).toBe(40);
    // Repeats, a changed body, and new keys, mixed in one batch of more than 16.
    const mixed = [
      ...bodies.slice(0, 20),
      { type: "x", payload: "changed", idempotencyKey: "k-20" },
      ...Array.from({ length: 5 }, (_, i) => ({ type: "x", idempotencyKey: `new-${i}` })),
    ];
    const again = (await h.post("/v1/tasks:batch", { tasks: mixed }, client)).body.results;
    expect(again.slice(0, 20).map((r: any) => r.task.id)).toEqual(ids.slice(0, 20));
    expect(again[20].error.reason).toBe("idempotency_mismatch");
    expect(new Set(again.slice(21).map((r: any) => r.task.id)).size).toBe(5);
    expect((await h.get("/v1/tasks?limit=500", client)).body.tasks).toHaveLength(45);
    // A single keyed submit reads what the batch wrote.
    expect((await h.submit({ type: "x", idempotencyKey: "new-3" }, client)).body.id).toBe(again[24].task.id);
  });

  it("lists newest first with a cursor and filters", async () => {
    const { h, client } = await setup();
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      ids.push((await h.submit({ type: i % 2 ? "odd" : "even" }, client)).body.id);
    }
    const page1 = await h.get("/v1/tasks?limit=2", client);
    expect(page1.body.tasks.map((t: { id: string }) => t.id)).toEqual([ids[4], ids[3]]);
    const page2 = await h.get(`/v1/tasks?limit=2&cursor=${page1.body.cursor}`, client);
    expect(page2.body.tasks.map((t: { id: string }) => t.id)).toEqual([ids[2], ids[1]]);
    const page3 = await h.get(`/v1/tasks?limit=2&cursor=${page2.body.cursor}`, client);
    expect(page3.body).toMatchObject({ cursor: null });
    expect(page3.body.tasks).toHaveLength(1);
    const odd = await h.get("/v1/tasks?type=odd&status=queued&region=eu-west", client);
    expect(odd.body.tasks.map((t: { id: string }) => t.id)).toEqual([ids[3], ids[1]]);
    expect((await h.get("/v1/tasks?limit=0", client)).status).toBe(400);
    expect((await h.get("/v1/tasks?status=lost", client)).status).toBe(400);
    expect((await h.get("/v1/tasks?cursor=abc", client)).status).toBe(400);
  });

  it("cancels once; a second cancel is 409 already_terminal; the holder's lease is lost", async () => {
    const { h, client, node, nodeId } = await setup();
    const { id } = (await h.submit({ type: "x" }, client)).body;
    const [leased] = await h.poll(nodeId, node);
    const cancel = await h.post(`/v1/tasks/${id}/cancel`, {}, client);
    expect(cancel.body).toEqual({ status: "canceled" });
    const again = await h.post(`/v1/tasks/${id}/cancel`, {}, client);
    expect(again.status).toBe(409);
    expect(again.body.error.reason).toBe("already_terminal");
    const late = await h.post(`/v1/tasks/${id}/complete`, { leaseToken: leased.leaseToken }, node);
    expect(late.status).toBe(409);
    expect(late.body.error.reason).toBe("lease_lost");
    expect((await h.get(`/v1/tasks/${id}`, client)).body.status).toBe("canceled");
  });

  it("submits a batch where each item succeeds or fails alone", async () => {
    const { h, client } = await setup();
    const reply = await h.post(
      "/v1/tasks:batch",
      { tasks: [{ type: "a" }, { type: "NOPE" }, { type: "b", region: "mars" }, { type: "c", priority: 9 }] },
      client,
    );
    expect(reply.status).toBe(200);
    const [a, bad, mars, c] = reply.body.results;
    expect(a.task).toMatchObject({ type: "a", status: "queued" });
    expect(bad.error).toMatchObject({ code: "invalid_request" });
    expect(mars.error).toMatchObject({ code: "not_found" });
    expect(c.task).toMatchObject({ type: "c", priority: 9 });
    expect((await h.get("/v1/tasks", client)).body.tasks).toHaveLength(2);
    const tooMany = await h.post(
      "/v1/tasks:batch",
      { tasks: Array.from({ length: 101 }, () => ({ type: "x" })) },
      client,
    );
    expect(tooMany.status).toBe(400);
  });
});
