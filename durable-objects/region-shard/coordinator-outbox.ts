import { type CoordinatorLink, madeAfter, type RegionReport } from "../messages";

/** How long a shard waits before it tries the coordinator again after a failed message. */
export const OUTBOX_RETRY_MS = 1000;
/** Load reports that only change counts are sent at most this often (health changes go at once). */
export const LOAD_REPORT_INTERVAL_MS = 250;

/**
 * What a shard owes the coordinator, delivered at least once whatever happens to the messages:
 * - node deaths and departures, kept in the `outbox` table (in the same commit as the death) until
 *   the coordinator acknowledges them: a lost or failed message is sent again from the alarm;
 * - the region's load report, which is state, not an event: the newest one is sent, a change of
 *   health or capacity at once (the call waits for it), counts at most every LOAD_REPORT_INTERVAL_MS.
 */
export class CoordinatorOutbox {
  private sent: RegionReport | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;
  /** Set when a send failed: the alarm tries again. */
  failed = false;
  /** Rows in the outbox (kept in memory: every call asks, and a query costs ~20 µs). */
  private held: number;

  constructor(
    private readonly sql: SqlStorage,
    private readonly link: () => { region: string; link: CoordinatorLink } | null,
    /** Asks for the alarm to try again in OUTBOX_RETRY_MS. */
    private readonly retryLater: () => void,
  ) {
    this.held = sql.exec<{ n: number }>("SELECT count(*) AS n FROM outbox").one().n;
  }

  /** Records nodes gone, to be delivered by `flush` (call it inside the write that ends them). */
  nodesGone(nodeIds: string[]): void {
    for (const id of nodeIds) {
      this.sql.exec("INSERT INTO outbox (kind, body) VALUES ('node_gone', ?)", id);
      this.held++;
    }
  }

  pending(): boolean {
    return this.held > 0;
  }

  /** Delivers the node deaths waiting in the outbox; they stay there if the coordinator cannot be reached. */
  async flushGone(): Promise<void> {
    if (this.held === 0) {
      return; // every call ends here: no query, no stub (a frame's whole cost was a third this)
    }
    const target = this.link();
    const rows = this.sql
      .exec<{ seq: number; body: string }>("SELECT seq, body FROM outbox ORDER BY seq")
      .toArray();
    if (target === null || rows.length === 0) {
      return;
    }
    try {
      await target.link.nodesGone(
        target.region,
        rows.map((r) => r.body),
      );
      this.held -= this.sql.exec("DELETE FROM outbox WHERE seq <= ?", rows[rows.length - 1]!.seq).rowsWritten;
    } catch (error) {
      this.failed = true;
      this.retryLater();
      console.warn("shard: the coordinator did not take node deaths; retrying", error);
    }
  }

  /**
   * Offers the current report. A change of health, capacity or node count is sent now (the promise
   * is for the caller to await); a change of counts only is sent within LOAD_REPORT_INTERVAL_MS.
   */
  offer(current: () => RegionReport): Promise<void> | undefined {
    const report = current();
    const sent = this.sent;
    if (
      sent === null ||
      this.failed ||
      sent.healthy !== report.healthy ||
      sent.capacity !== report.capacity ||
      sent.nodes.healthy !== report.nodes.healthy ||
      sent.nodes.total !== report.nodes.total
    ) {
      return this.send(report);
    }
    if ((sent.queued !== report.queued || sent.inFlight !== report.inFlight) && this.timer === null) {
      this.timer = setTimeout(() => {
        this.timer = null;
        void this.send(current());
      }, LOAD_REPORT_INTERVAL_MS);
    }
    return undefined;
  }

  private async send(report: RegionReport): Promise<void> {
    const target = this.link();
    if (target === null) {
      return;
    }
    try {
      await target.link.reportLoad(target.region, report);
      if (this.sent === null || madeAfter(report, this.sent)) {
        this.sent = report;
      }
      this.failed = false;
    } catch (error) {
      this.failed = true;
      this.retryLater();
      console.warn("shard: the coordinator did not take a load report; retrying", error);
    }
  }

  /** Forgets what was sent: the next offer sends (a new coordinator, or a region created again). */
  reset(): void {
    this.sent = null;
  }
}
