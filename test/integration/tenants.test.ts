import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { objectConfig } from "../../durable-objects/call-gate";
import type { Coordinator } from "../../durable-objects/coordinator";
import type { EventHub } from "../../durable-objects/event-hub";
import { migrate } from "../../durable-objects/migrate";
import { SHARD_MIGRATIONS } from "../../durable-objects/region-shard/schema";
import type { Config } from "../../src/core/config";
import { openChannel } from "./channel-client";
import { ADMIN as ADMIN_TOKEN, harness } from "./harness";
import { observe, observeSse } from "./observer-client";
import { SseReader } from "./sse-reader";

/**
 * Tenants (API-v2 §8): who mints in which tenant, and the objects the auth matrix does not name
 * (schedules, push endpoints). The matrix's second tenant covers tasks, nodes, tokens and leases.
 */
async function mint(h: Awaited<ReturnType<typeof harness>>, body: Record<string, unknown>, token?: string) {
  return h.post("/v1/tokens", body, token);
}

describe("tenants: tokens", () => {
  it("mints in the named tenant, in default without one, and a global admin without one", async () => {
    const h = await harness();
    expect((await mint(h, { role: "client" })).body.tenant).toBe("default");
    expect((await mint(h, { role: "admin" })).body.tenant).toBeNull();
    expect((await mint(h, { role: "reader", tenant: "acme" })).body.tenant).toBe("acme");
    expect((await mint(h, { role: "client", tenant: "Not An Id" })).status).toBe(400);
  });

  it("lets a tenant admin mint, list and revoke only in its own tenant", async () => {
    const h = await harness();
    const acmeAdmin = (await mint(h, { role: "admin", tenant: "acme" })).body.token as string;
    const other = (await mint(h, { role: "client", tenant: "globex" })).body.id as string;
    const global = (await mint(h, { role: "admin" })).body.id as string;
    const own = await mint(h, { role: "node" }, acmeAdmin);
    expect([own.status, own.body.tenant]).toEqual([201, "acme"]);
    const elsewhere = await mint(h, { role: "client", tenant: "globex" }, acmeAdmin);
    expect([elsewhere.status, elsewhere.body.error.code]).toEqual([403, "forbidden"]);
    const listed = (await h.get("/v1/tokens", acmeAdmin)).body.tokens as { id: string; tenant: string }[];
    expect(new Set(listed.map((t) => t.tenant))).toEqual(new Set(["acme"]));
    expect(listed).toHaveLength(2);
    // Another tenant's token and a global admin are not there for it: 404, and they keep working.
    expect((await h.delete(`/v1/tokens/${other}`, acmeAdmin)).status).toBe(404);
    expect((await h.delete(`/v1/tokens/${global}`, acmeAdmin)).status).toBe(404);
    expect((await h.delete(`/v1/tokens/${own.body.id}`, acmeAdmin)).status).toBe(204);
    expect((await h.get("/v1/tokens")).body.tokens.map((t: { id: string }) => t.id)).toEqual(
      expect.arrayContaining([other, global]),
    );
  });
});

describe("tenants: shared regions", () => {
  it("lets only a global admin change a region: a tenant's admin reads them, 403 on PUT and DELETE", async () => {
    const h = await harness();
    await h.region("eu-west", 53.35, -6.26);
    const acme = (await mint(h, { role: "admin", tenant: "acme" })).body.token as string;
    expect((await h.get("/v1/regions", acme)).body.regions.map((r: { id: string }) => r.id)).toEqual([
      "eu-west",
    ]);
    expect((await h.put("/v1/regions/eu-west", { lat: 0, lon: 0 }, acme)).status).toBe(403);
    expect((await h.delete("/v1/regions/eu-west", acme)).status).toBe(403);
    expect((await h.get("/v1/regions")).body.regions[0]).toMatchObject({ id: "eu-west", lat: 53.35 });
  });
});

