/**
 * A strict parser for the Prometheus text exposition format (0.0.4), written from the format's
 * description rather than from Meridian's renderer, so a test can hold `/metrics` to the format:
 * every line is a HELP, a TYPE or a sample; names and label syntax are checked, label values
 * unescaped; a family's HELP and TYPE come once, before its samples, and its samples are contiguous;
 * no series appears twice; a histogram's buckets are cumulative with `+Inf` equal to `_count`, and
 * it has `_sum`. Any violation throws with the line number.
 */

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Family {
  name: string;
  type: "counter" | "gauge" | "histogram" | "summary" | "untyped";
  help: string | null;
  samples: Sample[];
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*/;
const TYPES = new Set(["counter", "gauge", "histogram", "summary", "untyped"]);

class ExpositionError extends Error {}

function fail(line: number, message: string): never {
  throw new ExpositionError(`line ${line}: ${message}`);
}

/** A float as the format writes it: Go's syntax, plus +Inf, -Inf and NaN. */
function parseValue(text: string, line: number): number {
  if (text === "+Inf" || text === "Inf") {
    return Number.POSITIVE_INFINITY;
  }
  if (text === "-Inf") {
    return Number.NEGATIVE_INFINITY;
  }
  if (text === "NaN") {
    return Number.NaN;
  }
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) {
    fail(line, `not a number: ${JSON.stringify(text)}`);
  }
  return Number(text);
}

/** `{a="x",b="y"}` at the start of `rest`: the labels and what follows. */
function parseLabels(rest: string, line: number): { labels: Record<string, string>; rest: string } {
  const labels: Record<string, string> = {};
  let i = 1; // past "{"
  for (;;) {
    if (rest[i] === "}") {
      return { labels, rest: rest.slice(i + 1) };
    }
    const name = LABEL_NAME.exec(rest.slice(i))?.[0];
    if (name === undefined) {
      fail(line, `bad label name at ${JSON.stringify(rest.slice(i))}`);
    }
    if (name in labels) {
      fail(line, `label ${name} twice`);
    }
    i += name.length;
    if (rest.slice(i, i + 2) !== '="') {
      fail(line, `expected =" after label ${name}`);
    }
    i += 2;
    let value = "";
    for (;;) {
      const ch = rest[i];
      if (ch === undefined) {
        fail(line, "unterminated label value");
      }
      if (ch === '"') {
        i++;
        break;
      }
      if (ch === "\\") {
        const next = rest[i + 1];
        if (next === "\\" || next === '"') {
          value += next;
        } else if (next === "n") {
          value += "\n";
        } else {
          fail(line, `bad escape \\${next ?? ""} in a label value`);
        }
        i += 2;
        continue;
      }
      value += ch;
      i++;
    }
    labels[name] = value;
    if (rest[i] === ",") {
      i++;
    } else if (rest[i] !== "}") {
      fail(line, `expected , or } after label ${name}`);
    }
  }
}

/** The family a sample belongs to: a histogram's `_bucket`, `_sum` and `_count` belong to its name. */
function familyOf(sampleName: string, families: Map<string, Family>): Family | undefined {
  const own = families.get(sampleName);
  if (own !== undefined) {
    return own;
  }
  for (const suffix of ["_bucket", "_sum", "_count"]) {
    if (sampleName.endsWith(suffix)) {
      const family = families.get(sampleName.slice(0, -suffix.length));
      if (family?.type === "histogram" || family?.type === "summary") {
        return family;
      }
    }
  }
  return undefined;
}

function seriesKey(name: string, labels: Record<string, string>): string {
  return `${name}${JSON.stringify(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))}`;
}

