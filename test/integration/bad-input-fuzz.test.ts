import { env } from "cloudflare:workers";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type Fixture, fixture, stateCounts, stateDigest } from "../lib/api-fixture";

/**
 * Bad input on every route: malformed and deeply nested JSON, wrong types, numbers just out of
 * range, huge bodies, odd unicode and path segments, missing, bad, revoked and wrong-role tokens.
 * Each input must get a 4xx with the contract's error shape, change nothing that is stored (a
 * digest of every table before and after), and leave the server answering.
 */
const SEED = 20261126;
const RUNS = 1200;

type Field = "id" | "int" | "num" | "str" | "bool" | "enum" | "array" | "object";
interface Target {
  method: "POST" | "PUT" | "GET" | "DELETE";
  path: (f: Fixture) => string;
  /** A valid body, and each field's kind (a value of another kind, or out of its range, is invalid). */
  body?: (f: Fixture) => Record<string, unknown>;
  fields?: Record<string, { kind: Field; min?: number; max?: number }>;
  /** Roles allowed (a token of another role gets 403). */
  roles: string[];
}

const TARGETS: Record<string, Target> = {
  createToken: {
    method: "POST",
    path: () => "/v1/tokens",
    body: () => ({ role: "reader" }),
    fields: { role: { kind: "enum" } },
    roles: ["admin"],
  },
  putEndpoint: {
    method: "PUT",
    path: () => "/v1/regions/empty/endpoints/hooks",
    body: () => ({ url: "https://executor.example.com/run", capacity: 2, timeoutMs: 1000 }),
    fields: {
      url: { kind: "str", max: 2048 },
      capacity: { kind: "int", min: 1, max: 1000 },
      timeoutMs: { kind: "int", min: 100, max: 900_000 },
    },
    roles: ["admin"],
  },
  putRegion: {
    method: "PUT",
    path: () => "/v1/regions/r-new",
    body: () => ({ lat: 1, lon: 2 }),
    fields: { lat: { kind: "num", min: -90, max: 90 }, lon: { kind: "num", min: -180, max: 180 } },
    roles: ["admin"],
  },
  register: {
    method: "POST",
    path: () => "/v1/nodes",
    body: () => ({ region: "eu-west", capacity: 2 }),
    fields: { region: { kind: "id" }, capacity: { kind: "int", min: 1, max: 10_000 } },
    roles: ["admin", "node"],
  },
  heartbeat: {
    method: "POST",
    path: (f) => `/v1/nodes/${f.nodeId}/heartbeat`,
    body: () => ({ load: 0.5 }),
    fields: { load: { kind: "num", min: 0, max: 1 } },
    roles: ["admin", "node"],
  },
  poll: {
    method: "POST",
    path: (f) => `/v1/nodes/${f.nodeId}/poll`,
    body: () => ({ max: 1, waitMs: 0 }),
    fields: { max: { kind: "int", min: 1, max: 100 }, waitMs: { kind: "int", min: 0, max: 30_000 } },
    roles: ["admin", "node"],
  },
  report: {
    method: "POST",
    path: (f) => `/v1/nodes/${f.nodeId}/report`,
    body: (f) => ({ reports: [{ id: f.leased.id, leaseToken: f.leased.leaseToken, outcome: "succeeded" }] }),
    fields: { reports: { kind: "array" } },
    roles: ["admin", "node"],
  },
  submit: {
    method: "POST",
    path: () => "/v1/tasks",
    body: () => ({ type: "x", region: "eu-west" }),
    fields: {
      type: { kind: "id" },
      priority: { kind: "int", min: 0, max: 9 },
      maxAttempts: { kind: "int", min: 1, max: 100 },
      timeoutMs: { kind: "int", min: 1000, max: 3_600_000 },
      delayMs: { kind: "int", min: 0 },
      region: { kind: "id" },
      regions: { kind: "array" },
      fallback: { kind: "enum" },
      location: { kind: "object" },
      idempotencyKey: { kind: "str", min: 1, max: 200 },
    },
    roles: ["admin", "client"],
  },
  batch: {
    method: "POST",
    path: () => "/v1/tasks:batch",
    body: () => ({ tasks: [{ type: "x", region: "eu-west" }] }),
    fields: { tasks: { kind: "array" } },
    roles: ["admin", "client"],
  },
  complete: {
    method: "POST",
    path: (f) => `/v1/tasks/${f.leased.id}/complete`,
    body: (f) => ({ leaseToken: f.leased.leaseToken }),
    fields: { leaseToken: { kind: "str", min: 1, max: 200 } },
    roles: ["admin", "node"],
  },
  fail: {
    method: "POST",
    path: (f) => `/v1/tasks/${f.leased.id}/fail`,
    body: (f) => ({ leaseToken: f.leased.leaseToken, error: "e" }),
    fields: {
      leaseToken: { kind: "str", min: 1, max: 200 },
      error: { kind: "str", max: 10_000 },
      retryable: { kind: "bool" },
    },
    roles: ["admin", "node"],
  },
  extend: {
    method: "POST",
    path: (f) => `/v1/tasks/${f.leased.id}/extend`,
    body: (f) => ({ leaseToken: f.leased.leaseToken, extendMs: 5000 }),
    fields: {
      leaseToken: { kind: "str", min: 1, max: 200 },
      extendMs: { kind: "int", min: 1000, max: 3_600_000 },
    },
    roles: ["admin", "node"],
  },
  cancel: { method: "POST", path: (f) => `/v1/tasks/${f.queuedId}/cancel`, roles: ["admin", "client"] },
  retry: {
    method: "POST",
    path: (f) => `/v1/tasks/${f.canceledId}/retry`,
    body: () => ({ reroute: false }),
    fields: { reroute: { kind: "bool" } },
    roles: ["admin", "client"],
  },
  campaign: {
    method: "POST",
    path: () => "/v1/elections/db/campaign",
    body: () => ({ candidate: "x1", ttlMs: 5000 }),
    fields: { candidate: { kind: "id" }, ttlMs: { kind: "int", min: 1000, max: 300_000 } },
    roles: ["admin", "node"],
  },
  resign: {
    method: "POST",
    path: () => "/v1/elections/db/resign",
    body: () => ({ candidate: "x1" }),
    fields: { candidate: { kind: "id" } },
    roles: ["admin", "node"],
  },
  fence: {
    method: "POST",
    path: () => "/v1/elections/db/fence",
    body: (f) => ({ term: f.term }),
    fields: { term: { kind: "int", min: 0 } },
    roles: ["admin", "node"],
  },
  deleteRegion: { method: "DELETE", path: () => "/v1/regions/empty", roles: ["admin"] },
  deleteToken: { method: "DELETE", path: (f) => `/v1/tokens/${f.tokenIds.reader}`, roles: ["admin"] },
  deregister: { method: "DELETE", path: (f) => `/v1/nodes/${f.nodeId}`, roles: ["admin", "node"] },
};

