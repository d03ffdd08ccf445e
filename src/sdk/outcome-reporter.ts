import { MAX_FRAME_BYTES, type ReportResult, utf8Bytes } from "./channel-frames.ts";
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

/** What the reporter needs of a node channel. */
export interface ReportChannel {
  report(reports: ReportItemInput[]): Promise<ReportResult[]>;
}

/** Room kept in a frame for `{"op":"report","ref":…,"reports":[…]}` around the outcomes. */
const FRAME_ENVELOPE_BYTES = 200;

export interface OutcomeReporterOptions {
  http: HttpClient;
  /**
   * The channel to send `nodeId`'s outcomes over, waiting (until local time `until`) while it
   * reconnects; null to use HTTP. Throws like a call would (TransportError, 409 node_dead).
   */
  channelFor?: (nodeId: string, until: number) => Promise<ReportChannel | null>;
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
 * retried with back-off until the lease would have run out anyway. Over a node channel every batch
 * is a `report` frame; while the channel reconnects, outcomes wait for it (no back-off) and go
 * right after the welcome.
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
      const { retry, backoff } = await this.send(nodeId, batch);
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
      if (kept.length > 0 && backoff) {
        await this.clock.sleep(backoffMs(failures, null, this.options.random), this.options.signal);
      }
    }
    this.flushing = false;
    for (const resolve of this.idleWaiters.splice(0)) {
      resolve();
    }
  }

  /** Sends one batch; returns the items to try again (after a transport error), and whether to back off first. */
  private async send(nodeId: string, batch: Pending[]): Promise<{ retry: Pending[]; backoff: boolean }> {
    const { channelFor } = this.options;
    if (channelFor) {
      let channel: ReportChannel | null;
      try {
        channel = await channelFor(nodeId, Math.max(...batch.map((p) => p.giveUpAt())));
      } catch (error) {
        // Not back in time (the items are then past their leases), the agent stopped, or the node is gone.
        return { retry: this.settle(nodeId, batch, error), backoff: true };
      }
      if (channel) {
        // The next try waits for the channel to be back, so no back-off on top.
        return { retry: await this.sendOverChannel(nodeId, channel, batch), backoff: false };
      }
    }
    return { retry: await this.sendOverHttp(nodeId, batch), backoff: true };
  }

  /** Over a channel: frames of up to 100 outcomes within the frame limit, one after the other. */
  private async sendOverChannel(
    nodeId: string,
    channel: ReportChannel,
    batch: Pending[],
  ): Promise<Pending[]> {
    const retry: Pending[] = [];
    for (const frame of packFrames(batch)) {
      try {
        const results = await channel.report(frame.map((p) => p.item));
        frame.forEach((p, i) => {
          const result = results[i];
          if (result?.id !== p.item.id) {
            p.resolve({ recorded: false, reason: "no result for this report" });
          } else if (result.ok) {
            p.resolve({ recorded: true, status: result.status as TaskStatusName });
          } else {
            p.resolve(refusal(p.item, result.error.code, result.error.reason));
          }
        });
      } catch (error) {
        retry.push(...this.settle(nodeId, frame, error));
      }
    }
    return retry;
  }

  /** Resolves the items a failed call refused; returns those to try again (a transient failure). */
  private settle(nodeId: string, batch: Pending[], error: unknown): Pending[] {
    if (isTransient(error)) {
      return batch;
    }
    if (isConflict(error, "node_dead") || (error instanceof MeridianError && error.status === 404)) {
      this.options.onNodeGone(nodeId);
    }
    for (const p of batch) {
      p.resolve({ recorded: false, reason: describe(error) });
    }
    return [];
  }

  private async sendOverHttp(nodeId: string, batch: Pending[]): Promise<Pending[]> {
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

/**
 * Splits a batch (at most 100 outcomes) into frames within the frame limit. A success whose result
 * alone is over it is recorded as a failure that says why (as over HTTP, where such a body is 413).
 */
function packFrames(batch: Pending[]): Pending[][] {
  const room = MAX_FRAME_BYTES - FRAME_ENVELOPE_BYTES;
  const frames: Pending[][] = [];
  let frame: Pending[] = [];
  let bytes = 0;
  for (const p of batch) {
    let size = utf8Bytes(JSON.stringify(p.item)) + 1;
    if (size > room && p.item.outcome === "succeeded") {
      const { id, leaseToken } = p.item;
      p.item = {
        id,
        leaseToken,
        outcome: "failed",
        error: "the handler's result is over Meridian's frame limit",
        retryable: false,
      };
      size = utf8Bytes(JSON.stringify(p.item)) + 1;
    }
    if (frame.length > 0 && bytes + size > room) {
      frames.push(frame);
      frame = [];
      bytes = 0;
    }
    frame.push(p);
    bytes += size;
  }
  if (frame.length > 0) {
    frames.push(frame);
  }
  return frames;
}

function describe(error: unknown): string {
  if (error instanceof MeridianError) {
    return error.reason ?? error.code;
  }
  return error instanceof Error ? error.message : String(error);
}
