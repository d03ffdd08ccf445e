import { describe, expect, it } from "vitest";
import { MAX_LABELS } from "../../src/schemas/nodes";
import { harness, REGIONS } from "./harness";

// Issue 14, finding 2: one node token registered 5,000 nodes with 32 maximum-size labels, and
// `GET /v1/nodes` answered 500 for good (a 52 MB reply); dead nodes stayed listed. Scaled down:
// 120 such nodes in two regions, a 200 KB page budget.

const BUDGET = 200_000;

/** 32 labels of the largest size (64-character keys, 256-character values): about 10 KB a node. */
function maxLabels(n: number): Record<string, string> {
  const labels: Record<string, string> = {};
  for (let i = 0; i < MAX_LABELS; i++) {
    labels[`${String(i).padStart(2, "0")}${"k".repeat(62)}`] = `${n}:`.padEnd(256, "v");
  }
  return labels;
}

describe("node lists are paged by count and bytes, and dead nodes are listed only when asked", () => {
  it("walks 120 nodes with maximum labels: every page 200 and within the budget, each node once", async () => {
    const h = (await harness()).settings({ LIST_BYTE_BUDGET: String(BUDGET) });
    const node = await h.token("node");
    const ids: string[] = [];
    for (const region of ["eu-west", "us-east"] as const) {
      await h.region(region, REGIONS[region].lat, REGIONS[region].lon);
    }
    for (let n = 0; n < 120; n++) {
      const region = n % 2 === 0 ? "eu-west" : "us-east";
      const reply = await h.post("/v1/nodes", { region, capacity: 1, labels: maxLabels(n) }, node);
      expect(reply.status).toBe(201);
      ids.push(reply.body.id);
    }
    const walked: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const query: string = cursor === null ? "" : `&cursor=${cursor}`;
      const reply = await h.get(`/v1/nodes?limit=1000${query}`);
      expect(reply.status).toBe(200);
      expect(new TextEncoder().encode(JSON.stringify(reply.body)).length).toBeLessThanOrEqual(BUDGET);
      for (const listed of reply.body.nodes) {
        expect(Object.keys(listed.labels)).toHaveLength(MAX_LABELS);
        walked.push(listed.id);
      }
      cursor = reply.body.cursor;
      pages++;
      expect(pages).toBeLessThan(50);
    } while (cursor !== null);
    // The pages concatenated are every node, by id, each once.
    expect(walked).toEqual([...ids].sort());
    expect(pages).toBeGreaterThan(5);

    // The count limit pages too, within one region.
    const first = await h.get("/v1/nodes?region=eu-west&limit=5");
    expect(first.body.nodes).toHaveLength(5);
    expect(first.body.cursor).toBe(first.body.nodes[4].id);
    expect(first.body.nodes.every((n: { region: string }) => n.region === "eu-west")).toBe(true);
  }, 30_000);

  it("lists dead nodes only with status=dead; other statuses filter too", async () => {
    const h = await harness();
    await h.region("eu-west", REGIONS["eu-west"].lat, REGIONS["eu-west"].lon);
    const node = await h.token("node");
    const doomed = await h.node(node, "eu-west");
    await h.advance(10_001);
    await h.alarm("eu-west");
    const alive = await h.node(node, "eu-west");
    await h.post(`/v1/nodes/${alive}/drain`, {}, node);
    expect((await h.get("/v1/nodes")).body).toEqual({
      nodes: [expect.objectContaining({ id: alive, status: "draining" })],
      cursor: null,
    });
    expect((await h.get("/v1/nodes?status=dead")).body.nodes.map((n: { id: string }) => n.id)).toEqual([
      doomed,
    ]);
    expect((await h.get("/v1/nodes?status=healthy")).body.nodes).toEqual([]);
    const bad = await h.get("/v1/nodes?status=gone");
    expect(bad.status).toBe(400);
  }, 30_000);
});
