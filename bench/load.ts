/**
 * A closed-loop HTTP load generator in plain Node: `connections` workers, each with its own
 * keep-alive socket, send one request, wait for the whole answer, send the next. Latency is measured
 * per request from the first byte written to the last byte read (performance.now(), µs resolution).
 */
import { Agent, request as httpRequest } from "node:http";
import { percentile } from "./stats.ts";

/** Longest wait for one answer (the slowest bench call, a 100-task batch, takes about a second). */
const REQUEST_TIMEOUT_MS = 60_000;

/** One request; `body` is sent as JSON. */
export interface Call {
  method: "GET" | "POST" | "PUT" | "DELETE";
  path: string;
  token?: string;
  body?: unknown;
  /** An already serialized JSON body (sent instead of `body`), so a hot loop need not re-stringify. */
  raw?: string;
}

/** A raw answer: status and the body text (parsed only by whoever needs it). */
export interface Answer {
  status: number;
  text: string;
}

/** What one run (or several runs, combined) measured. */
export interface LoadResult {
  requests: number;
  /** Answers whose status was not the expected one (they still count in `requests`). */
  errors: number;
  seconds: number;
  rps: number;
  p50ms: number;
  p99ms: number;
  /** Every request's latency in ms, in completion order. */
  latencies: number[];
  /** First unexpected answer, to make a broken bench obvious. */
  firstError: string | null;
  /** True when a worker stopped early because `next` had nothing left to send. */
  exhausted: boolean;
}

/** Latency percentiles and throughput over all of `latencies`, answered within `seconds`. */
export function summarizeLatencies(
  latencies: number[],
  seconds: number,
): Pick<LoadResult, "rps" | "p50ms" | "p99ms"> {
  const sorted = Float64Array.from(latencies).sort();
  return { rps: latencies.length / seconds, p50ms: percentile(sorted, 0.5), p99ms: percentile(sorted, 0.99) };
}

/** Several runs of the same workload as one: requests and time add up, percentiles over all requests. */
export function combine(runs: LoadResult[]): LoadResult {
  const latencies = runs.flatMap((r) => r.latencies);
  const seconds = runs.reduce((sum, r) => sum + r.seconds, 0);
  return {
    requests: latencies.length,
    errors: runs.reduce((sum, r) => sum + r.errors, 0),
    seconds,
    ...summarizeLatencies(latencies, seconds),
    latencies,
    firstError: runs.find((r) => r.firstError !== null)?.firstError ?? null,
    exhausted: runs.some((r) => r.exhausted),
  };
}

export interface LoadOptions {
  connections: number;
  durationMs: number;
  /** The next request for a worker, or null when the supply is used up (the worker stops). */
  next: (worker: number) => Call | null;
  /** Statuses that count as success (default: any 2xx). */
  ok?: (status: number) => boolean;
  /** Sees every answer (e.g. to collect leases from polls). */
  onAnswer?: (worker: number, call: Call, answer: Answer) => void;
}

/** A client for one server: keep-alive sockets, one per concurrent request. */
export class HttpClient {
  private readonly agent: Agent;
  private readonly host: string;
  private readonly port: number;

  constructor(baseUrl: string, maxSockets = 64) {
    const url = new URL(baseUrl);
    this.host = url.hostname;
    this.port = Number(url.port);
    this.agent = new Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets });
  }

  /** Sends one request and reads the whole answer. */
  send(call: Call): Promise<Answer> {
    const payload = call.raw ?? (call.body === undefined ? undefined : JSON.stringify(call.body));
    const headers: Record<string, string | number> = {};
    if (call.token !== undefined) {
      headers.authorization = `Bearer ${call.token}`;
    }
    if (payload !== undefined) {
      headers["content-type"] = "application/json";
      headers["content-length"] = Buffer.byteLength(payload);
    }
    return new Promise((resolve, reject) => {
      const req = httpRequest(
        {
          host: this.host,
          port: this.port,
          method: call.method,
          path: call.path,
          headers,
          agent: this.agent,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (chunk: Buffer) => chunks.push(chunk));
          res.on("end", () =>
            resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }),
          );
          res.on("error", reject);
        },
      );
      req.on("error", reject);
      // A server that stops answering fails the run instead of hanging it.
      req.setTimeout(REQUEST_TIMEOUT_MS, () =>
        req.destroy(new Error(`${call.method} ${call.path}: no answer in ${REQUEST_TIMEOUT_MS} ms`)),
      );
      req.end(payload);
    });
  }

  /** Sends one request and parses the JSON answer; throws unless the status is `expect`. */
  async json<T>(call: Call, expect: number | number[] = [200, 201]): Promise<T> {
    const answer = await this.send(call);
    const wanted = Array.isArray(expect) ? expect : [expect];
    if (!wanted.includes(answer.status)) {
      throw new Error(`${call.method} ${call.path} -> ${answer.status}: ${answer.text.slice(0, 300)}`);
    }
    return JSON.parse(answer.text) as T;
  }

  close(): void {
    this.agent.destroy();
  }
}

/** Runs the closed loop for `durationMs` and reports throughput and latency. */
export async function drive(client: HttpClient, options: LoadOptions): Promise<LoadResult> {
  const ok = options.ok ?? ((status: number) => status >= 200 && status < 300);
  const latencies: number[] = [];
  let errors = 0;
  let firstError: string | null = null;
  let exhausted = false;
  const start = performance.now();
  const deadline = start + options.durationMs;

  const worker = async (id: number): Promise<void> => {
    while (performance.now() < deadline) {
      const call = options.next(id);
      if (call === null) {
        exhausted = true;
        return;
      }
      const sent = performance.now();
      const answer = await client.send(call);
      latencies.push(performance.now() - sent);
      if (!ok(answer.status)) {
        errors++;
        firstError ??= `${call.method} ${call.path} -> ${answer.status}: ${answer.text.slice(0, 300)}`;
      }
      options.onAnswer?.(id, call, answer);
    }
  };

  await Promise.all(Array.from({ length: options.connections }, (_, i) => worker(i)));
  // Requests in flight at the deadline are waited for and counted: the window ends at the last answer.
  const seconds = (performance.now() - start) / 1000;
  return {
    requests: latencies.length,
    errors,
    seconds,
    ...summarizeLatencies(latencies, seconds),
    latencies,
    firstError,
    exhausted,
  };
}
