import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { keysStub } from "../../durable-objects/stubs";
import { SETTINGS } from "../../src/core/config";
import { PRUNE_SLICE_ROWS } from "../../src/core/retention";
import { type Harness, harness } from "./harness";

const RETENTION = SETTINGS.TASK_RETENTION_MS.default;
const REGION = "eu-west";

async function setup() {
  const h = await harness();
  await h.region(REGION, 53.35, -6.26);
  const node = await h.token("node");
  const minted = await h.post("/v1/tokens", { role: "client" });
  const client = minted.body.token as string;
  const nodeId = await h.node(node, REGION);
  return { h, node, client, clientId: minted.body.id as string, nodeId };
}

/** Submits (with `key`, if given), leases and completes a task; its id. */
async function finished(h: Harness, client: string, node: string, nodeId: string, key?: string) {
  const submitted = await h.submit(
    { type: "job", payload: { secret: "erase me" }, region: REGION, idempotencyKey: key },
    client,
  );
  expect(submitted.status).toBe(201);
  const [leased] = await h.poll(nodeId, node, 1);
  expect(leased.id).toBe(submitted.body.id);
  const done = await h.post(
    `/v1/tasks/${leased.id}/complete`,
    { leaseToken: leased.leaseToken, result: { ok: 1 } },
    node,
  );
  expect(done.status).toBe(200);
  return submitted.body.id as string;
}

/** Stored rows of a shard table, counted by SQLite (not by the shard's memory). */
async function rows(h: Harness, table: "tasks" | "nodes", where = "1 = 1"): Promise<number> {
  const [row] = await h.shardSql<{ n: number }>(REGION, `SELECT count(*) AS n FROM ${table} WHERE ${where}`);
  return row!.n;
}

/** Inserts `n` tasks finished at `at` in one statement inside the shard, then restarts it so its counts include them. */
async function insertFinished(h: Harness, n: number, at: number): Promise<void> {
  await h.shardSql(
    REGION,
    `INSERT INTO tasks (id, type, payload, status, priority, region, max_attempts, timeout_ms, result,
       created_at, updated_at, run_at, routing)
     WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < ?)
     SELECT printf('t-old%06d-${REGION}', i), 'old', '{"p":1}', CASE i % 3 WHEN 0 THEN 'succeeded' WHEN 1 THEN 'failed' ELSE 'canceled' END,
       0, '${REGION}', 3, 30000, '{"r":1}', ?, ?, ?, '{}' FROM k`,
    n,
    at,
    at,
    at,
  );
  await h.startShard(REGION);
}