describe("tenants: schedules and push endpoints", () => {
  it("answers 404 for another tenant's schedule, lists only the caller's, and refuses to replace it", async () => {
    const h = await harness();
    await h.region("eu-west", 53.35, -6.26);
    const alpha = (await mint(h, { role: "client", tenant: "alpha" })).body.token as string;
    const beta = (await mint(h, { role: "client", tenant: "beta" })).body.token as string;
    const spec = { everyMs: 60_000, task: { type: "tick", region: "eu-west" } };
    expect((await h.put("/v1/schedules/nightly", spec, alpha)).status).toBe(201);
    expect((await h.get("/v1/schedules/nightly", beta)).status).toBe(404);
    expect((await h.post("/v1/schedules/nightly/pause", {}, beta)).status).toBe(404);
    expect((await h.post("/v1/schedules/nightly/trigger", {}, beta)).status).toBe(404);
    expect((await h.delete("/v1/schedules/nightly", beta)).status).toBe(404);
    const replaced = await h.put("/v1/schedules/nightly", spec, beta);
    expect([replaced.status, replaced.body.error.code]).toEqual([409, "conflict"]);
    expect((await h.get("/v1/schedules", beta)).body.schedules).toEqual([]);
    expect((await h.get("/v1/schedules", alpha)).body.schedules.map((s: { id: string }) => s.id)).toEqual([
      "nightly",
    ]);
    // Its runs are alpha's tasks: triggered, the task is alpha's and not beta's.
    await h.node((await mint(h, { role: "node", tenant: "alpha" })).body.token, "eu-west");
    const fired = (await h.post("/v1/schedules/nightly/trigger", {}, alpha)).body.lastTaskId as string;
    expect((await h.get(`/v1/tasks/${fired}`, alpha)).status).toBe(200);
    expect((await h.get(`/v1/tasks/${fired}`, beta)).status).toBe(404);
  });

  it("answers 404 for another tenant's endpoint and lists only the caller's", async () => {
    const h = await harness();
    await h.region("eu-west", 53.35, -6.26);
    const alpha = (await mint(h, { role: "admin", tenant: "alpha" })).body.token as string;
    const beta = (await mint(h, { role: "admin", tenant: "beta" })).body.token as string;
    const path = "/v1/regions/eu-west/endpoints/hooks";
    const body = { url: "https://executor.example.com/run", capacity: 1 };
    expect((await h.put(path, body, alpha)).status).toBe(201);
    expect((await h.get(path, beta)).status).toBe(404);
    expect((await h.delete(path, beta)).status).toBe(404);
    expect((await h.put(path, body, beta)).status).toBe(409);
    expect((await h.get("/v1/regions/eu-west/endpoints", beta)).body.endpoints).toEqual([]);
    expect((await h.get("/v1/regions/eu-west/endpoints", alpha)).body.endpoints).toHaveLength(1);
    expect((await h.get(path)).status).toBe(200); // the global admin sees it
  });
});

describe("tenants: storage", () => {
  it("moves everything a shard stored before tenants into default (shard v8)", async () => {
    const h = await harness();
    await h.region("eu-west", 53.35, -6.26);
    await runInDurableObject(h.shard("eu-west"), (_, state) => {
      const sql = state.storage.sql;
      const v8 = SHARD_MIGRATIONS.length - 1;
      // A v7 database: the v8 columns dropped again, a node and a task stored then.
      for (const table of ["tasks", "nodes", "schedules", "schedule_runs", "endpoints"]) {
        sql.exec(`DROP TABLE ${table}`);
      }
      sql.exec("DELETE FROM schema_version");
      sql.exec("INSERT INTO schema_version (version) VALUES (0)");
      sql.exec("DROP TABLE shard");
      sql.exec("DROP TABLE outbox");
      migrate(state.storage, SHARD_MIGRATIONS.slice(0, v8));
      sql.exec(
        `INSERT INTO nodes (id, region, token_id, capacity, draining, dead, labels, registered_at, last_seen_at)
         VALUES ('node-1', 'eu-west', 'tok-1', 1, 0, 0, '{}', 1, 1)`,
      );
      sql.exec(
        `INSERT INTO tasks (seq, id, type, payload, status, priority, region, max_attempts, timeout_ms, created_at, updated_at, run_at, routing)
         VALUES (1, 't-1', 'x', 'null', 'queued', 0, 'eu-west', 1, 1000, 1, 1, 1, '{}')`,
      );
      migrate(state.storage, SHARD_MIGRATIONS);
      expect(sql.exec("SELECT id, tenant FROM tasks").toArray()).toEqual([{ id: "t-1", tenant: "default" }]);
      expect(sql.exec("SELECT id, tenant FROM nodes").toArray()).toEqual([
        { id: "node-1", tenant: "default" },
      ]);
      // A tenant's list pages by id through tasks_tenant_id, without sorting the tenant's tasks.
      const plan = sql
        .exec<{ detail: string }>(
          "EXPLAIN QUERY PLAN SELECT id FROM tasks WHERE tenant = ? ORDER BY id DESC LIMIT 101",
          "default",
        )
        .toArray()
        .map((r) => r.detail)
        .join("; ");
      expect(plan).toContain("tasks_tenant_id");
      expect(plan).not.toContain("TEMP B-TREE");
    });
  });
});

