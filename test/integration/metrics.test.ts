import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { METRICS_QUIET_MS } from "../../durable-objects/region-shard/shard-metrics";
import { edgeMetricsStub } from "../../durable-objects/stubs";
import { EDGE_FLUSH_MS } from "../../src/http/edge-http-metrics";
import { type Family, histogramSeries, parseExposition, sampleValue } from "../lib/prometheus-parser";
import { type Harness, harness } from "./harness";

/** `/metrics` as a reader sees it, parsed strictly (a violation of the text format throws). */
async function scrape(h: Harness, reader: string): Promise<Map<string, Family>> {
  const reply = await h.get("/metrics", reader);
  expect(reply.status).toBe(200);
  expect(reply.headers.get("content-type")).toContain("text/plain; version=0.0.4");
  return parseExposition(reply.body as string);
}

/** A series' value, 0 when it does not exist yet (a counter that has not moved may be absent). */
function value(families: Map<string, Family>, name: string, labels: Record<string, string> = {}): number {
  return sampleValue(families, name, labels) ?? 0;
}

/** What moved between two scrapes, for every named series. */
function moved(
  before: Map<string, Family>,
  after: Map<string, Family>,
  series: [string, Record<string, string>][],
): number[] {
  return series.map(([name, labels]) => value(after, name, labels) - value(before, name, labels));
}

/** A histogram series' change between two scrapes: per bucket, sum and count. */
function histogramDelta(
  before: Map<string, Family>,
  after: Map<string, Family>,
  name: string,
  labels: Record<string, string>,
) {
  const b = histogramSeries(before, name, labels);
  const a = histogramSeries(after, name, labels);
  if (a === null) {
    throw new Error(`no ${name} ${JSON.stringify(labels)}`);
  }
  return {
    buckets: a.buckets.map((bucket, i) => ({
      le: bucket.le,
      count: bucket.count - (b?.buckets[i]?.count ?? 0),
    })),
    sum: a.sum - (b?.sum ?? 0),
    count: a.count - (b?.count ?? 0),
  };
}

/** Count of a histogram delta's cumulative bucket with bound `le`. */
function bucket(delta: { buckets: { le: number; count: number }[] }, le: number): number {
  return delta.buckets.find((b) => b.le === le)!.count;
}

