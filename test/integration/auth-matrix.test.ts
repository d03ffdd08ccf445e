import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { ADMIN, type Fixture, fixture, type Role, stateDigest } from "../lib/api-fixture";

/**
 * Every route × every role, plus no token and a revoked one. The expected table is written here
 * from /work/shared/API.md's roles (not read from src/core/permissions.ts), so a wrong entry there
 * shows up as a failing cell:
 *   admin: everything · client: submit, read, cancel and retry tasks (API-v2 §3); read regions ·
 *   node: register nodes, heartbeat, poll, complete/fail/extend its own leases, campaign/resign, read owners ·
 *   reader: every GET.
 * One reading the contract leaves open: a node may also read the elections it campaigns in
 * (GET and observe) and ask the coordinator to check a fencing term (fence), as the SDK does.
 */
type Caller = Role | "none" | "revoked";
const CALLERS: Caller[] = ["admin", "client", "node", "reader", "none", "revoked"];

interface Route {
  name: string;
  allowed: Role[];
  /** An allowed call that uses up the fixture (ends the lease, removes the node...) gets a fresh one. */
  fresh?: true;
  call: (f: Fixture) => { method: string; path: string; body?: unknown };
}

const ROUTES: Route[] = [
  {
    name: "POST /v1/tokens",
    allowed: ["admin"],
    call: () => ({ method: "POST", path: "/v1/tokens", body: { role: "reader" } }),
  },
  {
    name: "GET /v1/tokens",
    allowed: ["admin", "reader"],
    call: () => ({ method: "GET", path: "/v1/tokens" }),
  },
  {
    name: "DELETE /v1/tokens/{id}",
    allowed: ["admin"],
    fresh: true,
    call: (f) => ({ method: "DELETE", path: `/v1/tokens/${f.tokenIds.reader}` }),
  },
  {
    name: "PUT /v1/regions/{region}",
    allowed: ["admin"],
    call: () => ({ method: "PUT", path: "/v1/regions/us-east", body: { lat: 38.9, lon: -77 } }),
  },
  {
    name: "GET /v1/regions",
    allowed: ["admin", "client", "reader"],
    call: () => ({ method: "GET", path: "/v1/regions" }),
  },
  {
    name: "DELETE /v1/regions/{region}",
    allowed: ["admin"],
    fresh: true,
    call: () => ({ method: "DELETE", path: "/v1/regions/empty" }),
  },
  {
    name: "PUT /v1/regions/{region}/endpoints/{name}",
    allowed: ["admin"],
    fresh: true, // the endpoint would make the empty region healthy for the other cells
    call: () => ({
      method: "PUT",
      path: "/v1/regions/empty/endpoints/hooks",
      body: { url: "https://executor.example.com/run", capacity: 1 },
    }),
  },
  {
    name: "GET /v1/regions/{region}/endpoints",
    allowed: ["admin", "reader"],
    call: () => ({ method: "GET", path: "/v1/regions/empty/endpoints" }),
  },
  {
    name: "POST /v1/nodes",
    allowed: ["admin", "node"],
    call: () => ({ method: "POST", path: "/v1/nodes", body: { region: "eu-west", capacity: 2 } }),
  },
  { name: "GET /v1/nodes", allowed: ["admin", "reader"], call: () => ({ method: "GET", path: "/v1/nodes" }) },
  {
    name: "POST /v1/nodes/{id}/heartbeat",
    allowed: ["admin", "node"],
    call: (f) => ({ method: "POST", path: `/v1/nodes/${f.nodeId}/heartbeat`, body: {} }),
  },
  {
    name: "POST /v1/nodes/{id}/poll",
    allowed: ["admin", "node"],
    call: (f) => ({ method: "POST", path: `/v1/nodes/${f.nodeId}/poll`, body: {} }),
  },
  {
    name: "POST /v1/nodes/{id}/report",
    allowed: ["admin", "node"],
    fresh: true,
    call: (f) => ({
      method: "POST",
      path: `/v1/nodes/${f.nodeId}/report`,
      body: { reports: [{ id: f.leased.id, leaseToken: f.leased.leaseToken, outcome: "succeeded" }] },
    }),
  },
  {
    name: "POST /v1/nodes/{id}/drain",
    allowed: ["admin", "node"],
    fresh: true,
    call: (f) => ({ method: "POST", path: `/v1/nodes/${f.nodeId}/drain`, body: {} }),
  },
  {
    name: "DELETE /v1/nodes/{id}",
    allowed: ["admin", "node"],
    fresh: true,
    call: (f) => ({ method: "DELETE", path: `/v1/nodes/${f.nodeId}` }),
  },
  {
    name: "POST /v1/tasks",
    allowed: ["admin", "client"],
    call: () => ({ method: "POST", path: "/v1/tasks", body: { type: "x", region: "eu-west" } }),
  },
  {
    name: "POST /v1/tasks:batch",
    allowed: ["admin", "client"],
    call: () => ({
      method: "POST",
      path: "/v1/tasks:batch",
      body: { tasks: [{ type: "x", region: "eu-west" }] },
    }),
  },
  {
    name: "GET /v1/tasks",
    allowed: ["admin", "client", "reader"],
    call: () => ({ method: "GET", path: "/v1/tasks" }),
  },
  {
    name: "GET /v1/tasks/{id}",
    allowed: ["admin", "client", "reader"],
    call: (f) => ({ method: "GET", path: `/v1/tasks/${f.queuedId}` }),
  },
  {
    name: "POST /v1/tasks/{id}/cancel",
    allowed: ["admin", "client"],
    fresh: true,
    call: (f) => ({ method: "POST", path: `/v1/tasks/${f.queuedId}/cancel`, body: {} }),
  },
  {
    name: "POST /v1/tasks/{id}/retry",
    allowed: ["admin", "client"],
    fresh: true,
    call: (f) => ({ method: "POST", path: `/v1/tasks/${f.canceledId}/retry`, body: {} }),
  },
  {
    name: "DELETE /v1/tasks/{id}",
    allowed: ["admin"],
    fresh: true,
    call: (f) => ({ method: "DELETE", path: `/v1/tasks/${f.canceledId}` }),
  },
  {
    name: "POST /v1/tasks/{id}/complete",
    allowed: ["admin", "node"],
    fresh: true,
    call: (f) => ({
      method: "POST",
      path: `/v1/tasks/${f.leased.id}/complete`,
      body: { leaseToken: f.leased.leaseToken },
    }),
  },
  {
    name: "POST /v1/tasks/{id}/fail",
    allowed: ["admin", "node"],
    fresh: true,
    call: (f) => ({
      method: "POST",
      path: `/v1/tasks/${f.leased.id}/fail`,
      body: { leaseToken: f.leased.leaseToken, error: "e" },
    }),
  },
  {
    name: "POST /v1/tasks/{id}/extend",
    allowed: ["admin", "node"],
    call: (f) => ({
      method: "POST",
      path: `/v1/tasks/${f.leased.id}/extend`,
      body: { leaseToken: f.leased.leaseToken, extendMs: 5000 },
    }),
  },
  {
    name: "POST /v1/elections/{name}/campaign",
    allowed: ["admin", "node"],
    // Each allowed caller campaigns in its own world: "other" is the first campaigner's until it lapses.
    fresh: true,
    call: () => ({
      method: "POST",
      path: "/v1/elections/db/campaign",
      body: { candidate: "other", ttlMs: 5000 },
    }),
  },
  {
    name: "POST /v1/elections/{name}/resign",
    allowed: ["admin", "node"],
    call: () => ({ method: "POST", path: "/v1/elections/db/resign", body: { candidate: "other" } }),
  },
  {
    name: "POST /v1/elections/{name}/fence",
    allowed: ["admin", "node"],
    call: (f) => ({ method: "POST", path: "/v1/elections/db/fence", body: { term: f.term } }),
  },
  {
    name: "GET /v1/elections",
    allowed: ["admin", "node", "reader"],
    call: () => ({ method: "GET", path: "/v1/elections" }),
  },
  {
    name: "GET /v1/elections/{name}",
    allowed: ["admin", "node", "reader"],
    call: () => ({ method: "GET", path: "/v1/elections/db" }),
  },
  {
    name: "GET /v1/elections/{name}/observe",
    allowed: ["admin", "node", "reader"],
    call: () => ({ method: "GET", path: "/v1/elections/db/observe" }),
  },
  {
    name: "GET /v1/owners/{key}",
    allowed: ["admin", "node", "reader"],
    call: () => ({ method: "GET", path: "/v1/owners/user-42?region=eu-west" }),
  },
  {
    name: "GET /v1/status",
    allowed: ["admin", "reader"],
    call: () => ({ method: "GET", path: "/v1/status" }),
  },
  { name: "GET /metrics", allowed: ["admin", "reader"], call: () => ({ method: "GET", path: "/metrics" }) },
  {
    name: "GET /v1/events",
    allowed: ["admin", "reader"],
    call: () => ({ method: "GET", path: "/v1/events" }),
  },
];