/** A value that is not of `kind`, or just out of its range: invalid for the field whatever else is sent. */
function badValue(spec: { kind: Field; min?: number; max?: number }): fc.Arbitrary<unknown> {
  const other = {
    id: fc.oneof(
      fc.integer(),
      fc.boolean(),
      fc.constant(null),
      fc.array(fc.integer(), { maxLength: 2 }),
      fc.constantFrom("", "UPPER", "-lead", "a".repeat(129), "é", "a b", "\u0000", "👾", "a/b"),
    ),
    int: fc.oneof(
      fc.string(),
      fc.boolean(),
      fc.constant(null),
      fc.constant({}),
      fc.double({ min: 0.01, max: 0.99 }).map((d) => (spec.min ?? 0) + d),
    ),
    num: fc.oneof(fc.string(), fc.boolean(), fc.constant(null), fc.constant([])),
    str: fc.oneof(fc.integer(), fc.boolean(), fc.constant(null), fc.constant({})),
    bool: fc.oneof(fc.integer(), fc.string(), fc.constant(null)),
    enum: fc.oneof(fc.constantFrom("root", "ADMIN", "", " admin"), fc.integer(), fc.constant(null)),
    array: fc.oneof(fc.string(), fc.integer(), fc.constant({}), fc.constant([]), fc.constant(null)),
    object: fc.oneof(
      fc.string(),
      fc.integer(),
      fc.constant([]),
      fc.constant({ lat: 91, lon: 0 }),
      fc.constant({ lat: 0 }),
    ),
  }[spec.kind];
  const bounds: unknown[] = [];
  if (spec.min !== undefined) {
    bounds.push(spec.kind === "str" ? "" : spec.min - (spec.kind === "num" ? 1e-9 : 1));
  }
  if (spec.max !== undefined) {
    bounds.push(spec.kind === "str" ? "k".repeat(spec.max + 1) : spec.max + (spec.kind === "num" ? 1e-9 : 1));
  }
  if (spec.kind === "int" || spec.kind === "num") {
    bounds.push(1e308, -1e308, Number.MAX_SAFE_INTEGER + 2);
  }
  return bounds.length > 0 ? fc.oneof(other, fc.constantFrom(...bounds)) : other;
}