describe("tenants: elections, events and status", () => {
  /** A region with a node of each tenant (default and beta), and a client and a reader of each. */
  async function twoTenants() {
    const h = await harness();
    await h.region("eu-west", 53.35, -6.26);
    const tokens = {
      default: {
        node: (await mint(h, { role: "node" })).body.token as string,
        client: (await mint(h, { role: "client" })).body.token as string,
        reader: (await mint(h, { role: "reader" })).body.token as string,
      },
      beta: {
        node: (await mint(h, { role: "node", tenant: "beta" })).body.token as string,
        client: (await mint(h, { role: "client", tenant: "beta" })).body.token as string,
        reader: (await mint(h, { role: "reader", tenant: "beta" })).body.token as string,
      },
    };
    const nodes = {
      default: await h.node(tokens.default.node, "eu-west"),
      beta: await h.node(tokens.beta.node, "eu-west"),
    };
    return { h, tokens, nodes };
  }

  it("keeps one election name per tenant: two leaders, each tenant sees and fences only its own", async () => {
    const { h, tokens, nodes } = await twoTenants();
    const campaign = (tenant: "default" | "beta") =>
      h.post("/v1/elections/db/campaign", { candidate: nodes[tenant], ttlMs: 60_000 }, tokens[tenant].node);
    const a = await campaign("default");
    const b = await campaign("beta");
    expect([a.body.isLeader, b.body.isLeader]).toEqual([true, true]);
    const view = async (token: string) => (await h.get("/v1/elections/db", token)).body;
    expect(await view(tokens.default.reader)).toMatchObject({
      name: "db",
      leader: { candidate: nodes.default },
    });
    expect(await view(tokens.beta.reader)).toMatchObject({ name: "db", leader: { candidate: nodes.beta } });
    // beta's node may not resign default's candidate: it resigns in beta's election, which it is not in.
    await h.post("/v1/elections/db/resign", { candidate: nodes.default }, tokens.beta.node);
    expect((await view(tokens.default.reader)).leader.candidate).toBe(nodes.default);
    // An election only another tenant holds is not there.
    await h.post(
      "/v1/elections/only-default/campaign",
      { candidate: nodes.default, ttlMs: 60_000 },
      tokens.default.node,
    );
    expect((await h.get("/v1/elections/only-default", tokens.beta.reader)).status).toBe(404);
    const names = async (token: string) =>
      ((await h.get("/v1/elections", token)).body.elections as { name: string }[]).map((e) => e.name);
    expect(await names(tokens.beta.reader)).toEqual(["db"]);
    expect(await names(tokens.default.reader)).toEqual(["db", "only-default"]);
    expect(await names(ADMIN_TOKEN)).toEqual(["beta/db", "db", "only-default"]);
    const status = (await h.get("/v1/status", tokens.beta.reader)).body;
    expect(status.elections.map((e: { name: string }) => e.name)).toEqual(["db"]);
    expect(status.electionCount).toBe(1);
  });

  it("counts only the reader's tenant's nodes and tasks in /v1/status", async () => {
    const { h, tokens } = await twoTenants();
    for (let i = 0; i < 3; i++) {
      await h.submit({ type: "x", region: "eu-west" }, tokens.default.client);
    }
    await h.submit({ type: "x", region: "eu-west" }, tokens.beta.client);
    const status = async (token: string) => (await h.get("/v1/status", token)).body;
    const beta = await status(tokens.beta.reader);
    expect(beta.tasks.queued).toBe(1);
    expect(beta.nodes.healthy).toBe(1);
    expect((await status(tokens.default.reader)).tasks.queued).toBe(3);
    const global = await status(ADMIN_TOKEN);
    expect([global.tasks.queued, global.nodes.healthy]).toEqual([4, 2]);
  });

  it("streams a reader only its tenant's events", async () => {
    const { h, tokens } = await twoTenants();
    await h.flushEvents();
    const response = await h.openEvents("?types=task.routed", tokens.beta.reader, {});
    expect(response.status).toBe(200);
    const sse = new SseReader(response.body!);
    const theirs = (await h.submit({ type: "default-task", region: "eu-west" }, tokens.default.client)).body
      .id;
    const ours = (await h.submit({ type: "beta-task", region: "eu-west" }, tokens.beta.client)).body.id;
    await h.flushEvents();
    const [first] = await sse.take(1);
    expect(first!.data.taskId).toBe(ours);
    expect(first!.data.taskId).not.toBe(theirs);
    expect(JSON.stringify(first!.data)).not.toContain("tenant");
    await sse.cancel();
  });
});

