// The live view: one compact screen, redrawn about once a second.
import type { ChaosState, LinkCounts } from "./fleet.ts";
import type { PushState } from "./push-executor.ts";
import type { Snapshot } from "./tracker.ts";
import { CITIES, type DemoRegion } from "./world.ts";

export interface ViewMeta {
  url: string;
  startedAt: number;
  adminToken: string;
  clientToken: string;
  readerToken: string;
  regions: DemoRegion[];
  chaos: ChaosState;
  /** Per region, how many of the fleet's nodes are on their channel or on HTTP now. */
  links: Map<string, LinkCounts>;
  /** Regions served by a push endpoint: its breaker and load (null until first read). */
  push: Map<string, PushState | null>;
  events: { at: number; text: string }[];
  logDir: string;
  /** Tasks submitted per second over the last few seconds. */
  rate: number;
  color: boolean;
  /** The demo's schedule as GET /v1/schedules/{id} shows it (null until it answers). */
  schedule?: ScheduleLine | null;
}

/** What the view shows of a schedule. */
export interface ScheduleLine {
  id: string;
  everyMs: number | null;
  cron: string | null;
  region: string;
  runs: number;
  skipped: number;
  lastRunAt: number | null;
  lastTaskId: string | null;
  nextRunAt: number | null;
  lastError: string | null;
}

const pad = (s: string | number, n: number) => String(s).padEnd(n);
const lpad = (s: string | number, n: number) => String(s).padStart(n);

function clock(ms: number): string {
  const s = Math.floor(ms / 1000);
  const m = Math.floor(s / 60);
  return m > 0 ? `${m}m${String(s % 60).padStart(2, "0")}s` : `${s}s`;
}

function time(at: number): string {
  return new Date(at).toTimeString().slice(0, 8);
}

/** How a region's nodes are connected: "3 ch", "2 ch 1 http", "-" when none is. */
function linkOf(counts: LinkCounts | undefined): string {
  const parts = [
    ...(counts?.channel ? [`${counts.channel} ch`] : []),
    ...(counts?.http ? [`${counts.http} http`] : []),
  ];
  return parts.length > 0 ? parts.join(" ") : "-";
}

function total(links: Map<string, LinkCounts>): LinkCounts {
  let channel = 0;
  let http = 0;
  for (const c of links.values()) {
    channel += c.channel;
    http += c.http;
  }
  return { channel, http };
}

/** The screen for one snapshot. */
export function render(snapshot: Snapshot, meta: ViewMeta): string {
  const c = (code: string, s: string) => (meta.color ? `\x1b[${code}m${s}\x1b[0m` : s);
  const dim = (s: string) => c("2", s);
  const lines: string[] = [];
  const up = clock(snapshot.at - meta.startedAt);
  lines.push(
    `${c("1", "Meridian")} live demo · ${meta.url} · up ${up} · ${meta.rate.toFixed(1)} tasks/s submitted from ${CITIES.length} cities`,
  );
  lines.push("");
  lines.push(
    dim(
      `${pad("region", 17)}${pad("where", 13)}${lpad("nodes", 6)}${pad(" link", 10)}${lpad("queued", 8)}${lpad("running", 8)}${lpad("done", 7)}${lpad("failed", 7)}${lpad("retried", 8)}  leader (term)`,
    ),
  );
  for (const row of snapshot.rows) {
    const r = row.region;
    const label = meta.regions.find((x) => x.id === r.id)?.label ?? r.label ?? "";
    const nodes = `${r.nodes.healthy}/${r.nodes.total}`;
    const push = meta.push.get(r.id);
    const link =
      push === undefined
        ? linkOf(meta.links.get(r.id))
        : push === null
          ? "push"
          : push.state === "closed"
            ? `push ${push.inFlight}/${push.capacity}`
            : `push ${push.state}`;
    const health = r.healthy ? c("32", "●") : c("31", "○");
    let leader = row.leader ? `${row.leader.name} ${dim(`(${row.leader.term})`)}` : dim("none");
    if (r.id === meta.chaos.region) {
      const left = clock(Math.max(0, meta.chaos.nextAt - snapshot.at));
      leader +=
        meta.chaos.phase === "down"
          ? c("31", `  fleet killed, back in ${left}`)
          : dim(`  fleet to be killed in ${left}`);
    }
    lines.push(
      `${health} ${pad(r.id, 15)}${pad(label, 13)}${lpad(nodes, 6)} ${pad(link, 9)}${lpad(r.queued, 8)}${lpad(r.inFlight, 8)}${lpad(row.done, 7)}${lpad(row.failed, 7)}${lpad(row.retried, 8)}  ${leader}`,
    );
  }
  const t = snapshot.totals;
  lines.push(
    dim(
      `  ${pad("all", 28)}${lpad(`${snapshot.nodes.healthy ?? 0}`, 6)} ${pad(linkOf(total(meta.links)), 9)}${lpad(t.queued, 8)}${lpad(t.running, 8)}${lpad(t.done, 7)}${lpad(t.failed, 7)}${lpad(t.retried, 8)}  of ${t.submitted} submitted`,
    ),
  );
  lines.push("");
  for (const task of snapshot.recent) {
    const km = task.distanceKm === null ? "" : ` ${Math.round(task.distanceKm).toLocaleString("en")} km`;
    const outcome = task.status === "succeeded" ? c("32", "✓") : c("31", "✗");
    const retry = task.attempts > 1 ? ` after ${task.attempts} attempts` : "";
    lines.push(
      `${dim("recent")} ${outcome} ${pad(task.type, 17)} from ${task.city} → ${task.region}${km}${task.ranIn ? ` on ${task.ranIn}` : ""}${retry}`,
    );
  }
  const s = meta.schedule;
  if (s) {
    const every = s.everyMs !== null ? `every ${s.everyMs / 1000} s` : `cron ${s.cron}`;
    const last = s.lastRunAt === null ? "no run yet" : `last ${time(s.lastRunAt)} → ${s.lastTaskId}`;
    const next = s.nextRunAt === null ? "" : ` · next in ${clock(Math.max(0, s.nextRunAt - snapshot.at))}`;
    const skipped = s.skipped > 0 ? ` (${s.skipped} skipped)` : "";
    const error = s.lastError ? c("31", `  ${s.lastError}`) : "";
    lines.push(
      `${dim("sched ")} ${s.id} ${every} from ${s.region}: ${s.runs} runs${skipped} · ${last}${next}${error}`,
    );
  }
  for (const event of meta.events.slice(-3)) {
    lines.push(`${dim("event ")} ${time(event.at)} ${event.text}`);
  }
  lines.push("");
  lines.push(
    `${c("1", "dashboard")} ${meta.url}/dashboard   paste the reader token: ${c("1", meta.readerToken)}`,
  );
  lines.push(`${dim("API   ")} ${meta.url}/v1   docs ${meta.url}/docs   status ${meta.url}/v1/status`);
  lines.push(`${dim("tokens")} admin ${meta.adminToken}`);
  lines.push(`       client ${meta.clientToken}   reader ${meta.readerToken}`);
  lines.push(`${dim("try   ")} curl -s -H "authorization: Bearer ${meta.readerToken}" ${meta.url}/v1/status`);
  lines.push(`${dim("logs  ")} ${meta.logDir}   ${c("1", "Ctrl-C")} stops everything`);
  return lines.join("\n");
}
