import { NodeChannel, type NodeChannelOptions } from "./channel.ts";
import { type ConnectionOptions, HttpClient } from "./http.ts";
import {
  type BatchItem,
  type RegionView,
  type SubmitTaskInput,
  type TaskListItemView,
  type TaskPage,
  type TaskQueryInput,
  type TaskView,
  TERMINAL,
} from "./types.ts";

/** How `waitForResult` waits. */
export interface WaitOptions {
  /** Give up after this long (default 60 s) with a WaitTimeoutError. */
  timeoutMs?: number;
  /** First interval between reads (default 100 ms); it grows to `maxIntervalMs`. */
  intervalMs?: number;
  /** Longest interval between reads (default 2 s). */
  maxIntervalMs?: number;
  signal?: AbortSignal;
}

/** `waitForResult` ran out of time; `task` is the last state read. */
export class WaitTimeoutError extends Error {
  override readonly name = "WaitTimeoutError";
  readonly task: TaskView;

  constructor(task: TaskView, timeoutMs: number) {
    super(`task ${task.id} is still ${task.status} after ${timeoutMs} ms`);
    this.task = task;
  }
}

/** `result()` found the task failed or canceled. */
export class TaskFailedError extends Error {
  override readonly name = "TaskFailedError";
  readonly task: TaskView;

  constructor(task: TaskView) {
    super(`task ${task.id} ${task.status}${task.lastError ? `: ${task.lastError}` : ""}`);
    this.task = task;
  }
}

/**
 * A typed client for submitters (a `client` token; `reader` for reads only). Types come from the
 * API's own zod schemas; errors are `MeridianError` (an HTTP error with the contract's code and
 * reason) or `TransportError` (no answer). Needs only `fetch`: Node 18+, Workers, browsers.
 *
 * ```ts
 * const meridian = new MeridianClient({ url: "http://127.0.0.1:8787", token });
 * const task = await meridian.submit({ type: "thumbnail.render", payload: { id: 7 }, location: { lat: 48.86, lon: 2.35 } });
 * const done = await meridian.waitForResult(task.id);
 * ```
 */
export class MeridianClient {
  private readonly http: HttpClient;
  private readonly options: ConnectionOptions;

  constructor(options: ConnectionOptions) {
    this.options = options;
    this.http = new HttpClient(options);
  }

  /**
   * The node channel of a registered node (the client's token must be that node's `node` token), for
   * writing an executor of your own: `await channel.connect()`, then `credit`, `report`, `extend`,
   * `heartbeat`, `campaign`; pushed work comes to `channel.on("tasks", ...)`. Not connected yet.
   */
  channel(
    nodeId: string,
    options: Pick<NodeChannelOptions, "requestTimeoutMs" | "logger"> = {},
  ): NodeChannel {
    const { url, token, webSocket } = this.options;
    return new NodeChannel({ url, token, nodeId, webSocket, clock: this.http.clock, ...options });
  }

  /** Submits one task (201; an idempotent repeat answers the first task). */
  submit(
    task: SubmitTaskInput,
    options: { idempotencyKey?: string; signal?: AbortSignal } = {},
  ): Promise<TaskView> {
    const headers = options.idempotencyKey ? { "idempotency-key": options.idempotencyKey } : undefined;
    return this.http.post<TaskView>("/v1/tasks", task, { headers, signal: options.signal });
  }

  /** Submits up to 100 tasks in one call; each item is stored or refused on its own, in order. */
  async batch(tasks: SubmitTaskInput[], options: { signal?: AbortSignal } = {}): Promise<BatchItem[]> {
    const { results } = await this.http.post<{ results: BatchItem[] }>("/v1/tasks:batch", { tasks }, options);
    return results;
  }

  /** One task. */
  get(id: string, options: { signal?: AbortSignal } = {}): Promise<TaskView> {
    return this.http.get<TaskView>(`/v1/tasks/${encodeURIComponent(id)}`, options);
  }

  /**
   * A page of tasks, newest first; pass the returned `cursor` for the next page. Payloads and results
   * are left out unless `include` names them (`{ include: ["payload", "result"] }`); a page then ends
   * early at the server's byte budget, and a task too large for any page comes without them, its
   * `omitted` naming what to read with `get(id)`.
   */
  list(query: TaskQueryInput = {}, options: { signal?: AbortSignal } = {}): Promise<TaskPage> {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(query)) {
      if (Array.isArray(value)) {
        if (value.length > 0) {
          params.set(key, value.join(","));
        }
      } else if (value !== undefined && value !== null) {
        params.set(key, String(value));
      }
    }
    const qs = params.toString();
    return this.http.get<TaskPage>(`/v1/tasks${qs ? `?${qs}` : ""}`, options);
  }

  /** Every task matching `query`, newest first, page by page (`include` as for `list`). */
  async *all(query: Omit<TaskQueryInput, "cursor"> = {}): AsyncGenerator<TaskListItemView> {
    let cursor: string | undefined;
    do {
      const page = await this.list({ ...query, ...(cursor ? { cursor } : {}) });
      yield* page.tasks;
      cursor = page.cursor ?? undefined;
    } while (cursor);
  }

  /** Cancels a task that has not ended (409 `already_terminal` otherwise). */
  cancel(id: string): Promise<{ status: "canceled" }> {
    return this.http.post<{ status: "canceled" }>(`/v1/tasks/${encodeURIComponent(id)}/cancel`, {});
  }

  /**
   * Runs a failed or canceled task again with a fresh attempt budget (409 `not_terminal`
   * otherwise). `reroute: true` routes it anew from its origin, honouring its pin or allow-list:
   * when that is another region, the answer is a new task there (`retryOf` names `id`).
   */
  retryTask(id: string, options: { reroute?: boolean } = {}): Promise<TaskView> {
    const body = options.reroute === undefined ? {} : { reroute: options.reroute };
    return this.http.post<TaskView>(`/v1/tasks/${encodeURIComponent(id)}/retry`, body);
  }

  /**
   * Reads the task until it has ended (succeeded, failed or canceled) and returns it. There is no
   * push channel for tasks, so this polls, at intervals growing from `intervalMs` to `maxIntervalMs`.
   */
  async waitForResult(id: string, options: WaitOptions = {}): Promise<TaskView> {
    const timeoutMs = options.timeoutMs ?? 60_000;
    const maxIntervalMs = options.maxIntervalMs ?? 2000;
    const { clock } = this.http;
    const deadline = clock.now() + timeoutMs;
    let interval = options.intervalMs ?? 100;
    for (;;) {
      const task = await this.get(id, { signal: options.signal });
      if (TERMINAL.includes(task.status)) {
        return task;
      }
      const left = deadline - clock.now();
      if (left <= 0) {
        throw new WaitTimeoutError(task, timeoutMs);
      }
      await clock.sleep(Math.min(interval, left), options.signal);
      options.signal?.throwIfAborted();
      interval = Math.min(maxIntervalMs, interval * 2);
    }
  }

  /** Submits a task, waits for it, and returns its result; throws TaskFailedError if it failed or was canceled. */
  async run<R = unknown>(task: SubmitTaskInput, options: WaitOptions = {}): Promise<R> {
    const submitted = await this.submit(task, { signal: options.signal });
    const done = await this.waitForResult(submitted.id, options);
    if (done.status !== "succeeded") {
      throw new TaskFailedError(done);
    }
    return done.result as R;
  }

  /** Regions with their health and load. */
  async regions(): Promise<RegionView[]> {
    return (await this.http.get<{ regions: RegionView[] }>("/v1/regions")).regions;
  }
}
