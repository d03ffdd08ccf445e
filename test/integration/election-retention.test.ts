import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { Coordinator } from "../../durable-objects/coordinator";
import { SETTINGS } from "../../src/core/config";
import { PRUNE_SLICE_ROWS } from "../../src/core/retention";
import { STATUS_ELECTIONS } from "../../src/schemas/elections";
import { type Harness, harness } from "./harness";

// Issue 14, finding 3: /v1/status listed every election ever named (3,000 names: 330-450 ms and
// 428 KB a call), and elections were never deleted.

const RETENTION = SETTINGS.ELECTION_RETENTION_MS.default;

/** Runs SQL inside the test's coordinator. */
function coordinatorSql(h: Harness, query: string, ...args: SqlStorageValue[]) {
  return runInDurableObject(h.stub, (_: Coordinator, ctx) => ctx.storage.sql.exec(query, ...args).toArray());
}

/**
 * `n` elections named `e-0000`... in one statement; the even ones led by `c-<i>` (a live candidate),
 * the odd ones idle since `idleSince`.
 */
async function insertElections(h: Harness, n: number, idleSince: number) {
  await coordinatorSql(
    h,
    `INSERT INTO elections (name, term, leader, since, leader_changes, idle_since)
     WITH RECURSIVE k(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM k WHERE i < ? - 1)
     SELECT printf('e-%04d', i), 1000 + i, CASE WHEN i % 2 = 0 THEN printf('c-%04d', i) END,
       CASE WHEN i % 2 = 0 THEN ? END, 1, CASE WHEN i % 2 = 1 THEN ? END FROM k`,
    n,
    h.now,
    idleSince,
  );
  await coordinatorSql(
    h,
    `INSERT INTO candidates (election, candidate, joined_at, expires_at)
     SELECT name, leader, since, ? FROM elections WHERE leader IS NOT NULL`,
    h.now + 100 * 365 * 24 * 3600 * 1000,
  );
}

async function leaderChangesTotal(h: Harness): Promise<number> {
  const metrics = await h.get("/metrics");
  const line = (metrics.body as string)
    .split("\n")
    .find((l) => l.startsWith("meridian_leader_changes_total"));
  return Number(line?.split(" ")[1]);
}

describe("/v1/status lists the first elections; the rest are paged", () => {
  it("with 3,000 elections, status holds the first 100 and a cursor, and GET /v1/elections walks the rest once each", async () => {
    const h = await harness();
    await insertElections(h, 3000, h.now);
    const status = await h.get("/v1/status");
    expect(status.status).toBe(200);
    expect(status.body.elections).toHaveLength(STATUS_ELECTIONS);
    expect(status.body.electionCount).toBe(3000);
    expect(status.body.electionsCursor).toBe("e-0099");
    expect(JSON.stringify(status.body).length).toBeLessThan(30_000);
    expect(status.body.elections[0]).toEqual({
      name: "e-0000",
      term: 1000,
      leader: expect.objectContaining({ candidate: "c-0000", term: 1000 }),
    });
    expect(status.body.elections[1]).toEqual({ name: "e-0001", term: 1001, leader: null });

    const names: string[] = status.body.elections.map((e: { name: string }) => e.name);
    let cursor: string | null = status.body.electionsCursor;
    while (cursor !== null) {
      const page = await h.get(`/v1/elections?limit=500&cursor=${cursor}`);
      expect(page.status).toBe(200);
      names.push(...page.body.elections.map((e: { name: string }) => e.name));
      cursor = page.body.cursor;
    }
    const all = Array.from({ length: 3000 }, (_, i) => `e-${String(i).padStart(4, "0")}`);
    expect(names).toEqual(all);
  }, 30_000);
});

