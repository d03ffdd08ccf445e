import { evictDurableObject, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { RegionShard } from "../../durable-objects/region-shard";
import type { ScheduleLink } from "../../durable-objects/region-shard/schedules";
import { CATCH_UP_CAP } from "../../src/core/schedules";
import { type Harness, harness } from "./harness";
import { SseReader } from "./sse-reader";

interface World {
  h: Harness;
  client: string;
  node: string;
  nodeId: string;
  /** Moves the clock forward in steps of 3 s, the node beating at each (it stays healthy). */
  pass: (ms: number) => Promise<void>;
}

async function world(capacity = 10): Promise<World> {
  const h = await harness();
  await h.region("eu-west", 53.35, -6.26);
  const client = await h.token("client");
  const node = await h.token("node");
  const nodeId = await h.node(node, "eu-west", capacity);
  const pass = async (ms: number) => {
    for (let left = ms; left > 0; left -= 3000) {
      await h.advance(Math.min(3000, left));
      await h.post(`/v1/nodes/${nodeId}/heartbeat`, {}, node);
    }
  };
  return { h, client, node, nodeId, pass };
}

/** The tasks a schedule stored, oldest slot first. */
async function tasksOf(h: Harness, scheduleId: string): Promise<any[]> {
  const { tasks } = (await h.get("/v1/tasks?limit=500")).body;
  return tasks
    .filter((t: any) => t.scheduleId === scheduleId)
    .sort((a: any, b: any) => slotOf(a) - slotOf(b));
}

const slotOf = (task: { idempotencyKey: string }) => Number(task.idempotencyKey.split(":").pop());

/** Restarts a shard whose schedule link is `wrap` of the real one. */
function wrapLink(h: Harness, region: string, wrap: (real: ScheduleLink) => ScheduleLink): Promise<void> {
  return runInDurableObject(h.shard(region), async (instance: RegionShard) => {
    const real = instance.engine.deps.schedules;
    await instance.restartWith({ clock: h.clock, schedules: (d, c) => wrap(real(d, c)) });
  });
}

describe("schedules: the API", () => {
  it("fires a slot through normal routing; the task names its schedule and carries the slot's key", async () => {
    const { h, client, pass } = await world();
    const put = await h.put("/v1/schedules/tick", { everyMs: 10_000, task: { type: "tick" } }, client);
    expect(put.status).toBe(201);
    expect(put.body).toMatchObject({ id: "tick", everyMs: 10_000, region: "eu-west", lastRunAt: null });
    const slot = put.body.nextRunAt as number;
    expect(slot).toBe(h.now + 10_000);
    const events = new SseReader((await h.openEvents("?types=schedule.fired")).body!);
    await pass(10_000);
    expect(await h.alarm("eu-west")).toBe(true);
    const got = await h.get("/v1/schedules/tick", client);
    expect(got.body).toMatchObject({ lastRunAt: slot, nextRunAt: slot + 10_000, runs: 1, lastError: null });
    const task = await h.get(`/v1/tasks/${got.body.lastTaskId}`, client);
    expect(task.body).toMatchObject({
      type: "tick",
      scheduleId: "tick",
      idempotencyKey: `schedule:tick:${slot}`,
      status: "queued",
      region: "eu-west",
    });
    // The run is on the live event stream.
    await h.flushEvents();
    const fired = await events.next();
    expect(fired.data).toMatchObject({
      type: "schedule.fired",
      scheduleId: "tick",
      slot,
      taskId: task.body.id,
      region: "eu-west",
    });
    await events.cancel();
    // A task submitted by hand names no schedule.
    expect((await h.submit({ type: "x" }, client)).body.scheduleId).toBeNull();
  });

  it("is described in /openapi.json", async () => {
    const h = await harness();
    const doc = (await h.get("/openapi.json", null)).body;
    for (const path of [
      "/v1/schedules",
      "/v1/schedules/{id}",
      "/v1/schedules/{id}/pause",
      "/v1/schedules/{id}/resume",
      "/v1/schedules/{id}/trigger",
    ]) {
      expect(Object.keys(doc.paths)).toContain(path);
    }
    expect(Object.keys(doc.paths["/v1/schedules/{id}"])).toEqual(
      expect.arrayContaining(["put", "get", "delete"]),
    );
    expect(doc.components.schemas.PutSchedule.properties.catchUp.enum).toEqual(["none", "latest", "all"]);
    expect(doc.components.schemas.Task.properties).toHaveProperty("scheduleId");
  });

  it("replaces with 200, lists by id with a cursor, and lets a reader read but not write", async () => {
    const { h, client } = await world();
    for (const id of ["c", "a", "b"]) {
      expect(
        (await h.put(`/v1/schedules/${id}`, { cron: "*/5 * * * *", task: { type: "t" } }, client)).status,
      ).toBe(201);
    }
    const replaced = await h.put(
      "/v1/schedules/a",
      { cron: "0 9 * * 1-5", timezone: "Europe/Paris", task: { type: "u" } },
      client,
    );
    expect(replaced.status).toBe(200);
    expect(replaced.body).toMatchObject({
      cron: "0 9 * * 1-5",
      timezone: "Europe/Paris",
      task: { type: "u" },
    });
    const first = (await h.get("/v1/schedules?limit=2", client)).body;
    expect(first.schedules.map((s: any) => s.id)).toEqual(["a", "b"]);
    const second = (await h.get(`/v1/schedules?limit=2&cursor=${first.cursor}`, client)).body;
    expect(second).toMatchObject({ schedules: [{ id: "c" }], cursor: null });
    const reader = await h.token("reader");
    expect((await h.get("/v1/schedules/a", reader)).status).toBe(200);
    expect((await h.get("/v1/schedules", reader)).status).toBe(200);
    expect((await h.put("/v1/schedules/a", { everyMs: 5000, task: { type: "t" } }, reader)).status).toBe(403);
    expect((await h.post("/v1/schedules/a/trigger", {}, reader)).status).toBe(403);
    expect((await h.delete("/v1/schedules/a", reader)).status).toBe(403);
  });

  it("answers bad input with 400 naming the field, unknown ids with 404, and changes nothing", async () => {
    const { h, client } = await world();
    const good = { everyMs: 60_000, task: { type: "t" } };
    expect((await h.put("/v1/schedules/s", good, client)).status).toBe(201);
    const before = (await h.get("/v1/schedules/s", client)).body;
    const bad: [unknown, string][] = [
      [{ cron: "61 * * * *", task: { type: "t" } }, "cron"],
      [{ cron: "* * *", task: { type: "t" } }, "cron"],
      [{ cron: "* * * * * * *", task: { type: "t" } }, "cron"],
      [{ cron: "0 0 30 2 *", task: { type: "t" } }, "cron"],
      [{ cron: "* * * * *", timezone: "Mars/Olympus_Mons", task: { type: "t" } }, "timezone"],
      [{ cron: "* * * * *", everyMs: 5000, task: { type: "t" } }, "cron"],
      [{ task: { type: "t" } }, "cron"],
      [{ everyMs: 999, task: { type: "t" } }, "everyMs"],
      [{ everyMs: 5000, startAt: 2000, endAt: 2000, task: { type: "t" } }, "endAt"],
      [{ everyMs: 5000, task: { type: "Not An Identifier" } }, "task.type"],
      [{ everyMs: 5000, task: { type: "t", priority: 10 } }, "task.priority"],
      [{ everyMs: 5000, task: { type: "t", runAt: 5 } }, "task.runAt"],
      [{ everyMs: 5000, task: { type: "t", idempotencyKey: "k" } }, "task.idempotencyKey"],
      [{ everyMs: 5000, task: { type: "t" }, overlap: "queue" }, "overlap"],
      [{ everyMs: 5000, task: { type: "t" }, catchUp: "some" }, "catchUp"],
      [{ everyMs: 5000 }, "task"],
    ];
    for (const [body, field] of bad) {
      const reply = await h.put("/v1/schedules/s", body, client);
      expect(reply.status, JSON.stringify(body)).toBe(400);
      expect(reply.body.error.code).toBe("invalid_request");
      expect(
        reply.body.error.issues.map((i: any) => i.path),
        JSON.stringify(body),
      ).toContain(field);
    }
    expect((await h.put("/v1/schedules/Bad_Id", good, client)).status).toBe(400);
    const pinned = await h.put(
      "/v1/schedules/p",
      { everyMs: 5000, task: { type: "t", region: "mars" } },
      client,
    );
    expect(pinned.status).toBe(404);
    expect((await h.get("/v1/schedules/s", client)).body).toEqual(before);
    expect((await h.get("/v1/schedules/p", client)).status).toBe(404);
    for (const action of ["pause", "resume", "trigger"]) {
      expect((await h.post(`/v1/schedules/nope/${action}`, {}, client)).status).toBe(404);
    }
    expect((await h.delete("/v1/schedules/nope", client)).status).toBe(404);
  });

  it("pauses (slots are skipped), resumes from the next slot, triggers one run now, and deletes", async () => {
    const { h, client, pass } = await world();
    await h.put("/v1/schedules/s", { everyMs: 5000, task: { type: "t" } }, client);
    const paused = await h.post("/v1/schedules/s/pause", {}, client);
    expect(paused.body).toMatchObject({ paused: true, nextRunAt: null });
    await pass(20_000);
    await h.alarm("eu-west");
    expect(await tasksOf(h, "s")).toHaveLength(0);
    const resumed = (await h.post("/v1/schedules/s/resume", {}, client)).body;
    expect(resumed.paused).toBe(false);
    expect(resumed.nextRunAt).toBeGreaterThan(h.now);
    const triggered = await h.post("/v1/schedules/s/trigger", {}, client);
    expect(triggered.status).toBe(200);
    expect(triggered.body).toMatchObject({ lastRunAt: h.now, runs: 1 });
    const task = (await h.get(`/v1/tasks/${triggered.body.lastTaskId}`, client)).body;
    expect(task).toMatchObject({ scheduleId: "s", idempotencyKey: `schedule:s:${h.now}` });
    expect((await h.delete("/v1/schedules/s", client)).status).toBe(204);
    expect((await h.get("/v1/schedules/s", client)).status).toBe(404);
    expect((await h.get(`/v1/tasks/${task.id}`, client)).status).toBe(200); // its runs stay
    await pass(10_000);
    await h.alarm("eu-west");
    expect(await tasksOf(h, "s")).toHaveLength(1);
    // The id is free again.
    expect((await h.put("/v1/schedules/s", { everyMs: 5000, task: { type: "t" } }, client)).status).toBe(201);
  });

  it("keeps a schedule in the region its task is pinned to, or nearest to its location", async () => {
    const { h, client } = await world();
    await h.region("us-east", 38.9, -77.04);
    const pinned = await h.put(
      "/v1/schedules/p",
      { everyMs: 5000, task: { type: "t", region: "us-east" } },
      client,
    );
    expect(pinned.body.region).toBe("us-east");
    const near = await h.put(
      "/v1/schedules/n",
      { everyMs: 5000, task: { type: "t", location: { lat: 40.7, lon: -74 } } },
      client,
    );
    expect(near.body.region).toBe("us-east");
    // A replacement keeps the schedule where it lives.
    const moved = await h.put(
      "/v1/schedules/n",
      { everyMs: 5000, task: { type: "t", region: "eu-west" } },
      client,
    );
    expect(moved).toMatchObject({ status: 200, body: { region: "us-east" } });
    // A region that keeps schedules cannot be deleted (its shard fires them); without them it can.
    const refused = await h.delete("/v1/regions/us-east");
    expect(refused).toMatchObject({ status: 409, body: { error: { reason: "region_has_schedules" } } });
    for (const id of ["p", "n"]) {
      expect((await h.delete(`/v1/schedules/${id}`, client)).status).toBe(204);
    }
    expect((await h.delete("/v1/regions/us-east")).status).toBe(204);
  });

  it("gives an id a new home when its index names a region deleted since (a PUT cut off half way)", async () => {
    const { h, client } = await world();
    await h.region("gone", 10, 10);
    // The coordinator recorded the home, and the PUT never reached the shard; then the region went.
    await h.inside((engine) => engine.scheduleHomes.claim("orphan", "gone", h.now));
    expect((await h.delete("/v1/regions/gone")).status).toBe(204);
    expect((await h.get("/v1/schedules/orphan", client)).status).toBe(404);
    const put = await h.put(
      "/v1/schedules/orphan",
      { everyMs: 5000, task: { type: "t", region: "eu-west" } },
      client,
    );
    expect(put).toMatchObject({ status: 201, body: { region: "eu-west" } });
    expect((await h.get("/v1/schedules/orphan", client)).body.region).toBe("eu-west");
  });

  it("routes a run like any task: spills over when the home region has no healthy node", async () => {
    const { h, client, pass } = await world();
    await h.region("us-east", 38.9, -77.04);
    const put = await h.put(
      "/v1/schedules/s",
      { everyMs: 5000, task: { type: "t", location: { lat: 40.7, lon: -74 } } },
      client,
    );
    expect(put.body.region).toBe("us-east"); // home: nearest, though it has no node
    await pass(5000);
    await h.alarm("us-east");
    const [task] = await tasksOf(h, "s");
    expect(task).toMatchObject({ region: "eu-west", routing: { reason: "nearest" } });
  });

  it("overlap skip reads the previous run's status from the shard that holds it", async () => {
    const { h, client, node, nodeId, pass } = await world();
    await h.region("us-east", 38.9, -77.04);
    const location = { lat: 40.7, lon: -74 }; // home: us-east, which has no node; runs go to eu-west
    await h.put("/v1/schedules/s", { everyMs: 5000, overlap: "skip", task: { type: "t", location } }, client);
    await pass(5000);
    await h.alarm("us-east");
    await pass(5000);
    await h.alarm("us-east"); // the first run is queued in eu-west: skipped
    expect(await tasksOf(h, "s")).toHaveLength(1);
    const [leased] = await h.poll(nodeId, node);
    await h.post(`/v1/tasks/${leased.id}/complete`, { leaseToken: leased.leaseToken }, node);
    await pass(5000);
    await h.alarm("us-east");
    expect((await tasksOf(h, "s")).map((t) => t.region)).toEqual(["eu-west", "eu-west"]);
    expect((await h.get("/v1/schedules/s", client)).body).toMatchObject({
      region: "us-east",
      runs: 2,
      skipped: 1,
    });
  });
});

describe("schedules: daylight saving through the shard", () => {
  it("a 02:30 Paris cron runs at 03:00 CEST on the spring-forward night and once on the fall-back night", async () => {
    const h = await harness();
    h.now = Date.parse("2027-03-27T12:00:00Z"); // before any object has seen the clock: it only moves forward
    await h.start();
    await h.region("eu-west", 53.35, -6.26);
    const client = await h.token("client");
    const node = await h.token("node");
    const put = await h.put(
      "/v1/schedules/night",
      { cron: "30 2 * * *", timezone: "Europe/Paris", catchUp: "latest", task: { type: "t" } },
      client,
    );
    expect(new Date(put.body.nextRunAt).toISOString()).toBe("2027-03-28T01:00:00.000Z"); // 03:00 CEST
    const fireAt = async (iso: string) => {
      h.now = Date.parse(iso);
      await h.node(node, "eu-west"); // a fresh node: the region is healthy at the slot
      await h.alarm("eu-west");
    };
    await fireAt("2027-03-28T01:00:00Z");
    expect((await h.get("/v1/schedules/night", client)).body).toMatchObject({
      lastRunAt: Date.parse("2027-03-28T01:00:00Z"),
      nextRunAt: Date.parse("2027-03-29T00:30:00Z"), // 02:30 CEST
    });
    // Fall back, 31 October 2027: 02:30 happens twice (CEST, then CET); it runs at the first only.
    await fireAt("2027-10-31T00:30:00Z");
    expect((await h.get("/v1/schedules/night", client)).body).toMatchObject({
      lastRunAt: Date.parse("2027-10-31T00:30:00Z"),
      nextRunAt: Date.parse("2027-11-01T01:30:00Z"),
    });
    await fireAt("2027-10-31T01:30:00Z"); // the second 02:30: nothing is due
    const runs = (await h.get("/v1/tasks?limit=50", client)).body.tasks.filter(
      (t: any) => t.scheduleId === "night",
    );
    expect(
      runs.map((t: any) => new Date(Number(t.idempotencyKey.split(":").pop())).toISOString()).sort(),
    ).toEqual(["2027-03-28T01:00:00.000Z", "2027-10-31T00:30:00.000Z"]);
  });
});

describe("schedules: overlap and catch-up", () => {
  it("overlap skip: a slot is skipped while the previous run is unfinished", async () => {
    const { h, client, node, nodeId, pass } = await world();
    await h.put("/v1/schedules/s", { everyMs: 5000, overlap: "skip", task: { type: "t" } }, client);
    await pass(5000);
    await h.alarm("eu-west");
    await pass(5000); // the first run is still queued: this slot is skipped
    await h.alarm("eu-west");
    expect(await tasksOf(h, "s")).toHaveLength(1);
    expect((await h.get("/v1/schedules/s", client)).body).toMatchObject({ runs: 1, skipped: 1 });
    const [leased] = await h.poll(nodeId, node);
    await h.post(`/v1/tasks/${leased.id}/complete`, { leaseToken: leased.leaseToken }, node);
    await pass(5000);
    await h.alarm("eu-west");
    expect(await tasksOf(h, "s")).toHaveLength(2);
  });

  it("overlap allow: every slot runs, finished or not", async () => {
    const { h, client, pass } = await world();
    await h.put("/v1/schedules/s", { everyMs: 5000, task: { type: "t" } }, client);
    for (let i = 0; i < 3; i++) {
      await pass(5000);
      await h.alarm("eu-west");
    }
    expect(await tasksOf(h, "s")).toHaveLength(3);
  });

  it("after downtime, catchUp none skips to the next slot, latest runs the newest missed, all runs each (capped)", async () => {
    const { h, client, node } = await world(1000);
    for (const mode of ["none", "latest", "all"]) {
      await h.put(`/v1/schedules/${mode}`, { everyMs: 60_000, catchUp: mode, task: { type: "t" } }, client);
    }
    await h.put("/v1/schedules/capped", { everyMs: 1000, catchUp: "all", task: { type: "t" } }, client);
    const created = h.now;
    // Ten and a half minutes without an alarm (the node died meanwhile: a fresh one takes over).
    await h.advance(10 * 60_000 + 30_000);
    await h.node(node, "eu-west", 1000);
    await h.alarm("eu-west");
    expect(await tasksOf(h, "none")).toHaveLength(0);
    const latest = await tasksOf(h, "latest");
    expect(latest.map(slotOf)).toEqual([created + 10 * 60_000]);
    const all = await tasksOf(h, "all");
    expect(all.map(slotOf)).toEqual(Array.from({ length: 10 }, (_, i) => created + (i + 1) * 60_000));
    const capped = await tasksOf(h, "capped");
    expect(capped).toHaveLength(CATCH_UP_CAP);
    expect(slotOf(capped.at(-1)!)).toBe(created + 630_000);
    for (const mode of ["none", "latest", "all"]) {
      expect((await h.get(`/v1/schedules/${mode}`, client)).body.nextRunAt).toBe(created + 11 * 60_000);
    }
  });
});

describe("schedules: the alarm", () => {
  it("goes on with the other schedules when one cannot be read, and stops that one with the reason shown", async () => {
    const { h, client, pass } = await world();
    await h.put("/v1/schedules/good", { everyMs: 5000, task: { type: "t" } }, client);
    await h.put("/v1/schedules/broken", { cron: "* * * * * *", task: { type: "t" } }, client);
    await h.shardSql(
      "eu-west",
      "UPDATE schedules SET spec = json_set(spec, '$.cron', '99 * * * *') WHERE id = 'broken'",
    );
    await pass(5000);
    await h.alarm("eu-west");
    expect(await tasksOf(h, "good")).toHaveLength(1);
    expect(await tasksOf(h, "broken")).toHaveLength(0);
    const broken = (await h.get("/v1/schedules/broken", client)).body;
    expect(broken).toMatchObject({ nextRunAt: null });
    expect(broken.lastError).toMatch(/^stopped: /);
  });
});

describe("schedules: each slot at most once across restarts", () => {
  it("a restart between slots neither repeats nor loses a slot", async () => {
    const { h, client, pass } = await world();
    await h.put("/v1/schedules/s", { everyMs: 5000, task: { type: "t" } }, client);
    await pass(5000);
    await h.alarm("eu-west");
    await h.evictAll();
    await h.alarm("eu-west"); // nothing new is due
    await pass(5000);
    await h.alarm("eu-west");
    const tasks = await tasksOf(h, "s");
    expect(tasks.map(slotOf)).toEqual([tasks[0].createdAt, tasks[0].createdAt + 5000]);
  });

  it("a run decided and then cut off before it is stored is stored once after the restart", async () => {
    const { h, client, pass } = await world();
    await h.put("/v1/schedules/s", { everyMs: 5000, task: { type: "t" } }, client);
    await wrapLink(h, "eu-west", (real) => ({ ...real, place: () => Promise.reject(new Error("aborted")) }));
    await pass(5000);
    await h.alarm("eu-west");
    expect(await tasksOf(h, "s")).toHaveLength(0);
    expect(await h.shardSql("eu-west", "SELECT slot FROM schedule_runs")).toHaveLength(1);
    await evictDurableObject(h.shard("eu-west"));
    await h.startShard("eu-west");
    await pass(1000); // the run's retry is due; the next slot is not
    await h.alarm("eu-west");
    const tasks = await tasksOf(h, "s");
    expect(tasks).toHaveLength(1);
    expect((await h.get("/v1/schedules/s", client)).body).toMatchObject({ runs: 1, lastTaskId: tasks[0].id });
    expect(await h.shardSql("eu-west", "SELECT slot FROM schedule_runs")).toHaveLength(0);
  });

  it("a run stored and then cut off before it is recorded is not stored twice", async () => {
    const { h, client, pass } = await world();
    await h.put("/v1/schedules/s", { everyMs: 5000, task: { type: "t" } }, client);
    await wrapLink(h, "eu-west", (real) => ({
      ...real,
      place: async (principal, bodies) => {
        await real.place(principal, bodies);
        throw new Error("aborted after storing");
      },
    }));
    await pass(5000);
    await h.alarm("eu-west");
    expect(await tasksOf(h, "s")).toHaveLength(1);
    await evictDurableObject(h.shard("eu-west"));
    await h.startShard("eu-west");
    await pass(1000);
    await h.alarm("eu-west");
    const tasks = await tasksOf(h, "s");
    expect(tasks).toHaveLength(1);
    expect((await h.get("/v1/schedules/s", client)).body).toMatchObject({ runs: 1, lastTaskId: tasks[0].id });
  });

  it("1,000 schedules due in the same second each store exactly one task in one alarm pass", async () => {
    const { h, pass } = await world(10_000);
    const startAt = h.now + 60_000;
    // Stored straight in the shard (1,000 PUTs through the edge would only slow the test down).
    await h.insideShard("eu-west", (engine) => {
      for (let i = 0; i < 1000; i++) {
        const input = {
          everyMs: 3_600_000,
          startAt,
          task: { type: "t", priority: 0, maxAttempts: 3, timeoutMs: 30_000 },
          overlap: "allow",
          catchUp: "none",
          paused: false,
        } as const;
        engine.schedules.put({ role: "admin", tokenId: "admin", tenant: null }, `s${i}`, input, null, h.now);
      }
    });
    await pass(60_000);
    await h.alarm("eu-west");
    const count = () =>
      h.shardSql<{ n: number; schedules: number; slots: number }>(
        "eu-west",
        "SELECT count(*) AS n, count(DISTINCT schedule_id) AS schedules, count(DISTINCT idempotency_key) AS slots FROM tasks WHERE schedule_id IS NOT NULL",
      );
    expect(await count()).toEqual([{ n: 1000, schedules: 1000, slots: 1000 }]);
    expect(await h.shardSql("eu-west", "SELECT * FROM schedule_runs")).toHaveLength(0);
    const keys = await h.shardSql<{ k: string }>(
      "eu-west",
      "SELECT DISTINCT idempotency_key AS k FROM tasks WHERE schedule_id = 's7'",
    );
    expect(keys).toEqual([{ k: `schedule:s7:${startAt}` }]);
    await h.alarm("eu-west");
    expect(await count()).toEqual([{ n: 1000, schedules: 1000, slots: 1000 }]);
  }, 60_000);
});
