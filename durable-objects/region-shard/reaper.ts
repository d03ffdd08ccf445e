import { logRowError } from "../call-gate";
import type { NodeRecord, NodeTable } from "./node-table";
import type { Scheduler } from "./scheduler";
import type { TaskQueue } from "./task-queue";

/**
 * The shard's time-driven work: node deaths, lease expiry, due retries and delayed tasks. Every step
 * is idempotent and a failing row is logged and skipped; `nextDue` is when to run again.
 */
export class Reaper {
  constructor(
    private readonly nodes: NodeTable,
    private readonly tasks: TaskQueue,
    private readonly scheduler: Scheduler,
    /** How long a node whose channel closed may reconnect before it is dead. */
    private readonly channelGraceMs: number,
    /** Ends a node: its work back to the queue, the coordinator told. */
    private readonly nodeDied: (node: NodeRecord, reason: string, now: number) => void,
  ) {}

  run(now: number): void {
    for (const node of this.nodes.overdue(now)) {
      try {
        this.nodeDied(node, "node missed its heartbeat deadline", now);
      } catch (error) {
        logRowError(node.id, error);
      }
    }
    for (const node of this.nodes.channelsLapsed(now, this.channelGraceMs)) {
      try {
        this.nodeDied(node, "node channel closed and did not come back within its grace period", now);
      } catch (error) {
        logRowError(node.id, error);
      }
    }
    this.scheduler.expireLeases(now, logRowError);
    this.scheduler.promoteDue(now, logRowError);
  }

  /** The earliest time something is due: a lease's end, a delayed task, a node's change of status. */
  nextDue(now: number): number | null {
    const next = [this.tasks.nextDeadline(), this.nodes.nextStatusChange(now, this.channelGraceMs)].filter(
      (t): t is number => t !== null,
    );
    return next.length === 0 ? null : Math.max(Math.min(...next), now + 1);
  }
}