// `/docs` and `/dashboard` are static assets, served before the Worker (they hold no data).
const PUBLIC = ["/healthz", "/openapi.json"];

function expected(route: Route, caller: Caller): number {
  if (caller === "none" || caller === "revoked") {
    return 401;
  }
  return route.allowed.includes(caller) ? 2 : 403;
}

/** Refused calls change nothing (the fuzzer checks that), and so do most allowed ones to the others' inputs: they share one fixture. */
let shared: Promise<Fixture> | undefined;

/** One cell: the call, on a fresh fixture when it is allowed (it changes state), and its status. */
async function cell(route: Route, caller: Caller): Promise<{ status: number; code?: string }> {
  const allowed = caller !== "none" && caller !== "revoked" && route.allowed.includes(caller);
  shared ??= fixture();
  const f = allowed && route.fresh ? await fixture() : await shared;
  const { method, path, body } = route.call(f);
  const headers: Record<string, string> = {};
  if (caller !== "none") {
    headers.authorization = `Bearer ${f.tokens[caller]}`;
  }
  const response = await f.h.app.request(
    `http://meridian.test${path}`,
    { method, headers, body: body === undefined ? undefined : JSON.stringify(body) },
    env,
  );
  // The observe and event streams never end: read the status, then hang up.
  let text = "";
  if (response.headers.get("content-type")?.includes("event-stream")) {
    await response.body?.cancel();
  } else {
    text = await response.text();
  }
  const code =
    response.status >= 400 ? (JSON.parse(text) as { error: { code: string } }).error.code : undefined;
  return { status: response.status, code };
}

