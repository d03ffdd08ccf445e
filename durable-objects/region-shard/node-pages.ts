import { type ObjectPage, type SizedItem, takeWithinBudget, utf8Length } from "../../src/core/list-pages";
import type { NodeRecord, NodeStatus, NodeTable } from "./node-table";
import { type NodeTransport, type NodeView, nodeView } from "./views";

/** What one shard's page of nodes is asked for. */
export interface NodePageQuery {
  /** One status; absent: every node that is not dead (dead ones are history, listed only when asked). */
  status?: NodeStatus;
  limit: number;
  /** A node id: only nodes after it (nodes are listed by id). */
  after?: string;
  /** Bytes the items may hold in all (each item's comma included). */
  maxBytes: number;
  /** Only this tenant's nodes (null: every tenant's, for a global admin). Set by the shard from the caller. */
  tenant: string | null;
}

export interface NodeListItem extends SizedItem {
  node: NodeView;
}

/**
 * One shard's page of nodes by id, within `limit` and `maxBytes` (labels count: up to 32 of them,
 * 10 KB a node). The node table is in memory, so this costs a filter and a sort of its ids.
 */
export function nodePage(
  table: NodeTable,
  query: NodePageQuery,
  now: number,
  transportOf: (node: NodeRecord) => NodeTransport,
): ObjectPage<NodeListItem> {
  const matching: { node: NodeRecord; status: NodeStatus }[] = [];
  for (const node of table.nodes.values()) {
    if (
      (query.after !== undefined && !(node.id > query.after)) ||
      (query.tenant !== null && node.tenant !== query.tenant)
    ) {
      continue;
    }
    const status = table.statusOf(node, now);
    if (query.status === undefined ? status !== "dead" : status === query.status) {
      matching.push({ node, status });
    }
  }
  matching.sort((a, b) => (a.node.id < b.node.id ? -1 : a.node.id > b.node.id ? 1 : 0));
  // Measured lazily: a page reads no more than it keeps (and one more).
  const sized: NodeListItem[] = [];
  let bytes = 0;
  for (const { node, status } of matching) {
    const view = nodeView(node, status, transportOf(node));
    const item = { key: node.id, node: view, bytes: utf8Length(JSON.stringify(view)) + 1 };
    sized.push(item);
    bytes += item.bytes;
    if (sized.length > query.limit || bytes > query.maxBytes) {
      break;
    }
  }
  const page = takeWithinBudget(sized, query.limit, query.maxBytes);
  return { items: page.items, more: page.more || sized.length < matching.length };
}
