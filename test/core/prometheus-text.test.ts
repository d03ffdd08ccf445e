import { describe, expect, it } from "vitest";
import { emptyHistogram, observe } from "../../src/core/histogram";
import { escapeLabelValue, type MetricFamily, renderExposition } from "../../src/core/prometheus-text";
import { histogramSeries, parseExposition, sampleValue } from "../lib/prometheus-parser";

describe("Prometheus text exposition", () => {
  it("renders counters, gauges and histograms that a strict parser reads back", () => {
    const h = emptyHistogram([0.5, 2]);
    for (const v of [0.1, 0.6, 0.7, 5]) {
      observe(h, v);
    }
    const families: MetricFamily[] = [
      {
        name: "x_total",
        help: "A counter.\nSecond line, a \\ backslash.",
        type: "counter",
        samples: [
          { labels: { region: 'eu "west"\\\n' }, value: 3 },
          { labels: { region: "plain" }, value: 0 },
        ],
      },
      { name: "up", help: "A gauge without labels.", type: "gauge", samples: [{ labels: {}, value: 1 }] },
      { name: "empty_total", help: "No samples yet.", type: "counter", samples: [] },
      {
        name: "d_seconds",
        help: "A histogram.",
        type: "histogram",
        series: [{ labels: { r: "a" }, histogram: h }],
      },
    ];
    const text = renderExposition(families);
    expect(text).toContain('x_total{region="eu \\"west\\"\\\\\\n"} 3\n');
    expect(text).toContain('d_seconds_bucket{r="a",le="+Inf"} 4\n');
    const parsed = parseExposition(text);
    expect(parsed.get("x_total")).toMatchObject({
      type: "counter",
      help: "A counter.\nSecond line, a \\ backslash.",
    });
    expect(sampleValue(parsed, "x_total", { region: 'eu "west"\\\n' })).toBe(3);
    expect(sampleValue(parsed, "up")).toBe(1);
    expect(parsed.get("empty_total")?.samples).toEqual([]);
    expect(histogramSeries(parsed, "d_seconds", { r: "a" })).toEqual({
      buckets: [
        { le: 0.5, count: 1 },
        { le: 2, count: 3 },
        { le: Number.POSITIVE_INFINITY, count: 4 },
      ],
      sum: 0.1 + 0.6 + 0.7 + 5,
      count: 4,
    });
  });

  it("escapes exactly backslash, double quote and line feed in label values", () => {
    expect(escapeLabelValue('a\\b"c\nd\te')).toBe('a\\\\b\\"c\\nd\te');
  });

  it("refuses invalid metric and label names (a programming error, caught by tests)", () => {
    const bad = (family: MetricFamily) => () => renderExposition([family]);
    expect(bad({ name: "9x", help: "", type: "gauge", samples: [] })).toThrow(/metric name/);
    expect(
      bad({ name: "x", help: "", type: "gauge", samples: [{ labels: { "a-b": "1" }, value: 1 }] }),
    ).toThrow(/label name/);
    expect(
      bad({ name: "x", help: "", type: "gauge", samples: [{ labels: { __x: "1" }, value: 1 }] }),
    ).toThrow(/label name/);
    expect(
      bad({
        name: "x",
        help: "",
        type: "histogram",
        series: [{ labels: { le: "1" }, histogram: emptyHistogram([1]) }],
      }),
    ).toThrow(/le/);
  });

  it("the test's parser refuses what the format forbids (so the integration test can fail)", () => {
    const head = "# HELP a_total A.\n# TYPE a_total counter\n";
    const refused = [
      "a_total 1", // no final line feed
      `${head}a_total{x="1"} 1\na_total{x="1"} 2\n`, // duplicate series
      `${head}a_total{x="1",x="2"} 1\n`, // duplicate label
      `${head}a_total{x=1} 1\n`, // unquoted value
      `${head}a_total{x="\\t"} 1\n`, // bad escape
      `${head}a_total one\n`, // not a number
      `${head}a_total  1\n`, // two spaces
      "b 1\n", // no TYPE
      `${head}# TYPE a_total counter\n`, // second TYPE
      `${head}a_total -1\n`, // negative counter
      `${head}# HELP b B.\n# TYPE b gauge\nb 1\na_total 1\n`, // a family's samples not contiguous
      '# HELP h H.\n# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n', // not cumulative
      '# HELP h H.\n# TYPE h histogram\nh_bucket{le="1"} 1\nh_sum 1\nh_count 1\n', // no +Inf
      '# HELP h H.\n# TYPE h histogram\nh_bucket{le="+Inf"} 2\nh_sum 1\nh_count 1\n', // count differs
      '# HELP h H.\n# TYPE h histogram\nh_bucket{le="+Inf"} 1\nh_count 1\n', // no _sum
    ];
    for (const text of refused) {
      expect(() => parseExposition(text), JSON.stringify(text)).toThrow();
    }
  });
});