function nested(depth: number, open: string, close: string): string {
  return open.repeat(depth) + close.repeat(depth);
}

interface Input {
  target: string;
  kind: string;
  token: "admin" | "none" | "malformed" | "unknown" | "revoked" | "wrongRole";
  path?: string;
  raw?: string;
  body?: unknown;
}

function inputs(): fc.Arbitrary<Input> {
  const name = fc.constantFrom(...Object.keys(TARGETS));
  const withBody = fc.constantFrom(...Object.keys(TARGETS).filter((k) => TARGETS[k]!.fields));
  return fc.oneof(
    // A field of the wrong type or just out of range.
    withBody.chain((target) => {
      const fields = TARGETS[target]!.fields!;
      return fc
        .record({
          target: fc.constant(target),
          kind: fc.constant("bad field"),
          token: fc.constant("admin" as const),
          field: fc.constantFrom(...Object.keys(fields)),
        })
        .chain((i) =>
          badValue(fields[i.field]!).map((value) => ({
            ...i,
            kind: `bad ${i.field}`,
            patch: { [i.field]: value },
          })),
        );
    }),
    // Not JSON, not an object, deeply nested, or huge.
    fc.record({
      target: withBody,
      kind: fc.constant("malformed body"),
      token: fc.constant("admin" as const),
      raw: fc.oneof(
        fc.string().filter((s) => !isJsonObject(s)),
        fc.constantFrom("{", '{"a":', "[1,2", "null", "[]", '"x"', "1e999", "{'a':1}", "\uFEFF{}x", "{}{}"),
        fc.integer({ min: 1000, max: 60_000 }).map((d) => nested(d, "[", "]")),
        fc.integer({ min: 1000, max: 40_000 }).map((d) => `${'{"a":'.repeat(d)}1${"}".repeat(d)}`),
        fc.constant(`{"type":"x","payload":"${"x".repeat(300 * 1024)}"}`),
      ),
    }),
    // Odd path segments: ids and names that do not exist or are not valid at all.
    fc.record({
      target: name,
      kind: fc.constant("odd path"),
      token: fc.constant("admin" as const),
      path: fc.oneof(
        // Never a valid identifier: that could name a region or an election into existence.
        fc
          .string({ minLength: 1, maxLength: 80, unit: "binary" })
          .filter((s) => !/^[a-z0-9][a-z0-9._:-]{0,127}$/.test(s))
          .map((s) => encodeURIComponent(s)),
        fc.constantFrom(
          "..",
          "%2e%2e",
          "%00",
          "%ff",
          "a%2Fb",
          "x".repeat(300),
          "ÄÖÜ",
          "%F0%9F%91%BE",
          `node-${"Z".repeat(16)}`,
        ),
      ),
    }),
    // Tokens that may not make the call, with an otherwise valid request.
    fc.record({
      target: name,
      kind: fc.constant("bad token"),
      token: fc.constantFrom("none", "malformed", "unknown", "revoked", "wrongRole"),
    }),
  ) as fc.Arbitrary<Input>;
}

