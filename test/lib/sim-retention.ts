/**
 * Retention in the simulation: what a shard's alarm must prune (finished tasks and dead nodes past
 * the run's TASK_RETENTION_MS, oldest first, at most a slice of 500 of each per pass), the model
 * forgetting what the shard pruned, and the soak's bound on the rows a shard stores.
 */
import { PRUNE_RESUME_MS, PRUNE_SLICE_ROWS } from "../../src/core/retention";
import { InvariantError } from "./sim-check";
import type { SimulationRun } from "./sim-driver";
import type { Model, ModelNode, ModelTask } from "./sim-model";
import { REGION_IDS, type Region } from "./sim-sut";

/** A region's rows past their retention, oldest first. */
export interface DuePrune {
  tasks: ModelTask[];
  nodes: ModelNode[];
}

function fail(message: string): never {
  throw new InvariantError(message);
}

/** What a region's shard holds past its retention now, oldest first. */
export function duePrune(m: Model, region: string): DuePrune {
  const tasks = [...m.tasks.values()]
    .filter((t) => t.region === region && t.finishedAt !== null && m.pastRetention(t.finishedAt))
    .sort((a, b) => a.finishedAt! - b.finishedAt! || a.seq - b.seq);
  const nodes = [...m.nodes.values()]
    .filter((n) => n.region === region && n.diedAt !== null && m.pastRetention(n.diedAt))
    .sort((a, b) => a.diedAt! - b.diedAt!);
  return { tasks, nodes };
}

/**
 * After a shard's alarm: it deleted every row that was past its retention, or the oldest slice of
 * them (when rows are equally old, which of them went is the shard's choice: adopted); nothing else
 * (anything else missing is a lost task: sim-check.ts). The model forgets what went.
 */
export function adoptPrune(run: SimulationRun, region: Region, due: DuePrune): void {
  const m = run.model;
  const state = run.sut.shardState.get(region)!;
  const storedTasks = new Set(state.tasks.map((r) => r.id));
  const tasks = pruned(
    region,
    "finished tasks",
    due.tasks,
    (t) => storedTasks.has(t.id),
    (t) => t.finishedAt!,
  );
  const storedNodes = new Set(state.storedNodes.keys());
  const nodes = pruned(
    region,
    "dead nodes",
    due.nodes,
    (n) => storedNodes.has(n.id),
    (n) => n.diedAt!,
  );
  for (const task of tasks) {
    m.forgetTask(task, "pruned");
    run.memory.terminalRows.delete(task.id);
  }
  for (const node of nodes) {
    m.forgetNode(node);
  }
  run.stats.retention.prunedTasks += tasks.length;
  run.stats.retention.prunedNodes += nodes.length;
  if (tasks.length + nodes.length > 0) {
    run.note(`(pruned ${tasks.length} tasks, ${nodes.length} nodes in ${region})`);
  }
  run.lastPrune.set(region, { at: m.now, dueTasks: due.tasks.length, dueNodes: due.nodes.length });
}

/** The rows of `due` the pass deleted: all of them, or a slice of the oldest. */
function pruned<T>(
  region: Region,
  what: string,
  due: T[],
  stored: (row: T) => boolean,
  age: (row: T) => number,
): T[] {
  const gone = due.filter((row) => !stored(row));
  const expected = Math.min(due.length, PRUNE_SLICE_ROWS);
  if (gone.length !== expected) {
    fail(
      `${region}: the alarm pruned ${gone.length} of the ${due.length} ${what} past their retention, not ${expected}`,
    );
  }
  const oldestKept = due.find(stored);
  if (oldestKept !== undefined && gone.some((row) => age(row) > age(oldestKept))) {
    fail(`${region}: the alarm pruned ${what} newer than one it kept (oldest first)`);
  }
  return gone;
}

/**
 * When the soak's runtime next fires a shard's alarm for retention (up to `until`): when a row comes
 * of age after its last pass, or 1 ms after a pass that deleted a full slice (more may be due). The
 * alarm is never set later (sim-check.ts), so the runtime would fire it then. Rows a pass should
 * have deleted and did not are the checks' to find, not the runtime's to retry.
 */
function runtimePruneAt(run: SimulationRun, region: Region): number | null {
  const last = run.lastPrune.get(region);
  const due = run.model.retentionDue(region, last?.at);
  const full = last !== undefined && Math.max(last.dueTasks, last.dueNodes) >= PRUNE_SLICE_ROWS;
  const again = full ? last.at + PRUNE_RESUME_MS : null;
  return due === null ? again : again === null ? due : Math.min(due, again);
}

