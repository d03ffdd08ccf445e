/**
 * What pruning costs: the shard's alarm passes deleting finished tasks past their retention, in
 * milliseconds per 1000 rows (`retention.prune.msPerThousand`), and the longest single pass (how
 * long one pass holds the object). The shard's own code (bench/retention-target.ts, bundled by
 * esbuild) runs on Node's SQLite in a file: the same SQLite statements and indexes as a Durable
 * Object, without workerd's storage layer (about 20 µs a statement, docs/BENCHMARKS.md, i.e. a few
 * hundredths of a ms per 1000 rows at 500 rows a statement) — the runtime's clock cannot be moved a
 * week ahead, and TASK_RETENTION_MS is at least a day.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { fileURLToPath, pathToFileURL } from "node:url";
import { buildSync } from "esbuild";
import type { RetentionStage, retentionStage } from "./retention-target.ts";

export interface RetentionBenchOptions {
  /** Finished tasks past their retention. */
  finished: number;
  /** Queued tasks stored beside them (never pruned; older, so first in age order). */
  live: number;
  log: (line: string) => void;
}

type Numbers = Record<string, number>;

/** The subset of a Durable Object's `SqlStorage` the shard's code calls, over Node's SQLite. */
function sqlStorage(db: DatabaseSync): Pick<DurableObjectStorage, "sql" | "transactionSync"> {
  const exec = (query: string, ...args: SqlStorageValue[]) => {
    let rows: Record<string, SqlStorageValue>[];
    // A migration is several statements and binds nothing: run it as a script.
    if (args.length === 0 && /;\s*\S/.test(query.trim().replace(/;\s*$/, ""))) {
      db.exec(query);
      rows = [];
    } else {
      rows = db.prepare(query).all(...(args as (string | number | null)[])) as Record<
        string,
        SqlStorageValue
      >[];
    }
    const written = Number((db.prepare("SELECT changes() AS n").get() as { n: number }).n);
    return {
      toArray: () => rows,
      one: () => {
        if (rows.length !== 1) {
          throw new Error(`expected one row, got ${rows.length}`);
        }
        return rows[0];
      },
      [Symbol.iterator]: () => rows[Symbol.iterator](),
      rowsWritten: written,
    };
  };
  return {
    sql: { exec } as unknown as SqlStorage,
    transactionSync: <T>(fn: () => T): T => {
      db.exec("BEGIN");
      try {
        const value = fn();
        db.exec("COMMIT");
        return value;
      } catch (error) {
        db.exec("ROLLBACK");
        throw error;
      }
    },
  };
}

/** Bundles the target (the shard's modules) into `dir` and loads it. */
async function loadTarget(dir: string): Promise<typeof retentionStage> {
  const entry = fileURLToPath(new URL("./retention-target.ts", import.meta.url));
  const out = buildSync({
    entryPoints: [entry],
    bundle: true,
    format: "esm",
    platform: "node",
    write: false,
  });
  const file = join(dir, "retention-target.mjs");
  await writeFile(file, out.outputFiles[0]!.text);
  return ((await import(pathToFileURL(file).href)) as { retentionStage: typeof retentionStage })
    .retentionStage;
}

/** Prunes `finished` due tasks pass by pass, timing each pass. */
export async function benchRetention(options: RetentionBenchOptions): Promise<Numbers> {
  const dir = await mkdtemp(join(tmpdir(), "meridian-retention-"));
  try {
    const retentionStage = await loadTarget(dir);
    const db = new DatabaseSync(join(dir, "shard.sqlite"));
    const retentionMs = 7 * 86_400_000;
    const stage: RetentionStage = retentionStage(sqlStorage(db), retentionMs);
    options.log(`  storing ${options.finished} finished and ${options.live} queued tasks ...`);
    stage.seed(options.finished, options.live, 1_000);
    const now = 1_000 + retentionMs;
    const passes: number[] = [];
    let deleted = 0;
    for (;;) {
      const began = performance.now();
      const pass = stage.prune(now);
      const ms = performance.now() - began;
      if (pass.tasks === 0) {
        break;
      }
      passes.push(ms);
      deleted += pass.tasks;
    }
    if (deleted !== options.finished || stage.rows() !== options.live) {
      throw new Error(`retention: deleted ${deleted} of ${options.finished}, ${stage.rows()} rows left`);
    }
    db.close();
    const total = passes.reduce((sum, ms) => sum + ms, 0);
    return {
      "retention.prune.msPerThousand": total / (deleted / 1000),
      "retention.prune.passes": passes.length,
      "retention.prune.maxPassMs": Math.max(...passes),
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