describe("elections without candidates leave after ELECTION_RETENTION_MS; terms never go back", () => {
  it("prunes an election left without candidates once it has been idle for the retention, not before", async () => {
    const h = await harness();
    const node = await h.token("node");
    const first = await h.post("/v1/elections/db/campaign", { candidate: "alpha", ttlMs: 10_000 }, node);
    const firstTerm = first.body.leader.term as number;
    await h.post("/v1/elections/db/resign", { candidate: "alpha" }, node);
    // Held by a live candidate: never pruned, however long.
    await h.post("/v1/elections/kept/campaign", { candidate: "beta", ttlMs: 10_000 }, node);
    await coordinatorSql(
      h,
      "UPDATE candidates SET expires_at = ? WHERE election = 'kept'",
      h.now + 10 * RETENTION,
    );
    const changesBefore = await leaderChangesTotal(h);

    await h.advance(RETENTION - 1);
    await runDurableObjectAlarm(h.stub);
    expect((await h.get("/v1/elections/db")).status).toBe(200);
    await h.advance(1);
    expect(await runDurableObjectAlarm(h.stub)).toBe(true);
    expect((await h.get("/v1/elections/db")).status).toBe(404);
    expect((await h.get("/v1/elections")).body.elections.map((e: { name: string }) => e.name)).toEqual([
      "kept",
    ]);
    expect((await h.get("/v1/elections/kept")).body.leader.candidate).toBe("beta");
    // The counter of leaderships does not go down with the elections that held them.
    expect(await leaderChangesTotal(h)).toBe(changesBefore);

    const again = await h.post("/v1/elections/db/campaign", { candidate: "gamma", ttlMs: 10_000 }, node);
    expect(again.body.leader.term).toBeGreaterThan(firstTerm);
  }, 30_000);

  it("a name that comes back gets a term above every pruned one, even when that term ran ahead of the clock", async () => {
    const h = await harness();
    const node = await h.token("node");
    await h.post("/v1/elections/db/campaign", { candidate: "alpha", ttlMs: 10_000 }, node);
    await h.post("/v1/elections/db/resign", { candidate: "alpha" }, node);
    // A term far ahead of the clock (a burst of changes in one millisecond, or a clock that stepped
    // back): a re-created election's first term, max(1, now), would be below it.
    const ahead = h.now + 10 * RETENTION;
    await coordinatorSql(h, "UPDATE elections SET term = ? WHERE name = 'db'", ahead);
    await h.advance(RETENTION + 1);
    await runDurableObjectAlarm(h.stub);
    expect((await h.get("/v1/elections/db")).status).toBe(404);
    // Kept across an eviction: the floor is stored, not only held in memory.
    await h.evictAll();
    const back = await h.post("/v1/elections/db/campaign", { candidate: "beta", ttlMs: 10_000 }, node);
    expect(back.body.leader.term).toBeGreaterThan(ahead);
    const fenced = await h.post("/v1/elections/db/fence", { term: ahead }, node);
    expect(fenced.status).toBe(409);
  }, 30_000);

  it("prunes in slices of PRUNE_SLICE_ROWS, the alarm coming back while more are due", async () => {
    const h = await harness();
    await insertElections(h, 2 * (PRUNE_SLICE_ROWS + 100), h.now); // 600 idle, 600 led
    // Rows the alarm never heard of (as after the migration that added retention): the coordinator
    // plans their pruning when it starts.
    await h.evictAll();
    await h.advance(RETENTION + 1);
    const count = async () => (await h.get("/v1/status")).body.electionCount as number;
    expect(await runDurableObjectAlarm(h.stub)).toBe(true);
    expect(await count()).toBe(1200 - PRUNE_SLICE_ROWS);
    await h.advance(1);
    expect(await runDurableObjectAlarm(h.stub)).toBe(true);
    expect(await count()).toBe(600);
    // Only the led ones are left.
    const left = await coordinatorSql(h, "SELECT count(*) AS n FROM elections WHERE leader IS NULL");
    expect(left).toEqual([{ n: 0 }]);
  }, 30_000);
});