describe("auth matrix: every route × every role, no token, revoked token", () => {
  for (const route of ROUTES) {
    it(`${route.name}: ${CALLERS.map((c) => `${c}=${expected(route, c) === 2 ? "2xx" : expected(route, c)}`).join(" ")}`, async () => {
      const got: Record<string, number | string> = {};
      const want: Record<string, number | string> = {};
      for (const caller of CALLERS) {
        const { status, code } = await cell(route, caller);
        got[caller] = status >= 200 && status < 300 ? "2xx" : `${status} ${code}`;
        const e = expected(route, caller);
        want[caller] = e === 2 ? "2xx" : `${e} ${e === 401 ? "unauthorized" : "forbidden"}`;
      }
      expect(got).toEqual(want);
    }, 60_000);
  }

  it("leaves the public routes open to everyone", async () => {
    const f = await fixture();
    for (const path of PUBLIC) {
      expect((await f.h.get(path, null)).status).toBe(200);
    }
  });

  it("binds a node to its token: another node token gets 403 on every node-scoped call", async () => {
    const f = await fixture();
    const other = await f.h.token("node");
    const calls = ROUTES.filter((r) => /nodes\/\{id\}|complete|fail|extend/.test(r.name));
    expect(calls).toHaveLength(8);
    for (const route of calls) {
      const { method, path, body } = route.call(f);
      const reply = await f.h.request(method, path, { token: other, body });
      expect([route.name, reply.status]).toEqual([route.name, 403]);
    }
    // Nor campaign or resign in its name (found by this matrix: it renewed and unbound the candidacy).
    for (const act of ["campaign", "resign"]) {
      const body = act === "campaign" ? { candidate: f.nodeId, ttlMs: 5000 } : { candidate: f.nodeId };
      const reply = await f.h.post(`/v1/elections/db/${act}`, body, other);
      expect([act, reply.status]).toEqual([act, 403]);
    }
    const view = (await f.h.get("/v1/elections/db")).body;
    expect(view.leader).toMatchObject({ candidate: f.nodeId, term: f.term });
  }, 60_000);
});