describe("tenants: the node channel", () => {
  it("pushes a channel node only its tenant's tasks, and its elections by name", async () => {
    const h = await harness();
    await h.region("eu-west", 53.35, -6.26);
    const betaNode = (await mint(h, { role: "node", tenant: "beta" })).body.token as string;
    const betaClient = (await mint(h, { role: "client", tenant: "beta" })).body.token as string;
    const defaultClient = (await mint(h, { role: "client" })).body.token as string;
    const defaultNode = (await mint(h, { role: "node" })).body.token as string;
    await h.node(defaultNode, "eu-west", 1); // keeps the region healthy for default's task
    const nodeId = await h.node(betaNode, "eu-west", 5);
    const theirs = (await h.submit({ type: "x", region: "eu-west", priority: 9 }, defaultClient)).body.id;
    const ch = (await openChannel(h, nodeId, betaNode)).channel!;
    expect((await ch.next()).op).toBe("welcome");
    ch.send({ op: "credit", n: 5 });
    // Nothing is pushed for default's task: the next frame is the answer to the ping.
    expect(await ch.ask('{"op": "ping"}')).toEqual({ op: "pong" });
    const ours = (await h.submit({ type: "x", region: "eu-west" }, betaClient)).body.id;
    const pushed = await ch.next();
    expect(pushed.tasks.map((t: { id: string }) => t.id)).toEqual([ours]);
    expect(ours).not.toBe(theirs);
    // Its campaign is in beta's election "db", shown by name.
    expect(await ch.ask({ op: "campaign", ref: "c1", election: "db" })).toMatchObject({
      op: "leader",
      election: "db",
      leader: nodeId,
      isLeader: true,
    });
    expect((await h.get("/v1/elections/db", (await mint(h, { role: "reader" })).body.token)).status).toBe(
      404,
    );
    ch.ws.close(1000, "test done");
  });
});

describe("tenants: retry with reroute", () => {
  it("keeps a task moved by a global admin's retry in its tenant", async () => {
    const h = await harness();
    await h.region("eu-west", 53.35, -6.26);
    await h.region("us-east", 38.9, -77.04);
    const betaNode = (await mint(h, { role: "node", tenant: "beta" })).body.token as string;
    const betaClient = (await mint(h, { role: "client", tenant: "beta" })).body.token as string;
    const dublin = await h.node(betaNode, "eu-west");
    await h.node(betaNode, "us-east");
    const id = (await h.submit({ type: "x", location: { lat: 53.35, lon: -6.26 } }, betaClient)).body
      .id as string;
    expect(id).toMatch(/-eu-west$/);
    await h.post(`/v1/tasks/${id}/cancel`, {}, betaClient);
    expect((await h.delete(`/v1/nodes/${dublin}`, betaNode)).status).toBe(204); // eu-west has no node left
    const moved = await h.post(`/v1/tasks/${id}/retry`, { reroute: true });
    expect([moved.status, moved.body.region, moved.body.retryOf]).toEqual([200, "us-east", id]);
    expect((await h.get(`/v1/tasks/${moved.body.id}`, betaClient)).status).toBe(200);
    const defaultReader = (await mint(h, { role: "reader" })).body.token as string;
    expect((await h.get(`/v1/tasks/${moved.body.id}`, defaultReader)).status).toBe(404);
  });
});

