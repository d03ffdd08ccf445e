/**
 * Throughput and latency charts (uPlot) over the last minutes. Series differ by dash pattern as
 * well as by colour (Okabe–Ito palette, readable with colour blindness), and the legend names them.
 */
import uPlot from "uplot";
import { formatClock } from "./format";
import type { Series } from "./traffic-stats";

const HEIGHT = 180;

/** Okabe–Ito colours. */
const BLUE = "#0072B2";
const ORANGE = "#E69F00";
const VERMILLION = "#D55E00";
const GREEN = "#009E73";

function line(label: string, stroke: string, dash?: number[], unit = ""): uPlot.Series {
  return {
    label,
    stroke,
    width: 2,
    dash,
    spanGaps: true,
    points: { show: false },
    value: (_u, v) => (v === null || v === undefined ? "–" : `${Math.round(v)}${unit}`),
  };
}

/** The time axis: wall-clock HH:MM:SS (uPlot's default stacks a date under each tick, unreadable on a phone). */
const TIME_AXIS: uPlot.Axis = { values: (_u, splits) => splits.map((t) => formatClock(t * 1000)) };

export class Charts {
  private readonly throughput: uPlot;
  private readonly latency: uPlot;

  constructor(throughputBox: HTMLElement, latencyBox: HTMLElement) {
    const width = (box: HTMLElement) => Math.max(240, box.clientWidth);
    this.throughput = new uPlot(
      {
        width: width(throughputBox),
        height: HEIGHT,
        series: [
          {},
          line("routed /s", BLUE),
          line("succeeded /s", GREEN, [6, 3]),
          line("failed /s", VERMILLION, [2, 2]),
        ],
        axes: [TIME_AXIS, { label: "tasks / s", size: 50 }],
        scales: { y: { range: (_u, _min, max) => [0, Math.max(1, max)] } },
      },
      [[], [], [], []],
      throughputBox,
    );
    this.latency = new uPlot(
      {
        width: width(latencyBox),
        height: HEIGHT,
        series: [
          {},
          line("dispatch p50", BLUE, undefined, " ms"),
          line("dispatch p95", BLUE, [6, 3], " ms"),
          line("completion p50", ORANGE, undefined, " ms"),
          line("completion p95", ORANGE, [2, 2], " ms"),
        ],
        axes: [TIME_AXIS, { label: "ms", size: 60 }],
        scales: { y: { range: (_u, _min, max) => [0, Math.max(10, max ?? 10)] } },
      },
      [[], [], [], [], []],
      latencyBox,
    );
    // Charts follow their boxes' width (1280 px desktop or a phone).
    const observer = new ResizeObserver(() => {
      this.throughput.setSize({ width: width(throughputBox), height: HEIGHT });
      this.latency.setSize({ width: width(latencyBox), height: HEIGHT });
    });
    observer.observe(throughputBox);
    observer.observe(latencyBox);
  }

  update(series: Series): void {
    this.throughput.setData([series.x, series.routed, series.succeeded, series.failed]);
    this.latency.setData([
      series.x,
      series.dispatchP50,
      series.dispatchP95,
      series.completionP50,
      series.completionP95,
    ]);
  }
}
