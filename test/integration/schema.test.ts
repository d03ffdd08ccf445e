import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { MIGRATIONS, migrateCoordinator, SCHEMA_VERSION } from "../../durable-objects/coordinator/schema";
import { migrate } from "../../durable-objects/migrate";
import { harness } from "./harness";

type Sql = DurableObjectStorage["sql"];

const TASK_COLUMNS =
  "id, type, payload, status, priority, region, max_attempts, timeout_ms, created_at, updated_at, run_at, routing";

function tables(sql: Sql): string[] {
  return sql
    .exec<{ name: string }>("SELECT name FROM sqlite_master WHERE type IN ('table', 'index') ORDER BY name")
    .toArray()
    .map((r) => r.name);
}

/** Turns the object's database back into a version 1 one holding three tasks (or none); returns its task rows. */
function toVersion1(sql: Sql, withTasks = true): unknown[] {
  const ours = sql
    .exec<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table'")
    .toArray()
    .filter((t) => !t.name.startsWith("sqlite_") && !t.name.startsWith("_cf"));
  for (const { name } of ours) {
    sql.exec(`DROP TABLE ${name}`);
  }
  sql.exec("CREATE TABLE schema_version (version INTEGER NOT NULL)");
  sql.exec(MIGRATIONS[0]!);
  sql.exec("INSERT INTO schema_version (version) VALUES (1)");
  sql.exec("INSERT INTO tokens (id, hash, role, label, created_at) VALUES ('tok-a', 'h', 'client', NULL, 1)");
  sql.exec(
    "INSERT INTO regions (id, lat, lon, label, created_at, updated_at) VALUES ('eu', 1, 2, NULL, 1, 1)",
  );
  sql.exec("INSERT INTO elections (name, term, leader, since) VALUES ('db', 7, NULL, NULL)");
  sql.exec(
    "INSERT INTO candidates (election, candidate, node_id, joined_at, expires_at) VALUES ('db', 'job-x', NULL, 1, 9)",
  );
  for (const [id, status] of withTasks
    ? [
        ["t-a", "queued"],
        ["t-b", "scheduled"],
        ["t-c", "succeeded"],
      ]
    : []) {
    sql.exec(
      `INSERT INTO tasks (${TASK_COLUMNS}) VALUES (?, 'x', '{"n":1}', ?, 0, 'eu', 3, 1000, 1, 1, 5, '{}')`,
      id,
      status,
    );
  }
  return sql.exec("SELECT * FROM tasks ORDER BY seq").toArray();
}

const versionOf = (sql: Sql) =>
  sql.exec<{ version: number }>("SELECT version FROM schema_version").one().version;

describe("the coordinator's storage", () => {
  it("moves a single-object database with no nodes or tasks into the new topology, keeping tokens, regions and elections", async () => {
    const h = await harness();
    await runInDurableObject(h.stub, (_, state) => {
      const sql = state.storage.sql;
      toVersion1(sql, false);
      sql.exec(
        "INSERT INTO tokens (id, hash, role, label, created_at) VALUES ('tok-b', 'h2', 'admin', NULL, 2)",
      );

      expect(migrateCoordinator(state.storage)).toEqual({ legacy: false });

      expect(versionOf(sql)).toBe(SCHEMA_VERSION);
      const names = tables(sql);
      expect(names).not.toContain("tasks");
      expect(names).not.toContain("nodes");
      // v9: a v1 client token is of tenant default; a v1 admin stays global.
      expect(sql.exec("SELECT id, tenant FROM tokens ORDER BY id").toArray()).toEqual([
        { id: "tok-a", tenant: "default" },
        { id: "tok-b", tenant: null },
      ]);
      expect(sql.exec("SELECT region FROM shards").toArray()).toEqual([{ region: "eu" }]);
      expect(sql.exec("SELECT term FROM elections").toArray()).toEqual([{ term: 7 }]);
      // v10: a candidacy from before owners were kept has none (any token of its tenant may renew it).
      expect(sql.exec("SELECT candidate, owner FROM candidates").toArray()).toEqual([
        { candidate: "job-x", owner: null },
      ]);
      // Migrating again changes nothing.
      expect(migrateCoordinator(state.storage)).toEqual({ legacy: false });
      expect(versionOf(sql)).toBe(SCHEMA_VERSION);
    });
  });

  it("refuses a single-object database that holds tasks: untouched, and every call says how to reset", async () => {
    const h = await harness();
    const before = await runInDurableObject(h.stub, (_, state) => toVersion1(state.storage.sql));
    await h.evictAll(); // the coordinator starts on that storage

    const reply = await h.get("/v1/regions");
    expect(reply.status).toBe(503);
    expect(reply.body.error).toMatchObject({ code: "unavailable", reason: "legacy_state" });
    expect(reply.body.error.message).toContain("npm run reset-state");
    expect((await h.post("/v1/tokens", { role: "client" })).status).toBe(503);
    await runInDurableObject(h.stub, (_, state) => {
      expect(versionOf(state.storage.sql)).toBe(1);
      expect(state.storage.sql.exec("SELECT * FROM tasks ORDER BY seq").toArray()).toEqual(before);
    });
  });

  it("leaves the database as it was when a migration fails part way", async () => {
    const h = await harness();
    await runInDurableObject(h.stub, (_, state) => {
      const sql = state.storage.sql;
      const before = toVersion1(sql);
      // v2 rebuilds the task table, then stops at an index whose name is taken.
      sql.exec("CREATE TABLE tasks_due (x INTEGER)");
      expect(() => migrate(state.storage, MIGRATIONS)).toThrow();
      expect(versionOf(sql)).toBe(1);
      expect(sql.exec("SELECT * FROM tasks ORDER BY seq").toArray()).toEqual(before);
      const names = tables(sql);
      expect(names).toContain("tasks_run_at");
      expect(names).not.toContain("tasks_v2");
    });
  });

  it("mints task ids that sort by the time they were stored", async () => {
    const h = await harness();
    const client = await h.token("client");
    await h.region("eu-west", 53.35, -6.26);
    await h.node(await h.token("node"), "eu-west");
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      ids.push((await h.submit({ type: "x" }, client)).body.id);
      await h.advance(1);
    }
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(5);
  });
});
