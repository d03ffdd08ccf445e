import { DurableObject } from "cloudflare:workers";
import { ApiError, type Result } from "../src/core/errors";
import { type HttpMetricsSnapshot, HttpMetricsTable, parseHttpMetrics } from "../src/core/http-metrics";
import { migrate } from "./migrate";

const MIGRATIONS = [
  `
  CREATE TABLE edge_metrics (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
  );
  `,
];

/**
 * The edges' HTTP metrics, summed (one object per deployment). An edge isolate counts its requests
 * in memory and sends what it counted at most every EDGE_FLUSH_MS (src/http/edge-http-metrics.ts);
 * this object adds each delta to the totals and saves them, so `/metrics` reads one place and the
 * totals outlive every isolate and this object's own evictions. Calls come at most once per isolate
 * per flush period, never on a request's path.
 */
export class EdgeMetrics extends DurableObject<Env> {
  private readonly sql: SqlStorage;
  private totals = new HttpMetricsTable();

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    ctx.blockConcurrencyWhile(async () => {
      migrate(ctx.storage, MIGRATIONS);
      const row = this.sql
        .exec<{ value: string }>("SELECT value FROM edge_metrics WHERE key = 'http'")
        .toArray()[0];
      const saved = row === undefined ? null : parseHttpMetrics(JSON.parse(row.value));
      if (saved !== null) {
        this.totals.add(saved);
      } else if (row !== undefined) {
        console.error("edge metrics: the saved totals cannot be read; counting from zero");
      }
    });
  }

  /** Adds an isolate's counts since its last flush. Internal. */
  async add(delta: HttpMetricsSnapshot): Promise<Result<null>> {
    const parsed = parseHttpMetrics(delta);
    if (parsed === null) {
      return { ok: false, error: ApiError.of("invalid_request", "not an HTTP metrics delta").body };
    }
    const before = this.totals.dropped;
    this.totals.add(parsed);
    if (this.totals.dropped > before) {
      console.warn(`edge metrics: ${this.totals.dropped - before} series over the limit were dropped`);
    }
    this.sql.exec(
      "INSERT INTO edge_metrics (key, value) VALUES ('http', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
      JSON.stringify(this.totals.snapshot()),
    );
    return { ok: true, value: null };
  }

  /** The totals, for `/metrics`. Internal. */
  async read(): Promise<Result<HttpMetricsSnapshot>> {
    return { ok: true, value: this.totals.snapshot() };
  }
}
