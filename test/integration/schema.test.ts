import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { MIGRATIONS, migrate, SCHEMA_VERSION } from "../../durable-objects/coordinator/schema";
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

/** Turns the object's database back into a version 1 one holding three tasks; returns its rows. */
function toVersion1(sql: Sql): unknown[] {
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
  for (const [id, status] of [
    ["t-a", "queued"],
    ["t-b", "scheduled"],
    ["t-c", "succeeded"],
  ]) {
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
  it("migrates a version 1 database to the current version, keeping every row", async () => {
    const h = await harness();
    await runInDurableObject(h.stub, (_, state) => {
      const sql = state.storage.sql;
      const before = toVersion1(sql);

      migrate(state.storage);

      expect(versionOf(sql)).toBe(SCHEMA_VERSION);
      expect(sql.exec("SELECT * FROM tasks ORDER BY seq").toArray()).toEqual(before);
      const names = tables(sql);
      expect(names).toContain("tasks_due");
      expect(names).not.toContain("tasks_run_at");
      expect(names).not.toContain("tasks_v2");
      // New rows continue after the old ones.
      sql.exec(
        `INSERT INTO tasks (${TASK_COLUMNS}) VALUES ('t-d', 'x', '1', 'queued', 0, 'eu', 3, 1000, 1, 1, 5, '{}')`,
      );
      expect(sql.exec<{ seq: number }>("SELECT seq FROM tasks WHERE id = 't-d'").one().seq).toBe(4);
      // Migrating again changes nothing.
      migrate(state.storage);
      expect(sql.exec("SELECT count(*) AS n FROM tasks").one().n).toBe(4);
    });
  });

  it("leaves the database as it was when a migration fails part way", async () => {
    const h = await harness();
    await runInDurableObject(h.stub, (_, state) => {
      const sql = state.storage.sql;
      const before = toVersion1(sql);
      // v2 rebuilds the task table, then stops at an index whose name is taken.
      sql.exec("CREATE TABLE tasks_due (x INTEGER)");
      expect(() => migrate(state.storage)).toThrow();
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
