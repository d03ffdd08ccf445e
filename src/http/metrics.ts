import type { HttpMetricsSnapshot } from "../core/http-metrics";
import { type MetricFamily, renderExposition } from "../core/prometheus-text";
import { TASK_OUTCOMES, type TaskMetrics } from "../core/task-metrics";

/** What `/metrics` gathers: the status snapshot (gauges), each region's task counters, the coordinator's and the edges' counters. */
export interface MetricsSnapshot {
  regions: { id: string; healthy: boolean; capacity: number; inFlight: number; queued: number }[];
  nodes: Record<string, number>;
  tasks: Record<string, number>;
  elections: { name: string; term: number; leader: { candidate: string } | null }[];
  coordinatorCalls: Record<string, number>;
  /** Each region's shard counters, in the order of `regions`. */
  taskMetrics: { region: string; metrics: TaskMetrics }[];
  /** Each region's stored rows per table (what retention keeps bounded), in the order of `regions`. */
  storedRows: { region: string; rows: Record<string, number> }[];
  /** Each region's push endpoints (breaker, in flight) and its delivery counts. */
  push: {
    region: string;
    endpoints: { name: string; state: string; inFlight: number }[];
    deliveries: { succeeded: number; rejected: number; failed: number; late: number };
  }[];
  leaderChanges: number;
  /** The edges' request counts and durations, as summed by the EdgeMetrics object. */
  http: HttpMetricsSnapshot;
}

/** The gauges of the status snapshot (what `/metrics` served before counters). */
function gauges(s: MetricsSnapshot): MetricFamily[] {
  const regionGauge = (
    name: string,
    help: string,
    value: (r: MetricsSnapshot["regions"][number]) => number,
  ) =>
    ({
      name,
      help,
      type: "gauge",
      samples: s.regions.map((r) => ({ labels: { region: r.id }, value: value(r) })),
    }) as const;
  return [
    {
      name: "meridian_tasks",
      help: "Tasks by status.",
      type: "gauge",
      samples: Object.entries(s.tasks).map(([status, value]) => ({ labels: { status }, value })),
    },
    {
      name: "meridian_nodes",
      help: "Nodes by status.",
      type: "gauge",
      samples: Object.entries(s.nodes).map(([status, value]) => ({ labels: { status }, value })),
    },
    regionGauge(
      "meridian_region_capacity",
      "Capacity of the region's healthy nodes and of its push endpoints whose breaker is not open.",
      (r) => r.capacity,
    ),
    regionGauge("meridian_region_in_flight", "Tasks leased in the region.", (r) => r.inFlight),
    regionGauge("meridian_region_queued", "Runnable tasks waiting in the region.", (r) => r.queued),
    regionGauge(
      "meridian_region_healthy",
      "1 when the region has a healthy node that is not draining, or a push endpoint whose breaker is not open.",
      (r) => (r.healthy ? 1 : 0),
    ),
    {
      name: "meridian_stored_rows",
      help: "Rows a region's shard stores, per table (finished tasks and dead nodes leave after TASK_RETENTION_MS).",
      type: "gauge",
      samples: s.storedRows.flatMap(({ region, rows }) =>
        Object.entries(rows).map(([table, value]) => ({ labels: { region, table }, value })),
      ),
    },
    {
      name: "meridian_endpoint_breaker_open",
      help: "1 while a push endpoint's circuit breaker is open or half open (taking one probe), 0 while closed.",
      type: "gauge",
      samples: s.push.flatMap(({ region, endpoints }) =>
        endpoints.map((e) => ({ labels: { region, endpoint: e.name }, value: e.state === "closed" ? 0 : 1 })),
      ),
    },
    {
      name: "meridian_endpoint_in_flight",
      help: "Deliveries a push endpoint has in flight.",
      type: "gauge",
      samples: s.push.flatMap(({ region, endpoints }) =>
        endpoints.map((e) => ({ labels: { region, endpoint: e.name }, value: e.inFlight })),
      ),
    },
    {
      name: "meridian_push_deliveries_total",
      help: "Push deliveries by outcome: succeeded, rejected (409/410/422), failed (retried), late (answered after the lease ended; ignored). Counted in the shard's memory.",
      type: "counter",
      samples: s.push.flatMap(({ region, deliveries }) =>
        Object.entries(deliveries).map(([outcome, value]) => ({ labels: { region, outcome }, value })),
      ),
    },
    {
      name: "meridian_election_term",
      help: "Current fencing term of each election.",
      type: "gauge",
      samples: s.elections.map((e) => ({
        labels: { election: e.name, leader: e.leader?.candidate ?? "" },
        value: e.term,
      })),
    },
  ];
}

