import { describe, expect, it } from "vitest";
import { histogramCount } from "../../src/core/histogram";
import { HttpMetricsTable, MAX_HTTP_SERIES, parseHttpMetrics } from "../../src/core/http-metrics";

describe("HTTP metrics table", () => {
  it("counts by (route, status) and times by route; a snapshot is sorted and detached", () => {
    const t = new HttpMetricsTable();
    t.record("/v1/tasks/:id", 200, 0.02);
    t.record("/v1/tasks/:id", 404, 0.01);
    t.record("/v1/tasks/:id", 200, 0.03);
    t.record("/healthz", 200, 0.001);
    const snap = t.snapshot();
    expect(snap.requests).toEqual([
      { route: "/healthz", status: 200, count: 1 },
      { route: "/v1/tasks/:id", status: 200, count: 2 },
      { route: "/v1/tasks/:id", status: 404, count: 1 },
    ]);
    expect(snap.durations.map((d) => [d.route, histogramCount(d.histogram)])).toEqual([
      ["/healthz", 1],
      ["/v1/tasks/:id", 3],
    ]);
    t.record("/healthz", 200, 0.001);
    expect(snap.requests[0]!.count).toBe(1);
    expect(histogramCount(snap.durations[0]!.histogram)).toBe(1);
  });

  it("merging isolates' deltas sums them, whatever the order", () => {
    const a = new HttpMetricsTable();
    const b = new HttpMetricsTable();
    a.record("/x", 200, 0.1);
    b.record("/x", 200, 0.2);
    b.record("/y", 500, 1);
    const ab = new HttpMetricsTable();
    ab.add(a.snapshot());
    ab.add(b.snapshot());
    const ba = new HttpMetricsTable();
    ba.add(b.snapshot());
    ba.add(a.snapshot());
    expect(ab.snapshot()).toEqual(ba.snapshot());
    expect(ab.snapshot().requests).toEqual([
      { route: "/x", status: 200, count: 2 },
      { route: "/y", status: 500, count: 1 },
    ]);
    expect(ab.snapshot().durations[0]!.histogram.sum).toBeCloseTo(0.3);
  });

  it("stays bounded: series past the limit are dropped and counted as dropped", () => {
    const t = new HttpMetricsTable();
    for (let i = 0; i < MAX_HTTP_SERIES + 5; i++) {
      t.record(`/r${i}`, 200, 0);
    }
    const snap = t.snapshot();
    expect(snap.requests.length).toBe(MAX_HTTP_SERIES);
    expect(snap.durations.length).toBe(MAX_HTTP_SERIES);
    expect(t.dropped).toBe(10);
  });

  it("validates what crosses RPC or comes from storage", () => {
    const t = new HttpMetricsTable();
    t.record("/x", 201, 0.5);
    const snap = JSON.parse(JSON.stringify(t.snapshot()));
    expect(parseHttpMetrics(snap)).toEqual(t.snapshot());
    expect(parseHttpMetrics({ ...snap, requests: [{ route: "/x", status: 99, count: 1 }] })).toBeNull();
    expect(parseHttpMetrics({ ...snap, requests: [{ route: "/x", status: 200, count: 1.5 }] })).toBeNull();
    expect(parseHttpMetrics({ ...snap, durations: [{ route: "/x", histogram: { bounds: [] } }] })).toBeNull();
    expect(parseHttpMetrics({ requests: {}, durations: [] })).toBeNull();
  });
});
