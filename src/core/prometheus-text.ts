import { cumulativeBuckets, type Histogram, histogramCount } from "./histogram";

/**
 * The Prometheus text exposition format (version 0.0.4): one `# HELP` and one `# TYPE` line per
 * family, then its samples. Pure. Names are checked (a bad one is a programming error, thrown),
 * label values and help texts are escaped, so a region or election name cannot break the format.
 */

export type Labels = Record<string, string>;

export type MetricFamily =
  | { name: string; help: string; type: "counter" | "gauge"; samples: { labels: Labels; value: number }[] }
  | { name: string; help: string; type: "histogram"; series: { labels: Labels; histogram: Histogram }[] };

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** A label value escaped for the text format: backslash, double quote and line feed. */
export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

/** A help text escaped for the text format: backslash and line feed. */
function escapeHelp(help: string): string {
  return help.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

/** A sample value: Go's float syntax, with `+Inf`, `-Inf` and `NaN` spelled as Prometheus reads them. */
export function formatValue(value: number): string {
  if (Number.isNaN(value)) {
    return "NaN";
  }
  if (value === Number.POSITIVE_INFINITY) {
    return "+Inf";
  }
  if (value === Number.NEGATIVE_INFINITY) {
    return "-Inf";
  }
  return String(value);
}

function labelSet(labels: Labels): string {
  const pairs = Object.entries(labels);
  if (pairs.length === 0) {
    return "";
  }
  return `{${pairs
    .map(([name, value]) => {
      if (!LABEL_NAME.test(name) || name.startsWith("__")) {
        throw new Error(`invalid label name ${JSON.stringify(name)}`);
      }
      return `${name}="${escapeLabelValue(value)}"`;
    })
    .join(",")}}`;
}

/** One family's lines. A histogram gives cumulative `_bucket{le}` lines, `+Inf` last, then `_sum` and `_count`. */
function familyLines(family: MetricFamily): string[] {
  if (!METRIC_NAME.test(family.name)) {
    throw new Error(`invalid metric name ${JSON.stringify(family.name)}`);
  }
  const lines = [`# HELP ${family.name} ${escapeHelp(family.help)}`, `# TYPE ${family.name} ${family.type}`];
  if (family.type !== "histogram") {
    for (const { labels, value } of family.samples) {
      lines.push(`${family.name}${labelSet(labels)} ${formatValue(value)}`);
    }
    return lines;
  }
  for (const { labels, histogram } of family.series) {
    if ("le" in labels) {
      throw new Error("a histogram's own labels may not include le");
    }
    for (const { le, count } of cumulativeBuckets(histogram)) {
      lines.push(`${family.name}_bucket${labelSet({ ...labels, le: formatValue(le) })} ${count}`);
    }
    lines.push(`${family.name}_sum${labelSet(labels)} ${formatValue(histogram.sum)}`);
    lines.push(`${family.name}_count${labelSet(labels)} ${histogramCount(histogram)}`);
  }
  return lines;
}

/** The families in the text format, in the order given, ending with a line feed. */
export function renderExposition(families: MetricFamily[]): string {
  return `${families.flatMap(familyLines).join("\n")}\n`;
}