/** Parses an exposition; throws on the first violation. */
export function parseExposition(text: string): Map<string, Family> {
  if (!text.endsWith("\n")) {
    fail(0, "the exposition must end with a line feed");
  }
  const families = new Map<string, Family>();
  const seen = new Set<string>();
  const finished = new Set<string>(); // families whose samples ended (another family's began)
  let current: Family | null = null;
  const lines = text.slice(0, -1).split("\n");
  lines.forEach((raw, index) => {
    const line = index + 1;
    if (raw.startsWith("#")) {
      const m = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(raw);
      if (!m) {
        fail(line, `only HELP and TYPE comments are expected: ${JSON.stringify(raw)}`);
      }
      const [, kind, name, rest] = m as unknown as [string, string, string, string];
      if (METRIC_NAME.exec(name)?.[0] !== name) {
        fail(line, `bad metric name ${JSON.stringify(name)}`);
      }
      let family = families.get(name);
      if (family !== undefined && family.samples.length > 0) {
        fail(line, `${kind} for ${name} after its samples`);
      }
      if (family === undefined) {
        family = { name, type: "untyped", help: null, samples: [] };
        families.set(name, family);
        if (current !== null) {
          finished.add(current.name);
        }
        current = family;
      }
      if (kind === "HELP") {
        if (family.help !== null) {
          fail(line, `second HELP for ${name}`);
        }
        if (/\\[^\\n]/.test(rest.replace(/\\\\/g, ""))) {
          fail(line, "bad escape in HELP");
        }
        family.help = rest.replace(/\\(\\|n)/g, (_, c: string) => (c === "n" ? "\n" : "\\"));
      } else {
        if (!TYPES.has(rest)) {
          fail(line, `unknown type ${JSON.stringify(rest)}`);
        }
        if ((family as Family & { typed?: boolean }).typed) {
          fail(line, `second TYPE for ${name}`);
        }
        family.type = rest as Family["type"];
        (family as Family & { typed?: boolean }).typed = true;
      }
      return;
    }
    if (raw.trim() === "") {
      fail(line, "empty line");
    }
    const name = METRIC_NAME.exec(raw)?.[0];
    if (name === undefined) {
      fail(line, `bad sample ${JSON.stringify(raw)}`);
    }
    let rest = raw.slice(name.length);
    let labels: Record<string, string> = {};
    if (rest.startsWith("{")) {
      ({ labels, rest } = parseLabels(rest, line));
    }
    const parts = rest.split(" ");
    if (parts[0] !== "" || parts.length < 2 || parts.length > 3) {
      fail(line, `expected one space, a value and an optional timestamp: ${JSON.stringify(rest)}`);
    }
    const value = parseValue(parts[1]!, line);
    if (parts[2] !== undefined && !/^-?\d+$/.test(parts[2])) {
      fail(line, "bad timestamp");
    }
    const family = familyOf(name, families);
    if (family === undefined) {
      fail(line, `sample ${name} has no TYPE before it`);
    }
    if (finished.has(family.name) || (current !== null && current !== family)) {
      fail(line, `samples of ${family.name} are not contiguous`);
    }
    const key = seriesKey(name, labels);
    if (seen.has(key)) {
      fail(line, `duplicate series ${key}`);
    }
    seen.add(key);
    if (family.type === "counter" && !(value >= 0)) {
      fail(line, `counter ${name} is ${value}`);
    }
    family.samples.push({ name, labels, value });
  });
  for (const family of families.values()) {
    if (family.type === "histogram") {
      checkHistogram(family);
    }
  }
  return families;
}

/** Per series: `le` ascending and parseable, counts cumulative, `+Inf` present and equal to `_count`, `_sum` present. */
function checkHistogram(family: Family): void {
  const series = new Map<
    string,
    { buckets: { le: number; count: number }[]; sum?: number; count?: number }
  >();
  const entry = (labels: Record<string, string>) => {
    const { le: _le, ...rest } = labels;
    const key = seriesKey("", rest);
    let s = series.get(key);
    if (!s) {
      s = { buckets: [] };
      series.set(key, s);
    }
    return s;
  };
  for (const sample of family.samples) {
    const s = entry(sample.labels);
    if (sample.name === `${family.name}_bucket`) {
      if (sample.labels.le === undefined) {
        throw new ExpositionError(`${family.name}: a bucket without le`);
      }
      s.buckets.push({ le: parseValue(sample.labels.le, 0), count: sample.value });
    } else if (sample.name === `${family.name}_sum`) {
      s.sum = sample.value;
    } else if (sample.name === `${family.name}_count`) {
      s.count = sample.value;
    } else {
      throw new ExpositionError(`${family.name}: unexpected sample ${sample.name}`);
    }
  }
  for (const [key, s] of series) {
    const last = s.buckets[s.buckets.length - 1];
    if (last === undefined || last.le !== Number.POSITIVE_INFINITY) {
      throw new ExpositionError(`${family.name}${key}: no +Inf bucket`);
    }
    s.buckets.forEach((b, i) => {
      const before = s.buckets[i - 1];
      if (before !== undefined && (b.le <= before.le || b.count < before.count)) {
        throw new ExpositionError(`${family.name}${key}: buckets not ascending and cumulative at le=${b.le}`);
      }
    });
    if (s.count !== last.count) {
      throw new ExpositionError(
        `${family.name}${key}: _count ${s.count} is not the +Inf bucket ${last.count}`,
      );
    }
    if (s.sum === undefined || !(s.sum >= 0)) {
      throw new ExpositionError(`${family.name}${key}: _sum missing or negative`);
    }
  }
}

/** The value of one series (null when absent). `labels` must name every label of the series. */
export function sampleValue(
  families: Map<string, Family>,
  name: string,
  labels: Record<string, string> = {},
): number | null {
  const key = seriesKey(name, labels);
  for (const family of families.values()) {
    for (const sample of family.samples) {
      if (sample.name === name && seriesKey(sample.name, sample.labels) === key) {
        return sample.value;
      }
    }
  }
  return null;
}

/** A histogram series: its cumulative buckets, `_sum` and `_count`. */
export function histogramSeries(
  families: Map<string, Family>,
  name: string,
  labels: Record<string, string>,
): { buckets: { le: number; count: number }[]; sum: number; count: number } | null {
  const family = families.get(name);
  if (family?.type !== "histogram") {
    return null;
  }
  const key = seriesKey("", labels);
  const mine = family.samples.filter((s) => {
    const { le: _le, ...rest } = s.labels;
    return seriesKey("", rest) === key;
  });
  if (mine.length === 0) {
    return null;
  }
  return {
    buckets: mine
      .filter((s) => s.name === `${name}_bucket`)
      .map((s) => ({ le: parseValue(s.labels.le!, 0), count: s.value })),
    sum: mine.find((s) => s.name === `${name}_sum`)!.value,
    count: mine.find((s) => s.name === `${name}_count`)!.value,
  };
}
