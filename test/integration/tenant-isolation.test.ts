import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type Harness, harness } from "./harness";

/**
 * Two tenants sharing two regions, driven by random operation sequences (fast-check, seeded):
 * submits (single, batch, pinned or routed, with priorities), polls by each tenant's nodes,
 * outcomes, cancels, cross-tenant reads and lists. After every step: no node ever holds a task of
 * another tenant, another tenant's task is 404 to every caller of the tenant that does not own
 * it, and each tenant's list holds exactly its own tasks. Replay a failure with its printed seed.
 */
const TENANTS = ["default", "beta"] as const;
type Tenant = (typeof TENANTS)[number];
const REGIONS = { "eu-west": { lat: 53.35, lon: -6.26 }, "us-east": { lat: 38.9, lon: -77.04 } } as const;
type Region = keyof typeof REGIONS;

type Op =
  | { kind: "submit"; tenant: Tenant; count: number; region: Region | null; priority: number }
  | { kind: "poll"; tenant: Tenant; region: Region; max: number }
  | { kind: "finish"; tenant: Tenant; pick: number; ok: boolean }
  | { kind: "cancel"; tenant: Tenant; pick: number }
  | { kind: "peek"; tenant: Tenant; pick: number };

const tenant = fc.constantFrom(...TENANTS);
const region = fc.constantFrom(...(Object.keys(REGIONS) as Region[]));
const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    kind: fc.constant("submit" as const),
    tenant,
    count: fc.integer({ min: 1, max: 4 }),
    region: fc.option(region, { nil: null }),
    priority: fc.integer({ min: 0, max: 9 }),
  }),
  fc.record({ kind: fc.constant("poll" as const), tenant, region, max: fc.integer({ min: 1, max: 4 }) }),
  fc.record({ kind: fc.constant("finish" as const), tenant, pick: fc.nat(), ok: fc.boolean() }),
  fc.record({ kind: fc.constant("cancel" as const), tenant, pick: fc.nat() }),
  fc.record({ kind: fc.constant("peek" as const), tenant, pick: fc.nat() }),
);

interface World {
  h: Harness;
  tokens: Record<Tenant, { client: string; node: string; reader: string }>;
  nodes: Record<Tenant, Record<Region, string>>;
  /** Every task id by the tenant that submitted it. */
  owner: Map<string, Tenant>;
  /** Leases held, by tenant: what its nodes were given. */
  leases: Record<Tenant, { id: string; leaseToken: string }[]>;
}

async function world(): Promise<World> {
  const h = await harness();
  for (const [id, at] of Object.entries(REGIONS)) {
    await h.region(id, at.lat, at.lon);
  }
  const mint = async (role: string, t: Tenant) =>
    (await h.post("/v1/tokens", { role, ...(t === "default" ? {} : { tenant: t }) })).body.token as string;
  const tokens = {} as World["tokens"];
  const nodes = {} as World["nodes"];
  for (const t of TENANTS) {
    tokens[t] = {
      client: await mint("client", t),
      node: await mint("node", t),
      reader: await mint("reader", t),
    };
    nodes[t] = {
      "eu-west": await h.node(tokens[t].node, "eu-west", 4),
      "us-east": await h.node(tokens[t].node, "us-east", 4),
    };
  }
  return { h, tokens, nodes, owner: new Map(), leases: { default: [], beta: [] } };
}

const other = (t: Tenant): Tenant => (t === "default" ? "beta" : "default");

async function step(w: World, o: Op): Promise<void> {
  const { h, tokens } = w;
  const mine = [...w.owner].filter(([, t]) => t === o.tenant).map(([id]) => id);
  switch (o.kind) {
    case "submit": {
      const body = () => ({
        type: "x",
        priority: o.priority,
        ...(o.region ? { region: o.region } : { location: REGIONS["eu-west"] }),
      });
      const reply = await h.post(
        "/v1/tasks:batch",
        { tasks: Array.from({ length: o.count }, body) },
        tokens[o.tenant].client,
      );
      for (const r of reply.body.results as { task?: { id: string } }[]) {
        if (r.task) {
          w.owner.set(r.task.id, o.tenant);
        }
      }
      return;
    }
    case "poll": {
      const got = await h.poll(w.nodes[o.tenant][o.region], tokens[o.tenant].node, o.max);
      for (const t of got as { id: string; leaseToken: string }[]) {
        expect([t.id, w.owner.get(t.id)]).toEqual([t.id, o.tenant]); // never another tenant's
        w.leases[o.tenant].push({ id: t.id, leaseToken: t.leaseToken });
      }
      return;
    }
    case "finish": {
      const held = w.leases[o.tenant];
      if (held.length === 0) {
        return;
      }
      const [lease] = held.splice(o.pick % held.length, 1);
      // The other tenant's node cannot touch it: 404, as if it did not exist.
      const cross = await h.post(
        `/v1/tasks/${lease!.id}/complete`,
        { leaseToken: lease!.leaseToken },
        tokens[other(o.tenant)].node,
      );
      expect(cross.status).toBe(404);
      const path = o.ok ? "complete" : "fail";
      const body = o.ok
        ? { leaseToken: lease!.leaseToken }
        : { leaseToken: lease!.leaseToken, error: "e", retryable: false };
      const done = await h.post(`/v1/tasks/${lease!.id}/${path}`, body, tokens[o.tenant].node);
      expect([200, 409]).toContain(done.status); // 409: canceled meanwhile (lease_lost)
      return;
    }
    case "cancel": {
      if (mine.length === 0) {
        return;
      }
      const id = mine[o.pick % mine.length]!;
      expect((await h.post(`/v1/tasks/${id}/cancel`, {}, tokens[other(o.tenant)].client)).status).toBe(404);
      const own = await h.post(`/v1/tasks/${id}/cancel`, {}, tokens[o.tenant].client);
      expect([200, 409]).toContain(own.status);
      return;
    }
    case "peek": {
      if (mine.length === 0) {
        return;
      }
      const id = mine[o.pick % mine.length]!;
      expect((await h.get(`/v1/tasks/${id}`, tokens[other(o.tenant)].reader)).status).toBe(404);
      expect((await h.get(`/v1/tasks/${id}`, tokens[o.tenant].reader)).status).toBe(200);
      return;
    }
  }
}

/** Each tenant's list holds exactly the tasks it submitted (none is old enough for retention). */
async function checkLists(w: World): Promise<void> {
  for (const t of TENANTS) {
    const listed = (
      (await w.h.get("/v1/tasks?limit=500", w.tokens[t].reader)).body.tasks as { id: string }[]
    ).map((x) => x.id);
    const owned = [...w.owner].filter(([, o]) => o === t).map(([id]) => id);
    expect(new Set(listed)).toEqual(new Set(owned));
  }
}

describe("tenant isolation under random operation sequences", () => {
  it("never leases, reads, cancels or lists across tenants (fast-check, seed printed on failure)", async () => {
    const seed = Number(process.env.TENANT_SEED ?? 14);
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 5, maxLength: 25 }), async (ops) => {
        const w = await world();
        for (const o of ops) {
          await step(w, o);
        }
        await checkLists(w);
      }),
      { seed, numRuns: 12, endOnFailure: true },
    );
  }, 120_000);
});
