/**
 * What the retention bench runs, bundled by esbuild (the shard's modules import without `.ts` and
 * use parameter properties, which `node` alone cannot load): the shard's real TaskQueue, NodeTable,
 * Retention and migrations, over a SQLite database given as a Durable Object `SqlStorage`.
 */
import { NodeTable } from "../durable-objects/region-shard/node-table";
import { Retention } from "../durable-objects/region-shard/retention";
import { migrateShard } from "../durable-objects/region-shard/schema";
import { TaskQueue } from "../durable-objects/region-shard/task-queue";

/** A stored shard as the bench drives it: seeded rows, then prune passes until nothing is due. */
export interface RetentionStage {
  /** Stores `finished` tasks that finished at `at` and `live` queued ones (older, so first by age). */
  seed(finished: number, live: number, at: number): void;
  /** One alarm pass; what it deleted. */
  prune(now: number): { tasks: number; nodes: number };
  rows(): number;
}

export function retentionStage(
  storage: Pick<DurableObjectStorage, "sql" | "transactionSync">,
  retentionMs: number,
): RetentionStage {
  migrateShard(storage);
  const sql = storage.sql;
  let retention: Retention | null = null;
  const insert = (n: number, status: string, at: number, prefix: string) =>
    sql.exec(
      `INSERT INTO tasks (id, type, payload, status, priority, region, max_attempts, timeout_ms, result,
         created_at, updated_at, run_at, routing)
       WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < ?)
       SELECT printf('t-${prefix}%07d-bench', i), 'bench', '{"size":1024}', ?, 0, 'bench', 3, 30000,
         '{"ok":true}', ?, ?, ?, '{}' FROM k`,
      n,
      status,
      at,
      at,
      at,
    );
  return {
    seed(finished, live, at) {
      insert(live, "queued", at - 1, "live");
      insert(finished, "succeeded", at, "done");
      // Built after seeding, as a shard starting on this database would: counts from the table.
      const tasks = new TaskQueue(sql);
      const nodes = new NodeTable(sql, { heartbeatIntervalMs: 2000, deadAfterMs: 10_000 });
      retention = new Retention(sql, tasks, nodes, retentionMs);
    },
    prune(now) {
      if (retention === null) {
        throw new Error("seed first");
      }
      return retention.prune(now);
    },
    rows: () => sql.exec<{ n: number }>("SELECT count(*) AS n FROM tasks").one().n,
  };
}