describe("metrics", () => {
  it("task counters and histograms move by exactly the work done, per region", async () => {
    const h = await harness();
    await h.region("eu-west", 53.35, -6.26);
    await h.startShard("eu-west", { random: () => 0.5 }); // fixed jitter: the first retry comes after 750 ms
    const node = await h.token("node");
    const client = await h.token("client");
    const reader = await h.token("reader");
    const nodeId = await h.node(node, "eu-west");
    const region = { region: "eu-west" };
    const before = await scrape(h, reader);

    const submit = async (body: Record<string, unknown>) =>
      (await h.submit({ type: "x", ...body }, client)).body.id;
    const a = await submit({ timeoutMs: 1000, maxAttempts: 3 });
    const b = await submit({ timeoutMs: 1000, maxAttempts: 3 });
    const c = await submit({ timeoutMs: 1000, maxAttempts: 3 });
    await submit({ delayMs: 600_000 }); // never runnable in this test: no lease, no dispatch time
    await h.advance(2000);
    const first = await h.poll(nodeId, node, 3); // A, B, C, each 2 s after it became runnable
    expect(first.map((t) => t.id)).toEqual([a, b, c]);
    const lease = (id: string) => first.find((t) => t.id === id).leaseToken;

    await h.advance(500);
    expect((await h.post(`/v1/tasks/${a}/complete`, { leaseToken: lease(a) }, node)).status).toBe(200);
    const failed = await h.post(
      `/v1/tasks/${b}/fail`,
      { leaseToken: lease(b), error: "e", retryable: true },
      node,
    );
    expect(failed.body).toMatchObject({ status: "scheduled", runAt: h.now + 750 }); // a retry
    await h.advance(1000); // C's lease ran out 500 ms ago
    expect(await h.alarm("eu-west")).toBe(true);
    expect((await h.get(`/v1/tasks/${c}`, client)).body).toMatchObject({
      status: "scheduled",
      runAt: h.now + 750,
    });
    const e = await submit({});
    expect((await h.post(`/v1/tasks/${e}/cancel`, {}, client)).status).toBe(200);

    await h.advance(1000); // B was runnable 1.25 s ago, C 0.25 s ago
    const second = await h.poll(nodeId, node, 5);
    expect(second.map((t) => t.id).sort()).toEqual([b, c].sort());
    const lease2 = (id: string) => second.find((t) => t.id === id).leaseToken;
    await h.advance(300);
    expect((await h.post(`/v1/tasks/${c}/complete`, { leaseToken: lease2(c) }, node)).status).toBe(200);
    const final = await h.post(
      `/v1/tasks/${b}/fail`,
      { leaseToken: lease2(b), error: "e", retryable: false },
      node,
    );
    expect(final.body).toEqual({ status: "failed" });

    const after = await scrape(h, reader);
    expect(
      moved(before, after, [
        ["meridian_tasks_submitted_total", region],
        ["meridian_tasks_completed_total", { ...region, outcome: "succeeded" }],
        ["meridian_tasks_completed_total", { ...region, outcome: "failed" }],
        ["meridian_tasks_completed_total", { ...region, outcome: "canceled" }],
        ["meridian_tasks_retries_total", region],
        ["meridian_tasks_lease_expired_total", region],
      ]),
    ).toEqual([5, 2, 1, 1, 2, 1]);

    // Dispatch: 2, 2, 2 (first leases), 1.25 (B's retry), 0.25 (C's retry) seconds.
    const dispatch = histogramDelta(before, after, "meridian_dispatch_seconds", region);
    expect(dispatch.count).toBe(5);
    expect(dispatch.sum).toBeCloseTo(7.5, 9);
    expect([0.1, 0.25, 0.5, 1, 2.5].map((le) => bucket(dispatch, le))).toEqual([0, 1, 1, 1, 5]);
    // Run: A 0.5 and B 0.5 (reported), C 1.5 (expired at the alarm), then C 0.3 and B 0.3.
    const run = histogramDelta(before, after, "meridian_task_run_seconds", region);
    expect(run.count).toBe(5);
    expect(run.sum).toBeCloseTo(3.1, 9);
    expect([0.25, 0.5, 1, 2.5].map((le) => bucket(run, le))).toEqual([0, 4, 4, 5]);
    expect(run.buckets.at(-1)).toEqual({ le: Number.POSITIVE_INFINITY, count: 5 });

    // The gauges are still there, and /v1/status did not grow the counters.
    expect(value(after, "meridian_tasks", { status: "scheduled" })).toBe(1);
    const status = await h.get("/v1/status", reader);
    expect(status.body.taskMetrics).toBeUndefined();
    expect(status.body.tasks).toMatchObject({ succeeded: 2, failed: 1, canceled: 1, scheduled: 1 });
  });

  it("leader changes count new leaderships, not renewals", async () => {
    const h = await harness();
    await h.region("eu-west", 53.35, -6.26);
    const node = await h.token("node");
    const reader = await h.token("reader");
    const [n1, n2] = [await h.node(node, "eu-west"), await h.node(node, "eu-west")];
    const before = await scrape(h, reader);
    const campaign = (candidate: string) =>
      h.post("/v1/elections/db/campaign", { candidate, ttlMs: 60_000 }, node);
    expect((await campaign(n1)).status).toBe(200); // n1 leads: a change
    expect((await campaign(n2)).status).toBe(200); // n2 queues behind: none
    expect((await campaign(n1)).status).toBe(200); // a renewal: none
    expect((await h.post("/v1/elections/db/resign", { candidate: n1 }, node)).status).toBe(200); // n2 leads
    expect((await h.post("/v1/elections/db/resign", { candidate: n2 }, node)).status).toBe(200); // no leader: none
    await h.post("/v1/elections/other/campaign", { candidate: n1, ttlMs: 60_000 }, node); // another election
    const after = await scrape(h, reader);
    expect(
      value(after, "meridian_leader_changes_total") - value(before, "meridian_leader_changes_total"),
    ).toBe(3);
    expect(after.get("meridian_leader_changes_total")?.samples.map((s) => s.labels)).toEqual([{}]);
  });

  it("HTTP requests are counted by route pattern and status, and reach /metrics within a flush period", async () => {
    const h = await harness();
    await h.region("eu-west", 53.35, -6.26);
    const client = await h.token("client");
    const reader = await h.token("reader");
    const node = await h.token("node");
    await h.node(node, "eu-west");
    const id = (await h.submit({ type: "x" }, client)).body.id;
    const flush = async () => {
      await h.advance(EDGE_FLUSH_MS);
      expect((await h.get("/healthz", null)).status).toBe(200); // counted, then sent with the rest
    };
    await flush();
    const before = await scrape(h, reader);

    expect((await h.get(`/v1/tasks/${id}`, client)).status).toBe(200);
    expect((await h.get(`/v1/tasks/${id}`, client)).status).toBe(200);
    expect((await h.get(`/v1/tasks/${id.replace(/eu-west$/, "mars")}`, client)).status).toBe(404);
    expect((await h.get("/v1/nothing-here", client)).status).toBe(404);
    expect((await h.get("/nothing-here", null)).status).toBe(404); // outside /v1: no middleware of its own
    expect((await h.get("/v1/status", client)).status).toBe(403);
    expect((await h.get("/v1/status", null)).status).toBe(401);
    const unsent = await scrape(h, reader); // within the period: nothing of the above has been sent
    expect(value(unsent, "meridian_http_requests_total", { route: "/v1/tasks/:id", status: "200" })).toBe(
      value(before, "meridian_http_requests_total", { route: "/v1/tasks/:id", status: "200" }),
    );
    await flush();
    const after = await scrape(h, reader);

    expect(
      moved(before, after, [
        ["meridian_http_requests_total", { route: "/v1/tasks/:id", status: "200" }],
        ["meridian_http_requests_total", { route: "/v1/tasks/:id", status: "404" }],
        ["meridian_http_requests_total", { route: "unmatched", status: "404" }], // two
        ["meridian_http_requests_total", { route: "/v1/status", status: "403" }],
        ["meridian_http_requests_total", { route: "/v1/status", status: "401" }],
        ["meridian_http_requests_total", { route: "/metrics", status: "200" }], // `before` and `unsent`
        ["meridian_http_requests_total", { route: "/healthz", status: "200" }],
      ]),
    ).toEqual([2, 1, 2, 1, 1, 2, 1]);
    const durations = histogramDelta(before, after, "meridian_http_request_duration_seconds", {
      route: "/v1/tasks/:id",
    });
    expect(durations.count).toBe(3);
    expect(durations.sum).toBeGreaterThanOrEqual(0);
    expect(durations.sum).toBeLessThan(30); // three in-process calls: far under a second each
    // Bounded labels: the route is the pattern, never the raw path with its id.
    const routes = after.get("meridian_http_requests_total")!.samples.map((s) => s.labels.route!);
    expect(routes.some((r) => r.includes(id) || r.includes("nothing-here"))).toBe(false);
  });

  it("an isolate with an ExecutionContext sends a delta after the answer, once its period is up", async () => {
    const h = await harness();
    const reader = await h.token("reader"); // the isolate's first request: sent at once
    const fetchWithContext = async (path: string) => {
      const ctx = createExecutionContext();
      const response = await h.app.fetch(new Request(`http://meridian.test${path}`), env, ctx);
      await response.text();
      await waitOnExecutionContext(ctx); // waits for what the request left to waitUntil
      return response.status;
    };
    await h.advance(EDGE_FLUSH_MS - 20); // the next flush is due 20 ms (real time) after the answer
    expect(await fetchWithContext("/healthz")).toBe(200);
    const totals = await edgeMetricsStub(env, h.name).read();
    if (!totals.ok) {
      throw new Error("read failed");
    }
    expect(totals.value.requests).toContainEqual({ route: "/healthz", status: 200, count: 1 });
    expect((await scrape(h, reader)).has("meridian_http_requests_total")).toBe(true);
  });

  it("task counters survive an eviction once saved, and restart from zero after a save that may have missed counts", async () => {
    const h = await harness();
    await h.region("eu-west", 53.35, -6.26);
    const node = await h.token("node");
    const client = await h.token("client");
    const reader = await h.token("reader");
    await h.node(node, "eu-west");
    const submitted = async () =>
      value(await scrape(h, reader), "meridian_tasks_submitted_total", { region: "eu-west" });
    await h.submit({ type: "x" }, client);
    await h.submit({ type: "x" }, client);
    await h.advance(METRICS_QUIET_MS);
    expect(await h.alarm("eu-west")).toBe(true); // quiet: the shard saves its counts as final
    await h.evictAll();
    expect(await submitted()).toBe(2);

    await h.submit({ type: "x" }, client); // counted and saved, but more could have followed unsaved
    expect(await submitted()).toBe(3);
    await h.evictAll(); // before the final save
    expect(await submitted()).toBe(0); // a reset, which Prometheus' rate() handles
  });

  it("/metrics is reader-only, and EdgeMetrics refuses what is not a delta", async () => {
    const h = await harness();
    const client = await h.token("client");
    expect((await h.get("/metrics", null)).status).toBe(401);
    expect((await h.get("/metrics", client)).status).toBe(403);
    const refused = await edgeMetricsStub(env, h.name).add({ requests: "x" } as never);
    expect(refused).toMatchObject({ ok: false, error: { code: "invalid_request" } });
    const negative = await edgeMetricsStub(env, h.name).add({
      requests: [{ route: "/x", status: 200, count: -1 }],
      durations: [],
    });
    expect(negative.ok).toBe(false);
  });
});