/** The earliest moment, up to `until`, the soak's runtime fires the alarm of one of `regions` for retention. */
export function nextRuntimePrune(
  run: SimulationRun,
  regions: readonly Region[],
  until: number,
): number | null {
  let next: number | null = null;
  for (const region of regions) {
    const at = runtimePruneAt(run, region);
    if (at !== null && at <= until && (next === null || at < next)) {
      next = at;
    }
  }
  return next;
}

/** The regions whose alarm the soak's runtime fires now. */
export function duePrunesNow(run: SimulationRun, regions: readonly Region[]): Region[] {
  return regions.filter((region) => {
    const at = runtimePruneAt(run, region);
    return at !== null && at <= run.model.now;
  });
}

/**
 * The moments rows come of age that are still ahead (a finished task or a dead node, of `region` or
 * of every region): where a clock jump lands to test the edge of the retention to the millisecond.
 */
export function comingOfAge(m: Model, region: Region | null): { region: Region; at: number }[] {
  const R = m.config.taskRetentionMs;
  const ahead: { region: Region; at: number }[] = [];
  for (const t of m.tasks.values()) {
    if (t.finishedAt !== null && t.finishedAt + R > m.now && (region === null || t.region === region)) {
      ahead.push({ region: t.region as Region, at: t.finishedAt + R });
    }
  }
  for (const n of m.nodes.values()) {
    if (n.diedAt !== null && n.diedAt + R > m.now && (region === null || n.region === region)) {
      ahead.push({ region: n.region as Region, at: n.diedAt + R });
    }
  }
  return ahead;
}

/**
 * The soak's bound, after every step, for each shard at the instant of its last snapshot `at`:
 *
 *   task rows ≤ unfinished tasks + tasks that finished in (at − R, at] + max(0, D − 500)
 *   node rows ≤ live nodes + nodes that died in (at − R, at] + max(0, D' − 500)
 *
 * where D (D') is how many finished tasks (dead nodes) were past the retention R at the shard's
 * last alarm pass, counted only when that pass ran at `at` itself: a pass deletes every row past
 * the retention, 500 at most, and comes back 1 ms later for the rest. It holds because the runtime
 * fires the alarm when a row comes of age (the soak does, sim-leases.ts `advance`), and the alarm is
 * never set later than that (sim-check.ts). Erased tasks only lower the count.
 */
export function checkStoredBound(run: SimulationRun): void {
  const m = run.model;
  const R = m.config.taskRetentionMs;
  const stats = run.stats.retention;
  for (const region of REGION_IDS) {
    const state = run.sut.shardState.get(region)!;
    const since = state.at - R;
    const last = run.lastPrune.get(region);
    const backlog = last !== undefined && last.at === state.at;
    let unfinished = 0;
    let recent = 0;
    for (const t of m.tasks.values()) {
      if (t.region === region) {
        if (t.finishedAt === null) {
          unfinished++;
        } else if (t.finishedAt > since) {
          recent++;
        }
      }
    }
    const taskBound = unfinished + recent + (backlog ? Math.max(0, last.dueTasks - PRUNE_SLICE_ROWS) : 0);
    let live = 0;
    let died = 0;
    for (const n of m.nodes.values()) {
      if (n.region === region) {
        if (n.diedAt === null) {
          live++;
        } else if (n.diedAt > since) {
          died++;
        }
      }
    }
    const nodeBound = live + died + (backlog ? Math.max(0, last.dueNodes - PRUNE_SLICE_ROWS) : 0);
    const taskRows = state.tasks.length;
    const nodeRows = state.storedNodes.size;
    if (taskRows > taskBound) {
      fail(
        `${region} stores ${taskRows} tasks, over the bound ${taskBound} (${unfinished} unfinished + ${recent} finished within the retention)`,
      );
    }
    if (nodeRows > nodeBound) {
      fail(
        `${region} stores ${nodeRows} nodes, over the bound ${nodeBound} (${live} live + ${died} dead within the retention)`,
      );
    }
    if (taskRows > stats.maxTaskRows) {
      stats.maxTaskRows = taskRows;
      stats.maxTaskBound = taskBound;
      stats.maxTaskUnfinished = unfinished;
      stats.maxTaskRecent = recent;
    }
    if (nodeRows > stats.maxNodeRows) {
      stats.maxNodeRows = nodeRows;
      stats.maxNodeBound = nodeBound;
    }
  }
}
