import { nextPruneAt, PRUNE_SLICE_ROWS, pruneCutoff } from "../../src/core/retention";
import type { TaskStatus } from "../../src/core/task-lifecycle";
import type { NodeTable } from "./node-table";
import type { TaskQueue } from "./task-queue";

/** What one prune pass deleted. */
export interface PrunePass {
  tasks: number;
  nodes: number;
}

/**
 * The oldest finished tasks due, one slice. INDEXED BY: left alone, SQLite picks tasks_queue
 * (status = ?) and sorts every finished row by age on each pass (the bench showed it); the partial
 * index tasks_finished reads only the slice.
 */
const PRUNE_TASKS = `DELETE FROM tasks WHERE seq IN (
    SELECT seq FROM tasks INDEXED BY tasks_finished WHERE status IN ('succeeded', 'failed', 'canceled') AND updated_at <= ?
    ORDER BY updated_at LIMIT ?)
  RETURNING region, status, tenant`;

const PRUNE_NODES = `DELETE FROM nodes WHERE id IN (
    SELECT id FROM nodes WHERE dead = 1 AND dead_at <= ? ORDER BY dead_at LIMIT ?)
  RETURNING id`;

/**
 * Keeps a shard's storage bounded: finished tasks and dead nodes older than the retention are
 * deleted by the alarm, one slice (one statement each) per pass, the alarm coming back at once
 * while more is due so requests run between slices. The decisions are src/core/retention.ts's.
 */
export class Retention {
  /** When the next pass is due, as last planned (null: not planned since the object started). */
  private plannedAt: number | null = null;

  constructor(
    private readonly sql: SqlStorage,
    private readonly tasks: TaskQueue,
    private readonly nodes: NodeTable,
    readonly retentionMs: number,
    readonly sliceRows: number = PRUNE_SLICE_ROWS,
  ) {}

  /** Whether a pass is due now (the alarm also fires for leases and heartbeats). */
  dueNow(now: number): boolean {
    const at = this.nextAt(now);
    return at !== null && at <= now;
  }

  /** One pass: a slice of finished tasks and one of dead nodes, each its own statement. */
  prune(now: number): PrunePass {
    const cutoff = pruneCutoff(now, this.retentionMs);
    this.tasks.flush();
    const tasks = this.sql
      .exec<{ region: string; status: TaskStatus; tenant: string }>(PRUNE_TASKS, cutoff, this.sliceRows)
      .toArray();
    this.tasks.forgotten(tasks);
    const nodes = this.sql.exec<{ id: string }>(PRUNE_NODES, cutoff, this.sliceRows).toArray();
    this.nodes.forget(nodes.map((n) => n.id));
    const deleted = Math.max(tasks.length, nodes.length);
    this.plannedAt = nextPruneAt(
      { deleted, sliceRows: this.sliceRows, oldestLeft: this.oldest() },
      now,
      this.retentionMs,
    );
    return { tasks: tasks.length, nodes: nodes.length };
  }

  /**
   * When the next pass is due. Planned from the indexes only when nothing is planned and memory says
   * something finished or died (so a call pays no query in the common case); a plan stays right until
   * the pass it names, since later finishes and deaths come of age later.
   */
  nextAt(now: number): number | null {
    if (this.plannedAt === null && this.anythingToWaitFor()) {
      const oldest = this.oldest();
      this.plannedAt =
        oldest === null
          ? null
          : nextPruneAt({ deleted: 0, sliceRows: this.sliceRows, oldestLeft: oldest }, now, this.retentionMs);
    }
    return this.plannedAt;
  }

  /** Whether a finished task or a dead node is stored, from the counts kept in memory. */
  private anythingToWaitFor(): boolean {
    const depth = this.tasks.depth();
    return (
      depth.succeeded + depth.failed + depth.canceled > 0 ||
      [...this.nodes.nodes.values()].some((n) => n.dead)
    );
  }

  /** The earliest finish of a stored finished task or death of a dead node (two index lookups). */
  private oldest(): number | null {
    const task = this.sql
      .exec<{ t: number | null }>(
        "SELECT min(updated_at) AS t FROM tasks INDEXED BY tasks_finished WHERE status IN ('succeeded', 'failed', 'canceled')",
      )
      .one().t;
    const node = this.sql
      .exec<{ t: number | null }>("SELECT min(dead_at) AS t FROM nodes WHERE dead = 1")
      .one().t;
    if (task === null) {
      return node;
    }
    return node === null ? task : Math.min(task, node);
  }
}