describe("auth matrix, second tenant: another tenant's objects do not exist for it (API-v2 §8)", () => {
  const ROLES: Role[] = ["admin", "client", "node", "reader"];

  /** A token of each role in tenant `beta`, minted by the global admin. */
  async function betaTokens(f: Fixture): Promise<Record<Role, string>> {
    const tokens = {} as Record<Role, string>;
    for (const role of ROLES) {
      const reply = await f.h.post("/v1/tokens", { role, tenant: "beta" });
      expect(reply.body).toMatchObject({ role, tenant: "beta" });
      tokens[role] = reply.body.token as string;
    }
    return tokens;
  }

  it("answers 404 on every route naming a task, node or token of tenant default, to every beta role allowed the call, and changes nothing", async () => {
    const f = await fixture();
    const beta = await betaTokens(f);
    const ids = [f.nodeId, f.queuedId, f.leased.id, f.canceledId, f.tokenIds.reader];
    const scoped = ROUTES.filter((r) => ids.some((id) => r.call(f).path.includes(id)));
    // tokens revoke; node heartbeat, poll, report, drain, deregister; task get, cancel, retry,
    // erase, complete, fail, extend
    expect(scoped).toHaveLength(13);
    const before = await stateDigest(f.h);
    const got: Record<string, string> = {};
    const want: Record<string, string> = {};
    for (const route of scoped) {
      const { method, path, body } = route.call(f);
      for (const role of route.allowed) {
        const reply = await f.h.request(method, path, { token: beta[role], body });
        got[`${route.name} as beta ${role}`] = `${reply.status} ${reply.body?.error?.code}`;
        want[`${route.name} as beta ${role}`] = "404 not_found";
      }
    }
    expect(got).toEqual(want);
    expect(await stateDigest(f.h)).toBe(before);
  }, 60_000);

  it("lists only the caller's tenant; a global admin lists every tenant", async () => {
    const f = await fixture();
    const beta = await betaTokens(f);
    const betaTask = (await f.h.submit({ type: "beta-task", region: "eu-west" }, beta.client)).body
      .id as string;
    const betaNode = await f.h.node(beta.node, "eu-west", 1);
    const tasks = async (token: string) =>
      ((await f.h.get("/v1/tasks?limit=100", token)).body.tasks as { id: string }[]).map((t) => t.id);
    const nodes = async (token: string) =>
      ((await f.h.get("/v1/nodes", token)).body.nodes as { id: string }[]).map((n) => n.id);
    for (const token of [beta.reader, beta.admin, beta.client]) {
      expect(await tasks(token)).toEqual([betaTask]);
    }
    expect(await tasks(f.tokens.reader)).not.toContain(betaTask);
    expect(await tasks(f.tokens.reader)).toContain(f.queuedId);
    expect(await tasks(ADMIN)).toEqual(expect.arrayContaining([betaTask, f.queuedId]));
    for (const token of [beta.reader, beta.admin]) {
      expect(await nodes(token)).toEqual([betaNode]);
    }
    expect(await nodes(f.tokens.reader)).toEqual([f.nodeId]);
    expect(await nodes(ADMIN)).toEqual(expect.arrayContaining([betaNode, f.nodeId]));
    const tokenTenants = async (token: string) =>
      new Set(
        ((await f.h.get("/v1/tokens", token)).body.tokens as { tenant: string | null }[]).map(
          (t) => t.tenant,
        ),
      );
    expect(await tokenTenants(beta.reader)).toEqual(new Set(["beta"]));
    expect(await tokenTenants(f.tokens.reader)).toEqual(new Set(["default"]));
    expect(await tokenTenants(ADMIN)).toEqual(new Set(["default", "beta", null]));
  }, 60_000);

  it("never leases across tenants: each tenant's node takes only its tenant's tasks in a shared region", async () => {
    const f = await fixture();
    const beta = await betaTokens(f);
    const betaNode = await f.h.node(beta.node, "eu-west", 10);
    // Only default's queued task waits: the beta node gets nothing.
    expect(await f.h.poll(betaNode, beta.node, 10)).toEqual([]);
    const betaTasks: string[] = [];
    for (let i = 0; i < 3; i++) {
      betaTasks.push((await f.h.submit({ type: "b", region: "eu-west", priority: 9 }, beta.client)).body.id);
    }
    // The default node has room for 4 and beta's tasks are of higher priority: it still takes only its own.
    const taken = (await f.h.poll(f.nodeId, f.tokens.node, 10)).map((t: { id: string }) => t.id);
    expect(taken).toEqual([f.queuedId]);
    const betaTaken = (await f.h.poll(betaNode, beta.node, 10)).map((t: { id: string }) => t.id);
    expect(betaTaken.sort()).toEqual([...betaTasks].sort());
    // A beta node cannot complete a default lease, nor a default node a beta one: 404, as if absent.
    const leased = (await f.h.get(`/v1/tasks/${betaTasks[0]}`, beta.client)).body;
    const cross = await f.h.post(
      `/v1/tasks/${betaTasks[0]}/complete`,
      { leaseToken: leased.leaseToken ?? "x" },
      f.tokens.node,
    );
    expect(cross.status).toBe(404);
  }, 60_000);
});
