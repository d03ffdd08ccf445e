import { describe, expect, it } from "vitest";
import { CITIES, type Harness, world } from "./harness";
import { SseReader } from "./sse-reader";

/** Fails a task for good: the node leases it and reports a failure that is not retryable. */
async function failTask(h: Harness, nodeId: string, nodeToken: string, id: string): Promise<void> {
  const [leased] = await h.poll(nodeId, nodeToken);
  expect(leased.id).toBe(id);
  const fail = await h.post(
    `/v1/tasks/${id}/fail`,
    { leaseToken: leased.leaseToken, error: "boom", retryable: false },
    nodeToken,
  );
  expect(fail.body).toEqual({ status: "failed" });
}

/** `POST /v1/tasks/{id}/retry` (API-v2 §3): replay of a failed or canceled task. */
describe("task retry", () => {
  it("runs a failed task again in place: queued with attempts from 0, then leased and succeeded", async () => {
    const { h, client, node, nodes } = await world({ "eu-west": 5 });
    const submitted = await h.submit({ type: "x", location: CITIES.paris, maxAttempts: 2 }, client);
    const id = submitted.body.id as string;
    await failTask(h, nodes["eu-west"]!, node, id);
    expect((await h.get(`/v1/tasks/${id}`, client)).body).toMatchObject({ status: "failed", attempts: 1 });

    const retried = await h.post(`/v1/tasks/${id}/retry`, {}, client);
    expect(retried.status).toBe(200);
    expect(retried.body).toMatchObject({
      id,
      status: "queued",
      attempts: 0,
      maxAttempts: 2,
      region: "eu-west",
      lastError: "boom",
      retryOf: null,
      retriedAs: null,
      routing: submitted.body.routing,
    });
    const [leased] = await h.poll(nodes["eu-west"]!, node);
    expect(leased).toMatchObject({ id, attempt: 1 });
    const done = await h.post(
      `/v1/tasks/${id}/complete`,
      { leaseToken: leased.leaseToken, result: 42 },
      node,
    );
    expect(done.body).toEqual({ status: "succeeded" });
    expect((await h.get(`/v1/tasks/${id}`, client)).body).toMatchObject({
      status: "succeeded",
      attempts: 1,
      result: 42,
    });
    // Its outcome is recorded: a succeeded task is not retried.
    const again = await h.post(`/v1/tasks/${id}/retry`, {}, client);
    expect(again.status).toBe(409);
    expect(again.body.error.reason).toBe("not_terminal");
  });

  it("runs a canceled task again, and the event stream sees it routed again", async () => {
    const { h, client, node, nodes } = await world({ "eu-west": 5 });
    const id = (await h.submit({ type: "x", location: CITIES.paris }, client)).body.id as string;
    expect((await h.post(`/v1/tasks/${id}/cancel`, {}, client)).status).toBe(200);
    await h.flushEvents();
    const response = await h.openEvents("?types=task.routed,task.leased", await h.token("reader"));
    const sse = new SseReader(response.body!);
    const retried = await h.post(`/v1/tasks/${id}/retry`, { reroute: false }, client);
    expect(retried.body).toMatchObject({ id, status: "queued", attempts: 0 });
    const [leased] = await h.poll(nodes["eu-west"]!, node);
    expect(leased).toMatchObject({ id, attempt: 1 });
    await h.flushEvents();
    const events = await sse.take(2);
    expect(events.map((m) => [m.event, m.data.taskId])).toEqual([
      ["task.routed", id],
      ["task.leased", id],
    ]);
    await sse.cancel();
  });

  it("takes over a reroute's reservation whose task was never created, once it is stale", async () => {
    const { h, client, node, nodes } = await world({ "eu-west": 5, "eu-central": 5 });
    const id = (await h.submit({ type: "x", location: CITIES.paris }, client)).body.id as string;
    await failTask(h, nodes["eu-central"]!, node, id);
    // A reroute that reserved a new id and then crashed before creating the task there.
    const ghost = id.replace(/-eu-central$/, "-eu-west");
    const admin = { role: "admin" as const, tokenId: "admin", tenant: null };
    const fresh = { successor: null, takeOver: false };
    expect((await h.shard("eu-central").reserveRetry(admin, id, fresh, ghost)).ok).toBe(true);
    expect((await h.get(`/v1/tasks/${id}`, client)).body.retriedAs).toBe(ghost);
    const early = await h.post(`/v1/tasks/${id}/retry`, {}, client);
    expect(early.status).toBe(409);
    expect(early.body.error.reason).toBe("already_retried");
    await h.advance(30_000);
    const late = await h.post(`/v1/tasks/${id}/retry`, {}, client);
    expect(late.status).toBe(200);
    expect(late.body).toMatchObject({ id, status: "queued", retriedAs: null });
  });

  it("answers 409 not_terminal for a queued or leased task, 404 for an unknown one, 403 for a reader", async () => {
    const { h, client, node, nodes } = await world({ "eu-west": 5 });
    const queued = (await h.submit({ type: "x" }, client)).body.id as string;
    const refused = await h.post(`/v1/tasks/${queued}/retry`, {}, client);
    expect(refused.status).toBe(409);
    expect(refused.body.error).toMatchObject({ code: "conflict", reason: "not_terminal" });
    await h.poll(nodes["eu-west"]!, node);
    expect((await h.post(`/v1/tasks/${queued}/retry`, { reroute: true }, client)).body.error.reason).toBe(
      "not_terminal",
    );
    const unknownId = queued.replace(/^t-.{9}/, "t-000000000");
    expect((await h.post(`/v1/tasks/${unknownId}/retry`, {}, client)).status).toBe(404);
    expect((await h.post("/v1/tasks/t-00000000000000000000-mars/retry", {}, client)).status).toBe(404);
    expect((await h.post(`/v1/tasks/${queued}/retry`, { reroute: "yes" }, client)).status).toBe(400);
    const reader = await h.token("reader");
    expect((await h.post(`/v1/tasks/${queued}/retry`, {}, reader)).status).toBe(403);
  });

  it("reroutes a failed task away from its region once that region is unhealthy: a new id there, linked both ways", async () => {
    const { h, client, node, nodes } = await world({ "eu-central": 5, "eu-west": 5 });
    const submitted = await h.submit(
      {
        type: "x",
        payload: { n: 7 },
        location: CITIES.paris,
        regions: ["eu-central", "eu-west"],
        priority: 3,
      },
      client,
    );
    const id = submitted.body.id as string;
    expect(submitted.body.region).toBe("eu-central");
    await failTask(h, nodes["eu-central"]!, node, id);
    // eu-central loses its node; the edge's copy of the table catches up within a second.
    expect((await h.delete(`/v1/nodes/${nodes["eu-central"]}`, node)).status).toBe(204);
    await h.advance(1500);

    // Without reroute it stays where it is (and waits for a node there).
    const moved = await h.post(`/v1/tasks/${id}/retry`, { reroute: true }, client);
    expect(moved.status).toBe(200);
    expect(moved.body).toMatchObject({
      region: "eu-west",
      status: "queued",
      attempts: 0,
      type: "x",
      payload: { n: 7 },
      priority: 3,
      regions: ["eu-central", "eu-west"],
      retryOf: id,
      retriedAs: null,
      routing: {
        reason: "allowed",
        region: "eu-west",
        from: CITIES.paris,
        considered: [
          { region: "eu-central", outcome: "unhealthy" },
          { region: "eu-west", outcome: "chosen" },
        ],
      },
    });
    expect(moved.body.id).not.toBe(id);
    expect(moved.body.id.endsWith("-eu-west")).toBe(true);
    // The old task keeps how it ended, and names its replay.
    expect((await h.get(`/v1/tasks/${id}`, client)).body).toMatchObject({
      status: "failed",
      retriedAs: moved.body.id,
    });
    // It runs in its new region.
    const [leased] = await h.poll(nodes["eu-west"]!, node);
    expect(leased).toMatchObject({ id: moved.body.id, payload: { n: 7 }, attempt: 1 });
    // The old task has been replayed elsewhere: retrying it again is refused, in place or not.
    for (const reroute of [false, true]) {
      const again = await h.post(`/v1/tasks/${id}/retry`, { reroute }, client);
      expect(again.status).toBe(409);
      expect(again.body.error.reason).toBe("already_retried");
    }
  });

  it("reroute honours the allow-list: 503 naming it when no region of it is healthy, and the task stays retryable", async () => {
    const { h, client, node, nodes } = await world({ "eu-central": 5, "us-east": 5 });
    const id = (
      await h.submit({ type: "x", location: CITIES.paris, regions: ["eu-central", "eu-west"] }, client)
    ).body.id as string;
    await failTask(h, nodes["eu-central"]!, node, id);
    await h.delete(`/v1/nodes/${nodes["eu-central"]}`, node);
    await h.advance(1500);
    const refused = await h.post(`/v1/tasks/${id}/retry`, { reroute: true }, client);
    expect(refused.status).toBe(503);
    expect(refused.body.error.message).toContain("eu-central, eu-west");
    expect((await h.get(`/v1/tasks/${id}`, client)).body).toMatchObject({
      status: "failed",
      retriedAs: null,
    });
    // Without reroute it goes back to its own queue, to wait for a node there.
    const inPlace = await h.post(`/v1/tasks/${id}/retry`, {}, client);
    expect(inPlace.body).toMatchObject({ id, region: "eu-central", status: "queued" });
  });

  it("reroute of a pinned task stays pinned; into its own region it is replayed in place with a new routing", async () => {
    const { h, client, node, nodes } = await world({ "eu-west": 5, "eu-central": 5 });
    const pinned = (await h.submit({ type: "x", location: CITIES.paris, region: "eu-west" }, client)).body
      .id as string;
    await failTask(h, nodes["eu-west"]!, node, pinned);
    const replayed = await h.post(`/v1/tasks/${pinned}/retry`, { reroute: true }, client);
    expect(replayed.body).toMatchObject({ id: pinned, region: "eu-west", routing: { reason: "pinned" } });
    await h.post(`/v1/tasks/${pinned}/cancel`, {}, client);
    await h.delete(`/v1/nodes/${nodes["eu-west"]}`, node);
    await h.advance(1500);
    const down = await h.post(`/v1/tasks/${pinned}/retry`, { reroute: true }, client);
    expect(down.status).toBe(503);
    expect(down.body.error.message).toContain("eu-west");
  });

  it("lets one of two concurrent reroutes move the task: the other gets 409 already_retried", async () => {
    const { h, client, node, nodes } = await world({ "eu-central": 5, "eu-west": 5 });
    const id = (await h.submit({ type: "x", location: CITIES.paris }, client)).body.id as string;
    await failTask(h, nodes["eu-central"]!, node, id);
    await h.delete(`/v1/nodes/${nodes["eu-central"]}`, node);
    await h.advance(1500);
    const replies = await Promise.all([
      h.post(`/v1/tasks/${id}/retry`, { reroute: true }, client),
      h.post(`/v1/tasks/${id}/retry`, { reroute: true }, client),
    ]);
    expect(replies.map((r) => r.status).sort()).toEqual([200, 409]);
    const moved = replies.find((r) => r.status === 200)!.body;
    expect(replies.find((r) => r.status === 409)!.body.error.reason).toBe("already_retried");
    expect((await h.get(`/v1/tasks/${id}`, client)).body.retriedAs).toBe(moved.id);
    // One replay exists: eu-west holds exactly one task.
    expect(await h.shardSql("eu-west", "SELECT id, retry_of FROM tasks")).toEqual([
      { id: moved.id, retry_of: id },
    ]);
  });

  it("keeps idempotency sane: the key names the first task, which shows its replay", async () => {
    const { h, client, node, nodes } = await world({ "eu-central": 5, "eu-west": 5 });
    const body = { type: "x", location: CITIES.paris, idempotencyKey: "job-1" };
    const id = (await h.submit(body, client)).body.id as string;
    await failTask(h, nodes["eu-central"]!, node, id);
    // In place: a repeat gets the same task, queued again.
    await h.post(`/v1/tasks/${id}/retry`, {}, client);
    const repeat = await h.submit(body, client);
    expect(repeat.status).toBe(200);
    expect(repeat.body).toMatchObject({ id, status: "queued" });
    // Moved: a repeat still gets the first task, which names the new one.
    await failTask(h, nodes["eu-central"]!, node, id);
    await h.delete(`/v1/nodes/${nodes["eu-central"]}`, node);
    await h.advance(1500);
    const moved = (await h.post(`/v1/tasks/${id}/retry`, { reroute: true }, client)).body;
    expect(moved).toMatchObject({ retryOf: id, idempotencyKey: null });
    const after = await h.submit(body, client);
    expect(after.status).toBe(200);
    expect(after.body).toMatchObject({ id, status: "failed", retriedAs: moved.id });
  });
});