describe("tenants: quotas", () => {
  /** A region whose shard (and the coordinator) run with `tenants` quotas; a node and a client of tenant beta. */
  async function quotaWorld(tenants: Partial<Config["tenants"]>, rateLimit?: Config["rateLimit"]) {
    const h = await harness();
    const base = objectConfig(env);
    const config: Config = {
      ...base,
      rateLimit: rateLimit ?? base.rateLimit,
      tenants: { ...base.tenants, ...tenants },
    };
    await runInDurableObject(h.stub, (instance: Coordinator) =>
      instance.restartWith({ clock: h.clock, config }),
    );
    await h.startShard("eu-west", { config });
    await h.region("eu-west", 53.35, -6.26);
    const node = (await mint(h, { role: "node", tenant: "beta" })).body.token as string;
    const client = (await mint(h, { role: "client", tenant: "beta" })).body.token as string;
    const other = (await mint(h, { role: "client", tenant: "gamma" })).body.token as string;
    const nodeId = await h.node(node, "eu-west");
    await h.node((await mint(h, { role: "node", tenant: "gamma" })).body.token, "eu-west");
    return { h, node, nodeId, client, other };
  }
  const batch = (n: number) => ({
    tasks: Array.from({ length: n }, () => ({ type: "x", region: "eu-west" })),
  });

  it("counts each item of a batch against the tenant's submit rate: 429 with Retry-After, other tenants unaffected", async () => {
    const { h, client, other } = await quotaWorld({ tasksPerSec: 100, tasksBurst: 150 });
    // 100 items pass; the next 100 would pass the burst of 150 as one call, though it is only the second call.
    expect((await h.post("/v1/tasks:batch", batch(100), client)).status).toBe(200);
    const over = await h.post("/v1/tasks:batch", batch(100), client);
    const codes = new Set(over.body.results.map((r: { error?: { code: string } }) => r.error?.code));
    expect(codes).toEqual(new Set(["rate_limited"]));
    const single = await h.submit({ type: "x", region: "eu-west" }, client);
    expect(single.status).toBe(201); // 50 are left: a single task passes
    expect((await h.post("/v1/tasks:batch", batch(49), client)).status).toBe(200);
    const empty = await h.submit({ type: "x", region: "eu-west" }, client);
    expect([empty.status, empty.body.error.code, empty.headers.get("retry-after")]).toEqual([
      429,
      "rate_limited",
      "1",
    ]);
    expect((await h.post("/v1/tasks:batch", batch(100), other)).status).toBe(200);
    h.now += 1000; // 100 more a second
    expect((await h.post("/v1/tasks:batch", batch(100), client)).status).toBe(200);
  });

  it("counts each item against the token's rate limit too (one burst of batches is not one call each)", async () => {
    const { h, client } = await quotaWorld({}, { ratePerSec: 10, burst: 250 });
    expect((await h.post("/v1/tasks:batch", batch(100), client)).status).toBe(200);
    expect((await h.post("/v1/tasks:batch", batch(100), client)).status).toBe(200);
    const third = await h.post("/v1/tasks:batch", batch(100), client);
    expect(third.body.results[0].error).toMatchObject({ code: "rate_limited" });
  });

  it("answers 409 quota_exceeded past the stored tasks, live nodes and elections of a tenant", async () => {
    const { h, node, nodeId, client, other } = await quotaWorld({
      maxTasks: 3,
      maxNodes: 1,
      maxElections: 1,
    });
    for (let i = 0; i < 3; i++) {
      expect((await h.submit({ type: "x", region: "eu-west" }, client)).status).toBe(201);
    }
    const fourth = await h.submit({ type: "x", region: "eu-west" }, client);
    expect([fourth.status, fourth.body.error.reason]).toEqual([409, "quota_exceeded"]);
    expect((await h.submit({ type: "x", region: "eu-west" }, other)).status).toBe(201);
    const second = await h.post("/v1/nodes", { region: "eu-west", capacity: 1 }, node);
    expect([second.status, second.body.error.reason]).toEqual([409, "quota_exceeded"]);
    const campaign = (name: string) =>
      h.post(`/v1/elections/${name}/campaign`, { candidate: nodeId, ttlMs: 60_000 }, node);
    expect((await campaign("first")).status).toBe(200);
    expect((await campaign("first")).status).toBe(200); // renewing is not a new election
    const more = await campaign("second");
    expect([more.status, more.body.error.reason]).toEqual([409, "quota_exceeded"]);
  });

  const quotaRefusal = (status: number, body: unknown) => {
    const error = (typeof body === "string" ? JSON.parse(body) : body) as { error: { reason?: string } };
    return [status, error.error.reason];
  };

  it("answers 409 quota_exceeded past a tenant's open event streams; other tenants and a global admin are not counted", async () => {
    const { h } = await quotaWorld({});
    await runInDurableObject(h.hub(), (hub: EventHub) => hub.restartWith({ streamsPerTenant: 2 }));
    const reader = async (tenant: string) => (await mint(h, { role: "reader", tenant })).body.token as string;
    const [b1, b2, b3] = [await reader("beta"), await reader("beta"), await reader("beta")];
    const open = [await h.openEvents("", b1), await h.openEvents("", b2)];
    expect(open.map((r) => r.status)).toEqual([200, 200]);
    const over = await h.openEvents("", b3);
    expect(quotaRefusal(over.status, await over.json())).toEqual([409, "quota_exceeded"]);
    const gamma = await h.openEvents("", await reader("gamma"));
    const global = await h.openEvents("", ADMIN_TOKEN);
    expect([gamma.status, global.status]).toEqual([200, 200]);
    // A stream that ends frees its tenant's slot. A hang-up is seen when the hub next writes to the
    // stream: a region.changed (shared, so every tenant's stream gets it), as events.test.ts does.
    await open[0]!.body!.cancel();
    await h
      .hub()
      .publish([
        { type: "region.changed", at: 1, region: "r", healthy: true, capacity: 1, inFlight: 0, queued: 0 },
      ]);
    for (let asked = 0; (await h.hub().stats()).streams > 3 && asked < 100; asked++) {}
    const again = await h.openEvents("", b3);
    expect(again.status).toBe(200);
    for (const response of [open[1]!, gamma, global, again]) {
      await response.body!.cancel();
    }
  });

  it("answers 409 quota_exceeded past a tenant's open election observers (WebSocket and SSE); a closed one frees its slot", async () => {
    const { h } = await quotaWorld({ maxObservers: 2 });
    const reader = async (tenant: string) => (await mint(h, { role: "reader", tenant })).body.token as string;
    const [b1, b2] = [await reader("beta"), await reader("beta")];
    const first = (await observe(h, "db", b1)).observer!;
    await first.next();
    const second = (await observe(h, "other", b2)).observer!;
    await second.next();
    const over = await observe(h, "db", await reader("beta"));
    expect(quotaRefusal(over.status, over.body)).toEqual([409, "quota_exceeded"]);
    const sse = await observeSse(h, "db", b1);
    expect(quotaRefusal(sse.status, await sse.text())).toEqual([409, "quota_exceeded"]);
    // Another tenant's and a global admin's observers are not beta's.
    const others = [await observe(h, "db", await reader("gamma")), await observe(h, "db", ADMIN_TOKEN)];
    expect(others.map((o) => o.status)).toEqual([101, 101]);
    // Closed by the coordinator (abuse): beta's slot is free at once.
    for (let i = 0; i < objectConfig(env).sockets.maxStrikes; i++) {
      await first.ask("nope");
    }
    expect(await first.next()).toBe("closed 1008");
    const freed = await observe(h, "db", b2);
    expect(freed.status).toBe(101);
    for (const o of [second, ...[...others, freed].map((o) => o.observer!)]) {
      o.ws.close(1000, "test done");
    }
  });

  it("answers 409 quota_exceeded past a tenant's node channels in a region; the node's own reconnection passes", async () => {
    const { h, node, nodeId } = await quotaWorld({ maxChannels: 1 });
    const first = await openChannel(h, nodeId, node);
    expect(first.status).toBe(101);
    expect((await first.channel!.next()).op).toBe("welcome");
    const secondNode = await h.node(node, "eu-west");
    const over = await openChannel(h, secondNode, node);
    expect(quotaRefusal(over.status, over.body)).toEqual([409, "quota_exceeded"]);
    // The same node reconnecting replaces its own socket: not one more channel.
    const again = await openChannel(h, nodeId, node);
    expect(again.status).toBe(101);
    expect((await again.channel!.next()).op).toBe("welcome");
    // Another tenant's node has its own quota.
    const gammaNode = (await mint(h, { role: "node", tenant: "gamma" })).body.token as string;
    const gamma = await openChannel(h, await h.node(gammaNode, "eu-west"), gammaNode);
    expect(gamma.status).toBe(101);
    for (const channel of [again.channel!, gamma.channel!]) {
      channel.ws.close(1000, "test done");
    }
  });
});