function isJsonObject(s: string): boolean {
  try {
    const v = JSON.parse(s === "" ? "{}" : s);
    return typeof v === "object" && v !== null && !Array.isArray(v);
  } catch {
    return false;
  }
}

async function send(f: Fixture, input: Input & { patch?: Record<string, unknown> }): Promise<Response> {
  const t = TARGETS[input.target]!;
  let path = t.path(f);
  if (input.path !== undefined) {
    // Replace the last segment that names something (an id, a region, an election) with the odd one.
    path = path.replace(
      /\/[^/]+(\/(campaign|resign|fence|heartbeat|poll|report|complete|fail|extend|cancel))?$/,
      `/${input.path}$1`,
    );
  }
  const headers: Record<string, string> = {};
  const role =
    input.token === "wrongRole"
      ? (["client", "node", "reader"] as const).find((r) => !t.roles.includes(r))!
      : null;
  const token = {
    admin: f.tokens.admin,
    none: null,
    malformed: null,
    unknown: "mrd_unknown",
    revoked: f.tokens.revoked,
    wrongRole: role && f.tokens[role],
  }[input.token];
  if (input.token === "malformed") {
    headers.authorization = "Basic dXNlcjpwYXNz";
  } else if (token) {
    headers.authorization = `Bearer ${token}`;
  }
  let body: string | undefined;
  if (input.raw !== undefined) {
    body = input.raw;
  } else if (t.body) {
    body = JSON.stringify({ ...t.body(f), ...input.patch });
  }
  return f.h.app.request(`http://meridian.test${path}`, { method: t.method, headers, body }, env);
}

describe("bad input fuzzer", () => {
  it(`answers ${RUNS} bad inputs with a 4xx and the error shape, changes nothing, stays up`, async () => {
    const f = await fixture();
    const before = await stateDigest(f.h);
    const counts = await stateCounts(f.h);
    const tally = new Map<string, number>();
    await fc.assert(
      fc.asyncProperty(inputs(), async (input) => {
        const response = await send(f, input);
        const text = await response.text();
        const where = `${input.target} ${input.kind} token=${input.token}`;
        expect([where, response.status >= 400 && response.status < 500]).toEqual([where, true]);
        const body = JSON.parse(text) as { error: { code: string; message: string } };
        expect(typeof body.error.code).toBe("string");
        expect(typeof body.error.message).toBe("string");
        expect([where, await stateDigest(f.h)]).toEqual([where, before]);
        const key = `${response.status} ${body.error.code}`;
        tally.set(key, (tally.get(key) ?? 0) + 1);
      }),
      { seed: SEED, numRuns: RUNS, endOnFailure: true },
    );
    expect((await f.h.get("/healthz", null)).body).toEqual({ ok: true });
    // Still serving real work after all that.
    expect((await f.h.get(`/v1/tasks/${f.queuedId}`)).body.status).toBe("queued");
    console.log(
      `fuzzer: ${RUNS} inputs, state ${JSON.stringify(counts)} unchanged; answers ${JSON.stringify(Object.fromEntries(tally))}`,
    );
  }, 120_000);

  it("refuses payloads nested deeper than 128 levels with a 400, never a 500, and stores nothing", async () => {
    const f = await fixture();
    const stored = async () => (await stateCounts(f.h))["eu-west/tasks"] ?? 0;
    for (const depth of [100, 127, 128, 1000, 10_000, 50_000]) {
      const raw = `{"type":"x","region":"eu-west","idempotencyKey":"deep-${depth}","payload":${nested(depth, "[", "]")}}`;
      const before = await stored();
      const response = await f.h.request("POST", "/v1/tasks", { raw, token: f.tokens.client });
      // The body's own object is one level: a payload 127 deep makes a body 128 deep.
      const ok = depth <= 127;
      expect([depth, response.status]).toEqual([depth, ok ? 201 : 400]);
      expect(await stored()).toBe(before + (ok ? 1 : 0));
    }
  }, 60_000);
});
