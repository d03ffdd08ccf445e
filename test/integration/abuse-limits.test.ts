import { describe, expect, it } from "vitest";
import { harness } from "./harness";

/** The limits not covered elsewhere: reports per call, and result / error sizes on the executing routes. */
describe("abuse limits on the executing routes", () => {
  async function leasedTask() {
    const h = await harness();
    await h.region("eu-west", 53.35, -6.26);
    const node = await h.token("node");
    const client = await h.token("client");
    const nodeId = await h.node(node, "eu-west", 5);
    await h.submit({ type: "x" }, client);
    const [task] = await h.poll(nodeId, node);
    return { h, node, nodeId, task };
  }

  it("refuses a report of more than 100 items with 400, recording none of them", async () => {
    const { h, node, nodeId, task } = await leasedTask();
    const item = { id: task.id, leaseToken: task.leaseToken, outcome: "succeeded" };
    const over = await h.post(
      `/v1/nodes/${nodeId}/report`,
      { reports: Array.from({ length: 101 }, () => item) },
      node,
    );
    expect(over.status).toBe(400);
    expect(over.body.error.code).toBe("invalid_request");
    expect((await h.get(`/v1/tasks/${task.id}`)).body.status).toBe("leased");
    const full = await h.post(
      `/v1/nodes/${nodeId}/report`,
      { reports: Array.from({ length: 100 }, () => item) },
      node,
    );
    expect(full.status).toBe(200);
    // One outcome: the first item records it, the 99 repeats are refused one by one.
    expect(full.body.results[0]).toEqual({ id: task.id, status: "succeeded" });
    expect(
      full.body.results
        .slice(1)
        .every((r: { error?: { reason: string } }) => r.error?.reason === "already_terminal"),
    ).toBe(true);
  });

  it("refuses a result over the 256 KiB body limit with 413 and keeps the lease", async () => {
    const { h, node, task } = await leasedTask();
    const big = "x".repeat(256 * 1024);
    const reply = await h.post(
      `/v1/tasks/${task.id}/complete`,
      { leaseToken: task.leaseToken, result: big },
      node,
    );
    expect(reply.status).toBe(413);
    expect(reply.body.error.code).toBe("payload_too_large");
    const failed = await h.post(
      `/v1/tasks/${task.id}/fail`,
      { leaseToken: task.leaseToken, error: big },
      node,
    );
    expect(failed.status).toBe(413);
    expect((await h.get(`/v1/tasks/${task.id}`)).body.status).toBe("leased");
    const done = await h.post(
      `/v1/tasks/${task.id}/complete`,
      { leaseToken: task.leaseToken, result: { ok: true } },
      node,
    );
    expect(done.body.status).toBe("succeeded");
  });

  it("refuses an error message over 10 000 characters with 400", async () => {
    const { h, node, task } = await leasedTask();
    const reply = await h.post(
      `/v1/tasks/${task.id}/fail`,
      { leaseToken: task.leaseToken, error: "e".repeat(10_001) },
      node,
    );
    expect(reply.status).toBe(400);
  });
});
