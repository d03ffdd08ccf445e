import type { Clock } from "./clock.ts";
import { isConflict, isTransient, MeridianError } from "./errors.ts";
import type { HttpClient } from "./http.ts";
import { backoffMs } from "./retry.ts";
import type { ReportItemInput, TaskStatusName } from "./types.ts";

/** The most outcomes one `report` call may carry. */
export const MAX_REPORTS = 100;

/** What happened to an outcome: recorded (with the task's new status), or not, and why. */
export type Recorded = { recorded: true; status: TaskStatusName } | { recorded: false; reason: string };

interface Pending {
  nodeId: string;
  item: ReportItemInput;
  /** Local time after which the lease is surely gone, so retrying is pointless. */
  giveUpAt: () => number;
  resolve: (recorded: Recorded) => void;
}

export interface OutcomeReporterOptions {
  http: HttpClient;
  /** Told when Meridian says the node is dead or unknown (its leases were taken back). */
  onNodeGone: (nodeId: string) => void;
  /** Aborted when the agent stops: pending retries end at once. */
  signal: AbortSignal;
  clock: Clock;
  random?: () => number;
}

/**
 * Records task outcomes. Outcomes that finish while a call is in flight are sent together in one
 * `POST /v1/nodes/{id}/report`; a lone outcome goes to `complete` / `fail`. Transport errors are
 * retried with back-off until the lease would have run out anyway.
 */
export class OutcomeReporter {
  private readonly queue: Pending[] = [];
  private flushing = false;
  private idleWaiters: (() => void)[] = [];
  private readonly options: OutcomeReporterOptions;
  private readonly clock: Clock;

  constructor(options: OutcomeReporterOptions) {
    this.options = options;
    this.clock = options.clock;
  }

  /** Queues an outcome; resolves once Meridian recorded or refused it. */
  report(nodeId: string, item: ReportItemInput, giveUpAt: () => number): Promise<Recorded> {
    return new Promise((resolve) => {
      this.queue.push({ nodeId, item, giveUpAt, resolve });
      if (!this.flushing) {
        this.flushing = true;
        // A 0 ms timer, not a microtask: outcomes finishing in the same turn travel together.
        this.clock.setTimer(() => void this.flush(), 0);
      }
    });
  }

  /** Resolves when nothing is queued or in flight. */
  idle(): Promise<void> {
    if (!this.flushing) {
      return Promise.resolve();
    }
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private async flush(): Promise<void> {
    let failures = 0;
    while (this.queue.length > 0) {
      const nodeId = this.queue[0]!.nodeId;
      const batch: Pending[] = [];
      for (let i = 0; i < this.queue.length && batch.length < MAX_REPORTS; ) {
        if (this.queue[i]!.nodeId === nodeId) {
          batch.push(...this.queue.splice(i, 1));
        } else {
          i++;
        }
      }
      const retry = await this.send(nodeId, batch);
      if (retry.length === 0) {
        failures = 0;
        continue;
      }
      failures++;
      const now = this.clock.now();
      const kept = retry.filter((p) => {
        if (this.options.signal.aborted || now >= p.giveUpAt()) {
          p.resolve({ recorded: false, reason: "Meridian could not be reached before the lease ran out" });
          return false;
        }
        return true;
      });
      this.queue.unshift(...kept);
      if (kept.length > 0) {
        await this.clock.sleep(backoffMs(failures, null, this.options.random), this.options.signal);
      }
    }
    this.flushing = false;
    for (const resolve of this.idleWaiters.splice(0)) {
      resolve();
    }
  }

  /** Sends one batch; returns the items to try again (after a transport error). */
  private async send(nodeId: string, batch: Pending[]): Promise<Pending[]> {
    if (batch.length === 1) {
      return this.sendOne(batch[0]!);
    }
    const { http } = this.options;
    try {
      const answer = await http.post<{
        results: (
          | { id: string; status: TaskStatusName }
          | { id: string; error: { code: string; reason?: string } }
        )[];
      }>(`/v1/nodes/${encodeURIComponent(nodeId)}/report`, { reports: batch.map((p) => p.item) });
      batch.forEach((p, i) => {
        const result = answer.results[i];
        if (result === undefined) {
          p.resolve({ recorded: false, reason: "no result for this report" });
        } else if ("status" in result) {
          p.resolve({ recorded: true, status: result.status });
        } else {
          p.resolve(refusal(p.item, result.error.code, result.error.reason));
        }
      });
      return [];
    } catch (error) {
      if (isTransient(error)) {
        return batch;
      }
      if (error instanceof MeridianError && error.status === 413) {
        // Together too big: each alone (a single oversized result is then failed, see sendOne).
        const retry: Pending[] = [];
        for (const p of batch) {
          retry.push(...(await this.sendOne(p)));
        }
        return retry;
      }
      if (isConflict(error, "node_dead") || (error instanceof MeridianError && error.status === 404)) {
        this.options.onNodeGone(nodeId);
      }
      for (const p of batch) {
        p.resolve({ recorded: false, reason: describe(error) });
      }
      return [];
    }
  }

  private async sendOne(p: Pending): Promise<Pending[]> {
    const { http } = this.options;
    const { id, leaseToken, outcome, result, error, retryable } = p.item;
    const path = `/v1/tasks/${encodeURIComponent(id)}/${outcome === "succeeded" ? "complete" : "fail"}`;
    const body =
      outcome === "succeeded" ? { leaseToken, result } : { leaseToken, error: error ?? "failed", retryable };
    try {
      const answer = await http.post<{ status: TaskStatusName }>(path, body);
      p.resolve({ recorded: true, status: answer.status });
      return [];
    } catch (e) {
      if (isTransient(e)) {
        return [p];
      }
      if (e instanceof MeridianError && e.status === 413 && outcome === "succeeded") {
        // The result cannot be stored: record a failure that says why, rather than nothing.
        p.item = {
          id,
          leaseToken,
          outcome: "failed",
          error: "the handler's result is over Meridian's body limit",
          retryable: false,
        };
        return this.sendOne(p);
      }
      const refused = e instanceof MeridianError ? refusal(p.item, e.code, e.reason) : null;
      p.resolve(refused ?? { recorded: false, reason: describe(e) });
      return [];
    }
  }
}

/** A refusal; `already_terminal` for a success means an earlier try of this very call got through. */
function refusal(item: ReportItemInput, code: string, reason: string | undefined): Recorded {
  if (reason === "already_terminal" && item.outcome === "succeeded") {
    return { recorded: true, status: "succeeded" };
  }
  return { recorded: false, reason: reason ?? code };
}

function describe(error: unknown): string {
  if (error instanceof MeridianError) {
    return error.reason ?? error.code;
  }
  return error instanceof Error ? error.message : String(error);
}
