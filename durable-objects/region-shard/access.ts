import { ApiError } from "../../src/core/errors";
import { type Principal, sees } from "../../src/core/permissions";
import { checkLease } from "../../src/core/task-lifecycle";
import type { NodeRecord, NodeTable } from "./node-table";
import type { TaskQueue, TaskRecord } from "./task-queue";

/**
 * Who may act on a shard's nodes and leases. A node is bound to the token that registered it: only
 * that token (or an admin) may act as it. A task or node of another tenant is not there at all for
 * the caller (404, never 403: existence does not leak). Pure checks over the tables: they read, never write.
 */
export class Access {
  constructor(
    private readonly nodes: NodeTable,
    private readonly tasks: TaskQueue,
  ) {}

  /** Whether the principal may act for a node: an admin of its tenant (or global), or the token that registered it. */
  owns(principal: Principal, node: NodeRecord): boolean {
    return sees(principal, node.tenant) && (principal.role === "admin" || node.tokenId === principal.tokenId);
  }

  /** A node the principal may act for, dead or alive: 404 unknown or of another tenant, 403 bound to another token. */
  ownedNode(principal: Principal, nodeId: string): NodeRecord {
    const node = this.nodes.nodes.get(nodeId);
    if (!node || !sees(principal, node.tenant)) {
      throw ApiError.of("not_found", `no node ${nodeId}`);
    }
    if (!this.owns(principal, node)) {
      throw ApiError.of("forbidden", `node ${nodeId} belongs to another token`);
    }
    return node;
  }

  /** A task by id the principal's tenant holds, or 404. */
  task(principal: Principal, id: string): TaskRecord {
    const task = this.tasks.get(id);
    if (!task || !sees(principal, task.tenant)) {
      throw ApiError.of("not_found", `no task ${id}`);
    }
    return task;
  }

  /** 403 when a valid lease is presented by a token that does not own the holding node. */
  leaseOwner(principal: Principal, taskId: string, leaseToken: string, now: number): TaskRecord {
    const task = this.task(principal, taskId);
    if (checkLease(task, leaseToken, now) === null && !this.holdsLeaseOf(principal, task.nodeId)) {
      throw ApiError.of("forbidden", `task ${taskId} is held by a node of another token`);
    }
    return task;
  }

  private holdsLeaseOf(principal: Principal, nodeId: string | null): boolean {
    const node = nodeId === null ? undefined : this.nodes.nodes.get(nodeId);
    return principal.role === "admin" || (node !== undefined && this.owns(principal, node));
  }
}
