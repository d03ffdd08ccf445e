import type { WebSocketFactory } from "./channel-socket.ts";
import { type Clock, systemClock } from "./clock.ts";
import { type ApiErrorBody, MeridianError, TransportError } from "./errors.ts";

/** Where Meridian is and who is calling. */
export interface ConnectionOptions {
  /** Base URL, e.g. `http://127.0.0.1:8787` (no `/v1`). */
  url: string;
  /** Bearer token (a minted `node` or `client` token, or the admin token). */
  token: string;
  /** A `fetch` to use instead of the global one (tests, proxies, a service binding's `fetch`). */
  fetch?: typeof fetch;
  /** Where time is read and waited on (request timeouts, back-offs, leases); default: the system clock. */
  clock?: Clock;
  /** Opens node channels instead of the global `WebSocket` (tests, proxies). */
  webSocket?: WebSocketFactory;
}

/** Per-request options. */
export interface RequestOptions {
  signal?: AbortSignal;
  headers?: Record<string, string>;
  /** Give up (with a TransportError) when no full answer came within this many ms. */
  timeoutMs?: number;
}

/**
 * A thin JSON-over-fetch wrapper: bearer auth, JSON bodies, and the contract's error shape turned
 * into a `MeridianError` (or a `TransportError` when no answer came). Works on Node and in Workers.
 */
export class HttpClient {
  readonly baseUrl: string;
  private readonly token: string;
  private readonly fetchImpl: typeof fetch;
  readonly clock: Clock;

  constructor(options: ConnectionOptions) {
    this.baseUrl = options.url.replace(/\/+$/, "");
    this.token = options.token;
    // Bound: Workers reject a fetch called with another `this` ("Illegal invocation").
    this.fetchImpl = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.clock = options.clock ?? systemClock;
  }

  /** Sends one request; resolves with the parsed JSON body (undefined for 204). */
  async request<T>(method: string, path: string, body?: unknown, options: RequestOptions = {}): Promise<T> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.token}`, ...options.headers };
    const timeout = options.timeoutMs === undefined ? undefined : this.timeout(options.timeoutMs);
    const signal =
      timeout && options.signal
        ? AbortSignal.any([timeout.signal, options.signal])
        : (timeout?.signal ?? options.signal);
    const init: RequestInit = { method, headers, signal };
    if (body !== undefined) {
      headers["content-type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let answer: { response: Response; text: string };
    try {
      answer = await this.exchange(method, path, init, options);
    } finally {
      timeout?.cancel();
    }
    const { response, text } = answer;
    const parsed = parseJson(text);
    if (!response.ok) {
      throw new MeridianError(
        response.status,
        errorBody(parsed, response, text),
        retryAfterMs(response, this.clock.now()),
      );
    }
    return (text.length === 0 ? undefined : parsed) as T;
  }

  /** Fetches and reads the whole answer (the timeout, if any, covers both). */
  private async exchange(
    method: string,
    path: string,
    init: RequestInit,
    options: RequestOptions,
  ): Promise<{ response: Response; text: string }> {
    let response: Response;
    try {
      response = await this.fetchImpl(`${this.baseUrl}${path}`, init);
    } catch (error) {
      throw this.failure(error, method, path, options);
    }
    try {
      return { response, text: await response.text() };
    } catch (error) {
      if (options.signal?.aborted) {
        throw error;
      }
      throw new TransportError(`${method} ${path}: the answer was cut off: ${describe(error)}`, {
        cause: error,
      });
    }
  }

  /**
   * A signal that aborts after `ms` on the client's clock, as `AbortSignal.timeout` does on the
   * system's (same reason, a "TimeoutError" DOMException), and a way to stop the timer.
   */
  private timeout(ms: number): { signal: AbortSignal; cancel: () => void } {
    const controller = new AbortController();
    const timer = this.clock.setTimer(
      () => controller.abort(new DOMException("The operation was aborted due to timeout", "TimeoutError")),
      ms,
    );
    return { signal: controller.signal, cancel: () => this.clock.clearTimer(timer) };
  }

  /** The caller's abort as is; anything else (timeout included) as a TransportError. */
  private failure(error: unknown, method: string, path: string, options: RequestOptions): unknown {
    if (options.signal?.aborted) {
      return error;
    }
    const what =
      error instanceof Error && error.name === "TimeoutError"
        ? `no answer within ${options.timeoutMs} ms`
        : describe(error);
    return new TransportError(`${method} ${path}: ${what}`, { cause: error });
  }

  get<T>(path: string, options?: RequestOptions): Promise<T> {
    return this.request<T>("GET", path, undefined, options);
  }

  post<T>(path: string, body: unknown = {}, options?: RequestOptions): Promise<T> {
    return this.request<T>("POST", path, body, options);
  }

  put<T>(path: string, body: unknown, options?: RequestOptions): Promise<T> {
    return this.request<T>("PUT", path, body, options);
  }

  delete<T>(path: string, options?: RequestOptions): Promise<T> {
    return this.request<T>("DELETE", path, undefined, options);
  }
}

function parseJson(text: string): unknown {
  if (text.length === 0) {
    return undefined;
  }
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** The contract's `error` object, or one made up from the status when the body is not the contract's. */
function errorBody(parsed: unknown, response: Response, text: string): ApiErrorBody {
  const error = (parsed as { error?: ApiErrorBody } | undefined)?.error;
  if (error && typeof error.code === "string" && typeof error.message === "string") {
    return error;
  }
  return { code: `http_${response.status}`, message: text.slice(0, 200) || response.statusText };
}

function retryAfterMs(response: Response, now: number): number | undefined {
  const header = response.headers.get("retry-after");
  if (header === null) {
    return undefined;
  }
  const seconds = Number(header);
  if (Number.isFinite(seconds)) {
    return Math.max(0, seconds * 1000);
  }
  const at = Date.parse(header);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

function describe(error: unknown): string {
  if (error instanceof Error) {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    return cause?.code ?? cause?.message ?? error.message;
  }
  return String(error);
}

/** Path segment escaping for ids and names. */
export function segment(value: string): string {
  return encodeURIComponent(value);
}