/** The region shards' task counters and histograms, labelled by region. */
function taskFamilies(s: MetricsSnapshot): MetricFamily[] {
  const counter = (name: string, help: string, value: (m: TaskMetrics) => number): MetricFamily => ({
    name,
    help,
    type: "counter",
    samples: s.taskMetrics.map(({ region, metrics }) => ({ labels: { region }, value: value(metrics) })),
  });
  return [
    counter("meridian_tasks_submitted_total", "Tasks stored by the region's shard.", (m) => m.submitted),
    {
      name: "meridian_tasks_completed_total",
      help: "Tasks that reached a terminal status, by outcome (succeeded, failed, canceled).",
      type: "counter",
      samples: s.taskMetrics.flatMap(({ region, metrics }) =>
        TASK_OUTCOMES.map((outcome) => ({ labels: { region, outcome }, value: metrics.completed[outcome] })),
      ),
    },
    counter(
      "meridian_tasks_retries_total",
      "Failed attempts scheduled to run again (a failure report, an expired lease, a dead node).",
      (m) => m.retries,
    ),
    counter(
      "meridian_tasks_lease_expired_total",
      "Leases that ran out before their holder reported.",
      (m) => m.leaseExpired,
    ),
    {
      name: "meridian_dispatch_seconds",
      help: "Seconds from a task becoming runnable (stored, or its delay or back-off due) to its lease.",
      type: "histogram",
      series: s.taskMetrics.map(({ region, metrics }) => ({
        labels: { region },
        histogram: metrics.dispatch,
      })),
    },
    {
      name: "meridian_task_run_seconds",
      help: "Seconds from a lease to the end of that attempt (outcome, expiry, node death or cancel).",
      type: "histogram",
      series: s.taskMetrics.map(({ region, metrics }) => ({ labels: { region }, histogram: metrics.run })),
    },
  ];
}

/** The coordinator's and the edges' counters. */
function controlFamilies(s: MetricsSnapshot): MetricFamily[] {
  return [
    {
      name: "meridian_leader_changes_total",
      help: "Leaderships begun (new terms) across all elections.",
      type: "counter",
      samples: [{ labels: {}, value: s.leaderChanges }],
    },
    {
      name: "meridian_coordinator_calls_total",
      help: "Calls the coordinator served since it started, by method (none are on the task hot path).",
      type: "counter",
      samples: Object.entries(s.coordinatorCalls).map(([method, value]) => ({ labels: { method }, value })),
    },
    {
      name: "meridian_http_requests_total",
      help: "HTTP requests answered by the edge, by matched route pattern and status (up to ~5 s late).",
      type: "counter",
      samples: s.http.requests.map((r) => ({
        labels: { route: r.route, status: String(r.status) },
        value: r.count,
      })),
    },
    {
      name: "meridian_http_request_duration_seconds",
      help: "Seconds the edge took to answer, by matched route pattern (up to ~5 s late).",
      type: "histogram",
      series: s.http.durations.map((d) => ({ labels: { route: d.route }, histogram: d.histogram })),
    },
  ];
}

/** Everything `/metrics` serves, in Prometheus text exposition format. */
export function prometheusText(snapshot: MetricsSnapshot): string {
  return renderExposition([...gauges(snapshot), ...taskFamilies(snapshot), ...controlFamilies(snapshot)]);
}
