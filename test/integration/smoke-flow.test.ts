import { describe, expect, it } from "vitest";
import { CITIES, harness } from "./harness";

describe("end to end through the Worker", () => {
  it("submits, polls and completes a task", async () => {
    const h = await harness();
    await h.region("eu-west", 53.35, -6.26);
    const nodeToken = await h.token("node");
    const client = await h.token("client");
    const nodeId = await h.node(nodeToken, "eu-west");
    const submitted = await h.submit({ type: "echo", payload: { x: 1 }, location: CITIES.paris }, client);
    expect(submitted.status).toBe(201);
    expect(submitted.body.region).toBe("eu-west");
    const [task] = await h.poll(nodeId, nodeToken);
    expect(task.id).toBe(submitted.body.id);
    const done = await h.post(
      `/v1/tasks/${task.id}/complete`,
      { leaseToken: task.leaseToken, result: 42 },
      nodeToken,
    );
    expect(done.status).toBe(200);
    const got = await h.get(`/v1/tasks/${task.id}`, client);
    expect(got.body.status).toBe("succeeded");
    expect(got.body.result).toBe(42);
  });
});
