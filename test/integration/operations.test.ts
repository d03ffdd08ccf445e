import { describe, expect, it } from "vitest";
import packageJson from "../../package.json";
import { harness } from "./harness";

describe("operations endpoints", () => {
  it("healthz needs no token", async () => {
    const h = await harness();
    const reply = await h.get("/healthz", null);
    expect(reply).toMatchObject({ status: 200, body: { ok: true } });
  });

  it("status and metrics describe regions, nodes, queues and elections (reader)", async () => {
    const h = await harness();
    await h.region("eu-west", 53.35, -6.26);
    const node = await h.token("node");
    const reader = await h.token("reader");
    const nodeId = await h.node(node, "eu-west");
    await h.submit({ type: "x" });
    await h.submit({ type: "x", delayMs: 60_000 });
    await h.post("/v1/elections/db/campaign", { candidate: nodeId, ttlMs: 10_000 }, node);
    const status = await h.get("/v1/status", reader);
    expect(status.status).toBe(200);
    expect(status.body.nodes).toEqual({ healthy: 1, suspect: 0, draining: 0, dead: 0 });
    expect(status.body.tasks).toMatchObject({ queued: 1, scheduled: 1, leased: 0 });
    expect(status.body.elections).toEqual([
      expect.objectContaining({ name: "db", leader: expect.objectContaining({ candidate: nodeId }) }),
    ]);
    const metrics = await h.get("/metrics", reader);
    expect(metrics.status).toBe(200);
    expect(metrics.body).toContain('meridian_tasks{status="queued"} 1');
    expect(metrics.body).toContain('meridian_region_healthy{region="eu-west"} 1');
    expect(metrics.body).toContain(`meridian_election_term{election="db",leader="${nodeId}"}`);
    expect((await h.get("/metrics", null)).status).toBe(401);
    const client = await h.token("client");
    expect((await h.get("/v1/status", client)).status).toBe(403);
  });

  // The docs page itself is a static asset now (test/e2e/docs-explorer.test.ts drives it in a browser).
  it("serves the OpenAPI document without a token", async () => {
    const h = await harness();
    const doc = await h.get("/openapi.json", null);
    expect(doc.status).toBe(200);
    expect(doc.body.openapi).toBe("3.1.0");
    expect(doc.body.info.version).toBe(packageJson.version); // one version: the package's
    expect(doc.body.components.schemas.Error.properties.error.properties.reason.enum).toContain("lease_lost");
    const paths = Object.keys(doc.body.paths);
    for (const path of [
      "/v1/tokens",
      "/v1/regions/{region}",
      "/v1/nodes/{id}/poll",
      "/v1/tasks",
      "/v1/tasks:batch",
      "/v1/tasks/{id}/complete",
      "/v1/elections/{name}/campaign",
      "/v1/elections",
      "/v1/owners/{key}",
      "/v1/status",
    ]) {
      expect(paths).toContain(path);
    }
    // Lists say what they leave out, and how to ask for it (issue 14).
    const listParams = doc.body.paths["/v1/tasks"].get.parameters.map((p: { name: string }) => p.name);
    expect(listParams).toEqual(expect.arrayContaining(["include", "cursor", "limit"]));
    expect(Object.keys(doc.body.components.schemas.TaskListItem.properties)).toContain("omitted");
    const nodeParams = doc.body.paths["/v1/nodes"].get.parameters.map((p: { name: string }) => p.name);
    expect(nodeParams).toEqual(expect.arrayContaining(["status", "cursor", "limit"]));
    expect(doc.body.components.schemas.SubmitTask.properties.priority).toMatchObject({
      minimum: 0,
      maximum: 9,
    });
  });

  it("answers unknown routes with 404 in the error shape", async () => {
    const h = await harness();
    const reply = await h.get("/v1/nothing-here");
    expect(reply.status).toBe(404);
    expect(reply.body.error.code).toBe("not_found");
    expect(reply.body.error.requestId).toBeTypeOf("string");
  });

  it("owners: 404 for an unknown region, null with no healthy node", async () => {
    const h = await harness();
    await h.region("eu-west", 53.35, -6.26);
    expect((await h.get("/v1/owners/k?region=mars")).status).toBe(404);
    expect((await h.get("/v1/owners/k?region=eu-west")).body).toEqual({
      key: "k",
      region: "eu-west",
      nodeId: null,
    });
    expect((await h.get("/v1/owners/k")).status).toBe(400);
  });
});