describe("retention: finished tasks, dead nodes and idempotency keys leave after TASK_RETENTION_MS", () => {
  it("prunes 100,000 finished tasks in slices over alarm passes while submits keep being served", async () => {
    const { h, node, client } = await setup();
    // Unfinished work older than the retention (older than every finished row, so first in line) is never pruned.
    const queued = await h.submit({ type: "live", region: REGION }, client);
    expect(queued.status).toBe(201);
    await h.advance(1);
    await insertFinished(h, 100_000, h.now);
    await h.advance(RETENTION + 1);
    // The first node is past its deadline by now: a fresh one keeps the region healthy for submits.
    const fresh = await h.node(node, REGION, 1000);
    expect(fresh).toBeTruthy();

    const finishedCount = () =>
      h.insideShard(REGION, (e) => {
        const d = e.tasks.depth();
        return d.succeeded + d.failed + d.canceled;
      });
    expect(await finishedCount()).toBe(100_000);
    let passes = 0;
    let submits = 0;
    for (let left = 100_000; left > 0; ) {
      expect(await h.alarm(REGION)).toBe(true);
      const now = await finishedCount();
      const deleted = left - now;
      // A pass never deletes more than one slice, and each pass makes progress.
      expect(deleted).toBeGreaterThan(0);
      expect(deleted).toBeLessThanOrEqual(PRUNE_SLICE_ROWS);
      left = now;
      passes++;
      // Between passes the shard answers requests as usual.
      const reply = await h.submit({ type: "between", region: REGION }, client);
      expect(reply.status).toBe(201);
      submits++;
      await h.advance(1); // the alarm comes back 1 ms later
    }
    expect(passes).toBe(100_000 / PRUNE_SLICE_ROWS);
    expect(await rows(h, "tasks", "type = 'old'")).toBe(0);
    // What stays: the queued task from before the window and every submit made between passes.
    expect((await h.get(`/v1/tasks/${queued.body.id}`)).body.status).toBe("queued");
    expect(await rows(h, "tasks")).toBe(1 + submits);
  }, 300_000);

  it("keeps a finished task and its idempotency key inside the window, and forgets both after it", async () => {
    const { h, node, client, clientId, nodeId } = await setup();
    const id = await finished(h, client, node, nodeId, "order-42");
    const repeat = () =>
      h.submit(
        { type: "job", payload: { secret: "erase me" }, region: REGION, idempotencyKey: "order-42" },
        client,
      );

    await h.advance(RETENTION - 60_000);
    await h.alarm(REGION);
    expect((await h.get(`/v1/tasks/${id}`)).status).toBe(200);
    const inside = await repeat();
    expect([inside.status, inside.body.id]).toEqual([200, id]);

    await h.advance(60_001);
    await h.alarm(REGION);
    expect((await h.get(`/v1/tasks/${id}`)).status).toBe(404);
    expect(await rows(h, "tasks", `id = '${id}'`)).toBe(0);
    // The key no longer maps: a repeat is a new submit, with a new task.
    await h.node(node, REGION); // the first node died while the clock ran
    const after = await repeat();
    expect(after.status).toBe(201);
    expect(after.body.id).not.toBe(id);
    // The old key's row was pruned on that access and replaced by the new claim.
    expect(await keysStub(env, h.name, clientId).size()).toBe(1);
  });

  it("reads a key past its retention as absent even while a prune slice has not reached it", async () => {
    const h = await harness();
    const keys = keysStub(env, h.name, "scope-1");
    const t0 = h.now;
    // More expired keys than one slice, all older than the one asked for.
    const backlog = Array.from({ length: PRUNE_SLICE_ROWS + 100 }, (_, i) => ({
      key: `old-${i}`,
      requestHash: "h",
      taskId: `t-old-${i}`,
    }));
    await keys.claim(backlog, t0);
    await keys.claim([{ key: "asked", requestHash: "h", taskId: "t-first" }], t0 + 1);
    const later = t0 + 1 + RETENTION;
    const [again] = await keys.claim([{ key: "asked", requestHash: "h", taskId: "t-second" }], later);
    expect(again).toEqual({ kind: "new" });
    // One slice went on that access; the claim replaced the expired record in place.
    expect(await keys.size()).toBe(backlog.length + 1 - PRUNE_SLICE_ROWS);
    const [third] = await keys.claim([{ key: "asked", requestHash: "h", taskId: "t-third" }], later);
    expect(third).toMatchObject({ kind: "existing", taskId: "t-second" });
  });

  it("prunes a dead node once its death is older than the retention", async () => {
    const { h, nodeId } = await setup();
    await h.advance(SETTINGS.NODE_DEAD_AFTER_MS.default + 1);
    await h.alarm(REGION);
    expect(await rows(h, "nodes", "dead = 1")).toBe(1);
    await h.advance(RETENTION - 1);
    await h.alarm(REGION);
    expect(await rows(h, "nodes")).toBe(1);
    // Listed as dead only when asked (issue 14: dead nodes are history, not the fleet).
    expect((await h.get("/v1/nodes")).body.nodes).toEqual([]);
    expect((await h.get("/v1/nodes?status=dead")).body.nodes.map((n: { id: string }) => n.id)).toEqual([
      nodeId,
    ]);
    await h.advance(1);
    await h.alarm(REGION);
    expect(await rows(h, "nodes")).toBe(0);
    const listed = await h.get("/v1/nodes?status=dead");
    expect(listed.body.nodes.map((n: { id: string }) => n.id)).not.toContain(nodeId);
  });

  it("DELETE /v1/tasks/{id} erases a finished task now (payload, result and key); 409 while it runs; 404 unknown", async () => {
    const { h, node, client, clientId, nodeId } = await setup();
    const id = await finished(h, client, node, nodeId, "erase-1");
    expect(await keysStub(env, h.name, clientId).size()).toBe(1);
    const erased = await h.delete(`/v1/tasks/${id}`);
    expect(erased.status).toBe(204);
    expect(await rows(h, "tasks", `id = '${id}'`)).toBe(0);
    expect((await h.get(`/v1/tasks/${id}`)).status).toBe(404);
    expect(await keysStub(env, h.name, clientId).size()).toBe(0);
    expect((await h.delete(`/v1/tasks/${id}`)).status).toBe(404);

    const running = await h.submit({ type: "job", region: REGION }, client);
    const refused = await h.delete(`/v1/tasks/${running.body.id}`);
    expect(refused.status).toBe(409);
    expect(refused.body.error).toMatchObject({ code: "conflict", reason: "task_not_finished" });
    expect((await h.get(`/v1/tasks/${running.body.id}`)).body.status).toBe("queued");
    // The shard's counts follow the erasure (the gauge reads them).
    expect(await h.insideShard(REGION, (e) => e.tasks.depth().succeeded)).toBe(0);
  });

  it("shows stored rows per table in /metrics", async () => {
    const { h, node, client, nodeId } = await setup();
    await finished(h, client, node, nodeId);
    await h.submit({ type: "job", region: REGION }, client);
    const text = (await h.get("/metrics")).body as string;
    expect(text).toContain(`meridian_stored_rows{region="${REGION}",table="tasks"} 2`);
    expect(text).toContain(`meridian_stored_rows{region="${REGION}",table="nodes"} 1`);
  });

  it("soak: a steady load over ten simulated days keeps stored tasks and nodes bounded by the retention", async () => {
    const { h, node, client } = await setup();
    const HOUR = 3_600_000;
    const PER_HOUR = 20;
    const windowHours = RETENTION / HOUR;
    let mostTasks = 0;
    let mostNodes = 0;
    for (let hour = 0; hour < 240; hour++) {
      // Each hour a new node (last hour's died of silence: dead nodes pile up unless pruned).
      const nodeId = await h.node(node, REGION, PER_HOUR);
      const tasks = Array.from({ length: PER_HOUR }, () => ({ type: "soak", region: REGION }));
      expect((await h.post("/v1/tasks:batch", { tasks }, client)).status).toBe(200);
      const leased = await h.poll(nodeId, node, PER_HOUR);
      expect(leased).toHaveLength(PER_HOUR);
      const reports = leased.map((t: { id: string; leaseToken: string }) => ({
        id: t.id,
        leaseToken: t.leaseToken,
        outcome: "succeeded",
        result: hour,
      }));
      expect((await h.post(`/v1/nodes/${nodeId}/report`, { reports }, node)).status).toBe(200);
      await h.advance(HOUR);
      await h.alarm(REGION);
      mostTasks = Math.max(mostTasks, await rows(h, "tasks"));
      mostNodes = Math.max(mostNodes, await rows(h, "nodes"));
    }
    // 240 hours submitted 4,800 tasks and registered 240 nodes; at most a retention's worth stays.
    expect(mostTasks).toBeLessThanOrEqual(PER_HOUR * windowHours);
    expect(mostNodes).toBeLessThanOrEqual(windowHours + 1);
    // ... and no less: nothing inside the window was pruned early.
    expect(await rows(h, "tasks")).toBeGreaterThanOrEqual(PER_HOUR * (windowHours - 1));
    const text = (await h.get("/metrics")).body as string;
    expect(text).toContain(
      `meridian_stored_rows{region="${REGION}",table="tasks"} ${await rows(h, "tasks")}`,
    );
  }, 300_000);
});
