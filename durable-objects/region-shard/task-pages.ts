import { type ObjectPage, type SizedItem, utf8Length } from "../../src/core/list-pages";
import type { TaskStatus } from "../../src/core/task-lifecycle";
import { parseTask, type TaskRow } from "./task-queue";
import { taskView } from "./views";

/** The large fields a list leaves out unless asked (`?include=payload,result`). */
export const LIST_FIELDS = ["payload", "result"] as const;
export type ListField = (typeof LIST_FIELDS)[number];

/** What one shard's page of tasks is asked for. */
export interface TaskPageQuery {
  status?: TaskStatus;
  type?: string;
  limit: number;
  /** A task id: only tasks minted before it (ids sort by creation time). */
  before?: string;
  include: ListField[];
  /** Bytes the items may hold in all (each item's comma included). */
  maxBytes: number;
  /** Only this tenant's tasks (null: every tenant's, for a global admin). Set by the shard from the caller. */
  tenant: string | null;
}

/**
 * A task as a list shows it: its JSON text, ready to be joined into the reply, so the payload and
 * result go from storage to the reply as the text they are stored as (never parsed, never copied
 * into objects: a payload of 87,000 small objects costs what its bytes cost).
 */
export interface TaskListItem extends SizedItem {
  json: string;
}

/** A row without its payload and result, with their stored sizes in bytes (read from SQLite, not measured in JS). */
type SizedRow = Omit<TaskRow, "payload" | "result"> & { payload_bytes: number; result_bytes: number | null };

/** Every column but the two large ones. */
const META_COLUMNS = `seq, id, type, status, priority, region, node_id, attempts, max_attempts, timeout_ms,
  last_error, created_at, updated_at, run_at, lease_token, lease_expires_at, idempotency_scope,
  idempotency_key, request_hash, affinity_key, routing, leased_at, allow_list, retry_of, retried_as, schedule_id`;

/** The WHERE clause of a page (fixed column names only; every value is a bound parameter). */
function where(query: TaskPageQuery): { clause: string; args: (string | number)[] } {
  const parts: string[] = [];
  const args: (string | number)[] = [];
  if (query.status !== undefined) {
    parts.push("status = ?");
    args.push(query.status);
  }
  if (query.type !== undefined) {
    parts.push("type = ?");
    args.push(query.type);
  }
  if (query.before !== undefined) {
    parts.push("id < ?");
    args.push(query.before);
  }
  if (query.tenant !== null) {
    parts.push("tenant = ?");
    args.push(query.tenant);
  }
  return { clause: parts.length > 0 ? `WHERE ${parts.join(" AND ")}` : "", args };
}

/** `,"payload":` and `,"result":` and the like: what a field adds around its value. */
const fieldBytes = (field: string) => field.length + 4;

/** The item's JSON without the large fields, and what the requested ones would add (the item's comma counted). */
function measure(row: SizedRow, include: readonly ListField[]): { meta: string; full: number; bare: number } {
  const {
    payload: _p,
    result: _r,
    ...view
  } = taskView(parseTask({ ...row, payload: "null", result: null } as TaskRow));
  const meta = JSON.stringify(view);
  const bare = utf8Length(meta) + 1;
  let full = bare;
  if (include.includes("payload")) {
    full += fieldBytes("payload") + row.payload_bytes;
  }
  if (include.includes("result")) {
    full += fieldBytes("result") + (row.result_bytes ?? 4);
  }
  return { meta, full, bare };
}

/** `meta` (a JSON object's text) with more fields spliced before its closing brace. */
function withFields(meta: string, fields: [string, string][]): string {
  if (fields.length === 0) {
    return meta;
  }
  return `${meta.slice(0, -1)},${fields.map(([name, text]) => `${JSON.stringify(name)}:${text}`).join(",")}}`;
}

/**
 * One shard's page of tasks, newest first: as many as `limit` and `maxBytes` allow, the first always
 * (without its payload and result, marked `omitted`, when even alone it would not fit). Sizes come
 * from SQLite's `octet_length` of the stored text, so a row past the budget is never read whole;
 * only the rows kept are read again for their payload and result, in one range query.
 */
export function taskPage(sql: SqlStorage, query: TaskPageQuery): ObjectPage<TaskListItem> {
  const { clause, args } = where(query);
  // Sizes only of the fields asked for: octet_length may have to read a large text's pages.
  const payloadBytes = query.include.includes("payload") ? "octet_length(payload)" : "0";
  const resultBytes = query.include.includes("result") ? "octet_length(result)" : "NULL";
  // Stepped row by row (not toArray): reading stops at the first row past the budget.
  const rows = sql.exec<SizedRow>(
    `SELECT ${META_COLUMNS}, ${payloadBytes} AS payload_bytes, ${resultBytes} AS result_bytes
     FROM tasks ${clause} ORDER BY id DESC LIMIT ?`,
    ...args,
    query.limit + 1,
  );
  const kept: { row: SizedRow; meta: string; bytes: number; stripped: boolean }[] = [];
  let bytes = 0;
  let more = false;
  for (const row of rows) {
    if (kept.length >= query.limit) {
      more = true;
      break;
    }
    const size = measure(row, query.include);
    if (kept.length === 0 && size.full > query.maxBytes) {
      kept.push({ row, meta: size.meta, bytes: size.bare, stripped: true });
    } else if (kept.length === 0 || bytes + size.full <= query.maxBytes) {
      kept.push({ row, meta: size.meta, bytes: size.full, stripped: false });
    } else {
      more = true;
      break;
    }
    bytes += kept[kept.length - 1]!.bytes;
  }
  const large = query.include.length > 0 ? largeFields(sql, query, kept) : new Map();
  const items = kept.map(({ row, meta, bytes, stripped }): TaskListItem => {
    if (query.include.length === 0) {
      return { key: row.id, json: meta, bytes };
    }
    if (stripped) {
      const marked = withFields(meta, [["omitted", JSON.stringify(query.include)]]);
      return { key: row.id, json: marked, bytes: utf8Length(marked) + 1 };
    }
    const stored = large.get(row.id) ?? { payload: "null", result: null };
    const fields: [string, string][] = [];
    if (query.include.includes("payload")) {
      fields.push(["payload", stored.payload]);
    }
    if (query.include.includes("result")) {
      fields.push(["result", stored.result ?? "null"]);
    }
    return { key: row.id, json: withFields(meta, fields), bytes };
  });
  return { items, more };
}

/**
 * The stored payload and result texts of the kept rows that carry them, in one query over the
 * page's id range (the same filter: nothing changed in between, the call is synchronous).
 */
function largeFields(
  sql: SqlStorage,
  query: TaskPageQuery,
  kept: { row: SizedRow; stripped: boolean }[],
): Map<string, { payload: string; result: string | null }> {
  const wanted = kept.filter((k) => !k.stripped);
  const first = wanted[0];
  const last = wanted[wanted.length - 1];
  if (first === undefined || last === undefined) {
    return new Map();
  }
  const { clause, args } = where(query);
  const range = `${clause === "" ? "WHERE" : `${clause} AND`} id <= ? AND id >= ?`;
  const payload = query.include.includes("payload") ? "payload" : "NULL";
  const result = query.include.includes("result") ? "result" : "NULL";
  const texts = new Map<string, { payload: string; result: string | null }>();
  for (const row of sql.exec<{ id: string; payload: string | null; result: string | null }>(
    `SELECT id, ${payload} AS payload, ${result} AS result FROM tasks ${range}`,
    ...args,
    first.row.id,
    last.row.id,
  )) {
    texts.set(row.id, { payload: row.payload ?? "null", result: row.result });
  }
  return texts;
}
