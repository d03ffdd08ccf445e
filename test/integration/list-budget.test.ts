// Large fixtures (megabytes of payloads, hundreds of rows): each test may take seconds on a busy machine.
import { describe, expect, it } from "vitest";
import { type Harness, harness, REGIONS } from "./harness";

// Issue 14, finding 1: 400 tasks of 262 KB, then `GET /v1/tasks?limit=500` answered 500 (an RPC
// reply of 105 MB, over the 32 MiB limit) after 2-3 s. Scaled down for the test pool: 40 tasks of
// 250 KB in two regions, and a page budget small enough that a page holds two of them.

const BUDGET = 600_000;
const PAYLOAD_CHARS = 250_000;

/** A payload of about `chars` bytes that says which task it belongs to. */
function bigPayload(n: number, chars = PAYLOAD_CHARS) {
  return { n, blob: String(n % 10).repeat(chars) };
}

async function bigWorld(budget = BUDGET) {
  const h = (await harness()).settings({ LIST_BYTE_BUDGET: String(budget) });
  const node = await h.token("node");
  const client = await h.token("client");
  for (const id of ["eu-west", "us-east"] as const) {
    await h.region(id, REGIONS[id].lat, REGIONS[id].lon);
    await h.node(node, id, 100);
  }
  const ids: string[] = [];
  for (let n = 0; n < 40; n++) {
    const region = n % 3 === 0 ? "us-east" : "eu-west";
    const reply = await h.submit({ type: "big", payload: bigPayload(n), region }, client);
    expect(reply.status).toBe(201);
    ids.push(reply.body.id);
  }
  // Newest first: ids sort by creation time.
  return { h, client, newestFirst: [...ids].sort().reverse() };
}

/** Walks every page of `query`; each page's raw size and body. */
async function walk(h: Harness, query: string, token?: string) {
  const pages: { bytes: number; status: number; tasks: any[] }[] = [];
  let cursor: string | null = null;
  do {
    const path: string = `/v1/tasks?${query}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`;
    const reply = await h.request("GET", path, { token });
    const bytes = new TextEncoder().encode(JSON.stringify(reply.body)).length;
    pages.push({ bytes, status: reply.status, tasks: reply.status === 200 ? reply.body.tasks : [] });
    if (reply.status !== 200) {
      break;
    }
    cursor = reply.body.cursor;
    expect(pages.length).toBeLessThan(100);
  } while (cursor !== null);
  return pages;
}

describe("task lists are bounded by bytes as well as by count", () => {
  it("lists large tasks without payloads by default: one 200 page, every task, no payload", async () => {
    const { h, newestFirst } = await bigWorld();
    const reply = await h.get("/v1/tasks?limit=500");
    expect(reply.status).toBe(200);
    expect(reply.body.tasks.map((t: any) => t.id)).toEqual(newestFirst);
    expect(reply.body.cursor).toBeNull();
    for (const task of reply.body.tasks) {
      expect(task).not.toHaveProperty("payload");
      expect(task).not.toHaveProperty("result");
      expect(task.type).toBe("big");
    }
    expect(new TextEncoder().encode(JSON.stringify(reply.body)).length).toBeLessThan(BUDGET);
    // The task itself still has its payload.
    const one = await h.get(`/v1/tasks/${newestFirst[0]}`);
    expect(one.body.payload.blob).toHaveLength(PAYLOAD_CHARS);
  }, 30_000);

  it("with include=payload,result, every page is 200 and within the budget, and the cursor walks every task once", async () => {
    const { h, newestFirst } = await bigWorld();
    const pages = await walk(h, "limit=500&include=payload,result");
    for (const page of pages) {
      expect(page.status).toBe(200);
      expect(page.bytes).toBeLessThanOrEqual(BUDGET);
      expect(page.tasks.length).toBeGreaterThan(0);
    }
    const walked = pages.flatMap((p) => p.tasks);
    // Pages concatenated are the full list: same order, no duplicate, no gap.
    expect(walked.map((t) => t.id)).toEqual(newestFirst);
    for (const task of walked) {
      expect(task.payload.blob).toHaveLength(PAYLOAD_CHARS);
      expect(task.payload.blob[0]).toBe(String(task.payload.n % 10));
      expect(task.result).toBeNull();
      expect(task).not.toHaveProperty("omitted");
    }
    // The budget, not the count, ended the pages: two 250 KB tasks fit in 600 KB, three do not.
    expect(Math.max(...pages.map((p) => p.tasks.length))).toBe(2);
  }, 30_000);

  it("a task larger than the whole budget is listed alone without its payload, marked omitted, and the walk goes on", async () => {
    const { h, newestFirst } = await bigWorld(65_536);
    const pages = await walk(h, "limit=10&include=payload");
    const walked = pages.flatMap((p) => p.tasks);
    expect(walked.map((t) => t.id)).toEqual(newestFirst);
    for (const page of pages) {
      expect(page.status).toBe(200);
      expect(page.bytes).toBeLessThanOrEqual(65_536);
    }
    for (const task of walked) {
      expect(task.omitted).toEqual(["payload"]);
      expect(task).not.toHaveProperty("payload");
    }
  }, 30_000);

  it("keeps the count limit, filters and the cursor as before", async () => {
    const { h, client, newestFirst } = await bigWorld();
    const small = await h.submit({ type: "small", payload: { x: 1 }, region: "eu-west" }, client);
    const pages = await walk(h, "limit=7&type=big");
    expect(pages.map((p) => p.tasks.length)).toEqual([7, 7, 7, 7, 7, 5]);
    expect(pages.flatMap((p) => p.tasks.map((t) => t.id))).toEqual(newestFirst);
    const onlySmall = await h.get("/v1/tasks?type=small&include=payload");
    expect(onlySmall.body.tasks).toEqual([expect.objectContaining({ id: small.body.id, payload: { x: 1 } })]);
    const bad = await h.get("/v1/tasks?include=secrets");
    expect([bad.status, bad.body.error.code]).toEqual([400, "invalid_request"]);
  }, 30_000);
});
