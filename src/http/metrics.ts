interface StatusSnapshot {
  regions: { id: string; healthy: boolean; capacity: number; inFlight: number; queued: number }[];
  nodes: Record<string, number>;
  tasks: Record<string, number>;
  elections: { name: string; term: number; leader: { candidate: string } | null }[];
  coordinatorCalls: Record<string, number>;
}

function label(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

/** The status snapshot in Prometheus text exposition format. */
export function prometheusText(status: StatusSnapshot): string {
  const lines: string[] = [];
  const metric = (name: string, help: string, type: "gauge" | "counter", samples: [string, number][]) => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, value] of samples) {
      lines.push(`${name}${labels} ${value}`);
    }
  };
  metric(
    "meridian_tasks",
    "Tasks by status.",
    "gauge",
    Object.entries(status.tasks).map(([s, n]) => [`{status="${label(s)}"}`, n]),
  );
  metric(
    "meridian_nodes",
    "Nodes by status.",
    "gauge",
    Object.entries(status.nodes).map(([s, n]) => [`{status="${label(s)}"}`, n]),
  );
  for (const [field, help] of [
    ["capacity", "Capacity of the region's healthy nodes."],
    ["inFlight", "Tasks leased in the region."],
    ["queued", "Runnable tasks waiting in the region."],
  ] as const) {
    metric(
      `meridian_region_${field === "inFlight" ? "in_flight" : field}`,
      help,
      "gauge",
      status.regions.map((r) => [`{region="${label(r.id)}"}`, r[field]]),
    );
  }
  metric(
    "meridian_region_healthy",
    "1 when the region has a healthy node that is not draining.",
    "gauge",
    status.regions.map((r) => [`{region="${label(r.id)}"}`, r.healthy ? 1 : 0]),
  );
  metric(
    "meridian_election_term",
    "Current fencing term of each election.",
    "gauge",
    status.elections.map((e) => [
      `{election="${label(e.name)}",leader="${label(e.leader?.candidate ?? "")}"}`,
      e.term,
    ]),
  );
  metric(
    "meridian_coordinator_calls_total",
    "Calls the coordinator served since it started, by method (none are on the task hot path).",
    "counter",
    Object.entries(status.coordinatorCalls).map(([m, n]) => [`{method="${label(m)}"}`, n]),
  );
  return `${lines.join("\n")}\n`;
}
