// What the live view shows, read from Meridian itself once a second: region health and queue
// depths (GET /v1/status), node names (GET /v1/nodes), and the fate of every task this demo
// submitted (GET /v1/tasks, newest first, only as far back as the oldest unfinished one).
import type { HttpClient } from "../../src/sdk/http.ts";
import type { MeridianClient, NodeView, RegionView, TaskListItemView } from "../../src/sdk/index.ts";
import type { Submitted } from "./traffic.ts";

interface StatusAnswer {
  regions: RegionView[];
  nodes: Record<string, number>;
  tasks: Record<string, number>;
  elections: { name: string; term: number; leader: { candidate: string; term: number } | null }[];
}

/** One row of the view. */
export interface RegionRow {
  region: RegionView;
  done: number;
  failed: number;
  retried: number;
  leader: { name: string; term: number } | null;
}

export interface Snapshot {
  at: number;
  rows: RegionRow[];
  totals: {
    queued: number;
    running: number;
    done: number;
    failed: number;
    retried: number;
    submitted: number;
  };
  nodes: Record<string, number>;
  /** The latest finished tasks, newest first. */
  recent: Tracked[];
}

export interface Tracked extends Submitted {
  status: string;
  attempts: number;
  ranIn: string | null;
}

interface Counts {
  done: number;
  failed: number;
  retried: number;
}

const TERMINAL = new Set(["succeeded", "failed", "canceled"]);

export class DemoTracker {
  private readonly http: HttpClient;
  private readonly tasks: MeridianClient;
  /** Tasks not finished yet; a finished one moves into `finished` (counts) and `recent`. */
  private readonly unfinished = new Map<string, Tracked>();
  private readonly finished = new Map<string, Counts>();
  private readonly recent: Tracked[] = [];
  private readonly names = new Map<string, string>();
  private submitted = 0;

  /** `http` needs a reader token (status, nodes); `tasks` reads tasks. */
  constructor(http: HttpClient, tasks: MeridianClient) {
    this.http = http;
    this.tasks = tasks;
  }

  track(submitted: Submitted[]): void {
    for (const s of submitted) {
      this.unfinished.set(s.id, { ...s, status: "queued", attempts: 0, ranIn: null });
      this.submitted++;
    }
  }

  async snapshot(regionOrder: string[]): Promise<Snapshot> {
    const [status, nodes] = await Promise.all([
      this.http.get<StatusAnswer>("/v1/status", { timeoutMs: 5000 }),
      this.http.get<{ nodes: NodeView[] }>("/v1/nodes", { timeoutMs: 5000 }),
      this.refreshTasks(),
    ]);
    for (const node of nodes.nodes) {
      this.names.set(node.id, node.labels.name ?? node.id);
    }
    const counts = new Map<string, Counts>();
    for (const [region, c] of this.finished) {
      counts.set(region, { ...c });
    }
    for (const t of this.unfinished.values()) {
      if (retried(t)) {
        const c = counts.get(t.region) ?? { done: 0, failed: 0, retried: 0 };
        c.retried++;
        counts.set(t.region, c);
      }
    }
    const rank = (id: string) => {
      const i = regionOrder.indexOf(id);
      return i < 0 ? regionOrder.length : i;
    };
    // Only the demo's regions: the state directory may hold others from `npm run dev` sessions.
    const rows = status.regions
      .filter((r) => regionOrder.includes(r.id))
      .sort((a, b) => rank(a.id) - rank(b.id))
      .map((region): RegionRow => {
        const election = status.elections.find((e) => e.name === `leader:${region.id}`);
        const leader = election?.leader;
        return {
          region,
          ...(counts.get(region.id) ?? { done: 0, failed: 0, retried: 0 }),
          leader: leader
            ? { name: this.names.get(leader.candidate) ?? leader.candidate, term: leader.term }
            : null,
        };
      });
    const sum = (f: (r: RegionRow) => number) => rows.reduce((n, r) => n + f(r), 0);
    return {
      at: Date.now(),
      rows,
      totals: {
        queued: sum((r) => r.region.queued),
        running: sum((r) => r.region.inFlight),
        done: sum((r) => r.done),
        failed: sum((r) => r.failed),
        retried: sum((r) => r.retried),
        submitted: this.submitted,
      },
      nodes: status.nodes,
      recent: this.recent.slice(0, 3),
    };
  }

  /** Pages through tasks, newest first, until every unfinished tracked task has been seen again. */
  private async refreshTasks(): Promise<void> {
    if (this.unfinished.size === 0) {
      return;
    }
    let want = new Set(this.unfinished.keys());
    let cursor: string | undefined;
    for (let page = 0; page < 20 && want.size > 0; page++) {
      // The result names the node that ran the task (lists leave results out unless asked).
      const answer = await this.tasks.list({
        limit: 500,
        include: ["result"],
        ...(cursor ? { cursor } : {}),
      });
      for (const task of answer.tasks) {
        this.update(task);
        want.delete(task.id);
      }
      if (!answer.cursor) {
        // Seen everything there is: what is still wanted no longer exists.
        want = new Set();
        break;
      }
      cursor = answer.cursor;
    }
  }

  private update(task: TaskListItemView): void {
    const t = this.unfinished.get(task.id);
    if (!t) {
      return;
    }
    t.status = task.status;
    t.attempts = task.attempts;
    t.region = task.region;
    if (TERMINAL.has(task.status)) {
      const result = task.result as { node?: string } | null;
      t.ranIn = result?.node ? (this.names.get(result.node) ?? result.node) : null;
      this.unfinished.delete(task.id);
      const c = this.finished.get(t.region) ?? { done: 0, failed: 0, retried: 0 };
      c.done += t.status === "succeeded" ? 1 : 0;
      c.failed += t.status === "failed" ? 1 : 0;
      c.retried += retried(t) ? 1 : 0;
      this.finished.set(t.region, c);
      this.recent.unshift(t);
      this.recent.length = Math.min(this.recent.length, 10);
    }
  }
}

/** A task that needed (or waits for) another attempt. */
function retried(t: Tracked): boolean {
  return t.attempts > 1 || (t.status === "scheduled" && t.attempts >= 1);
}
