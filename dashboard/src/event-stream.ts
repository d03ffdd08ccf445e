/**
 * The live feed, `GET /v1/events`, read with `fetch()` and a stream reader instead of EventSource:
 * EventSource cannot send the Authorization header, and the token must not go in the URL. So the
 * reconnecting EventSource would have done is done here: back-off with jitter after a drop,
 * `Last-Event-ID` to resume where it stopped, and a watchdog for a connection that went silent
 * (the server sends `: keep-alive` comments, so silence means a dead link).
 */
import { retryDelayMs } from "../../src/core/backoff";
import { type ApiCallError, errorOf } from "./api-client";
import { type LiveEvent, parseLiveEvent } from "./live-events";
import { SseParser } from "./sse-parser";

export type StreamState =
  | { kind: "connecting" }
  | { kind: "live" }
  | { kind: "reconnecting"; inMs: number; why: string }
  /** The server has no `/v1/events` (404): the page lives on REST polling; asked again later. */
  | { kind: "unavailable" }
  /** The token was refused (401/403): the stream stops until a new token is given. */
  | { kind: "refused"; error: ApiCallError };

export interface StreamHandlers {
  event(event: LiveEvent): void;
  state(state: StreamState): void;
  /** The server skipped `missed` events for this reader (it was too slow). */
  dropped(missed: number): void;
  /** The server cannot resume from our last id (`too_old`): state must be reloaded from REST. */
  reset(reason: string): void;
}

/** First retry after about this long, doubling per failure up to the cap. */
const RETRY_BASE_MS = 500;
const RETRY_MAX_MS = 15_000;
/** With no `/v1/events` on the server, ask again this often (it may be upgraded meanwhile). */
const UNAVAILABLE_RETRY_MS = 30_000;
/** No byte for this long (keep-alives included) means the connection is dead. */
const SILENCE_LIMIT_MS = 45_000;

/** What the stream does I/O and waits with: the page's own by default, a test's fakes in unit tests. */
export interface StreamDeps {
  fetch: typeof fetch;
  sleep: (ms: number) => Promise<void>;
  random: () => number;
}

const PAGE_DEPS: StreamDeps = {
  fetch: (input, init) => fetch(input, init),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  random: Math.random,
};

export class EventStream {
  private readonly parser = new SseParser();
  private readonly deps: StreamDeps;
  private controller: AbortController | null = null;
  private stopped = false;
  private retryBaseMs = RETRY_BASE_MS;

  constructor(
    private readonly url: string,
    private readonly authorization: string,
    private readonly on: StreamHandlers,
    deps: Partial<StreamDeps> = {},
  ) {
    this.deps = { ...PAGE_DEPS, ...deps };
  }

  /** Runs until stopped or refused; the promise settles then (the page ignores it, tests await it). */
  start(): Promise<void> {
    return this.run();
  }

  stop(): void {
    this.stopped = true;
    this.controller?.abort();
  }

  /** Connects, reads until the stream ends or breaks, waits, and again, until stopped or refused. */
  private async run(): Promise<void> {
    let failures = 0;
    while (!this.stopped) {
      this.on.state({ kind: "connecting" });
      let why: string;
      try {
        const outcome = await this.connectAndRead(() => {
          failures = 0; // data flowed: the next drop starts the back-off over
        });
        if (outcome === "refused" || this.stopped) {
          return;
        }
        if (outcome === "unavailable") {
          await this.deps.sleep(UNAVAILABLE_RETRY_MS);
          continue;
        }
        why = "the stream ended";
      } catch (error) {
        if (this.stopped) {
          return;
        }
        why = error instanceof Error ? error.message : String(error);
      }
      failures++;
      const inMs = retryDelayMs(failures, this.deps.random, {
        baseMs: this.retryBaseMs,
        maxMs: RETRY_MAX_MS,
      });
      this.on.state({ kind: "reconnecting", inMs, why });
      await this.deps.sleep(inMs);
    }
  }

  /** One connection: answers how it ended when it ended without an error. */
  private async connectAndRead(flowing: () => void): Promise<"ended" | "unavailable" | "refused"> {
    const controller = new AbortController();
    this.controller = controller;
    const headers: Record<string, string> = {
      authorization: this.authorization,
      accept: "text/event-stream",
    };
    if (this.parser.lastId) {
      headers["last-event-id"] = this.parser.lastId;
    }
    const response = await this.deps.fetch(this.url, {
      headers,
      signal: controller.signal,
      cache: "no-store",
    });
    if (response.status === 404) {
      await response.body?.cancel();
      this.on.state({ kind: "unavailable" });
      return "unavailable";
    }
    if (!response.ok || !response.body) {
      const error = errorOf(response.status, await response.text());
      if (error.isAuth) {
        this.on.state({ kind: "refused", error });
        return "refused";
      }
      if (response.status === 400 && headers["last-event-id"]) {
        // The server cannot resume from our id (malformed, or from another hub): start afresh, and
        // reload the state from REST as after a reset.
        this.parser.forgetLastId();
        this.on.reset("bad_last_event_id");
      }
      throw new Error(`the server answered ${response.status} ${error.code}`);
    }
    this.on.state({ kind: "live" });
    this.parser.reset();
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let watchdog = setTimeout(() => controller.abort(), SILENCE_LIMIT_MS);
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) {
          return "ended";
        }
        clearTimeout(watchdog);
        watchdog = setTimeout(() => controller.abort(), SILENCE_LIMIT_MS);
        if (this.take(value)) {
          flowing();
        }
      }
    } finally {
      clearTimeout(watchdog);
    }
  }

  /** Hands a chunk's messages to the handlers; answers whether it carried any message. */
  private take(chunk: string): boolean {
    const out = this.parser.push(chunk);
    if (out.retryMs !== null) {
      this.retryBaseMs = Math.max(RETRY_BASE_MS, out.retryMs);
    }
    for (const message of out.messages) {
      if (message.event === "dropped") {
        this.on.dropped(numberField(message.data, "missed"));
      } else if (message.event === "reset") {
        this.on.reset(stringField(message.data, "reason") ?? "reset");
      } else {
        const event = parseLiveEvent(message.event, message.data, message.id);
        if (event) {
          this.on.event(event);
        }
      }
    }
    return out.messages.length > 0;
  }
}

function fieldOf(data: string, name: string): unknown {
  try {
    return (JSON.parse(data) as Record<string, unknown>)[name];
  } catch {
    return undefined;
  }
}

function numberField(data: string, name: string): number {
  const value = fieldOf(data, name);
  return typeof value === "number" && Number.isFinite(value) ? value : 0;
}

function stringField(data: string, name: string): string | null {
  const value = fieldOf(data, name);
  return typeof value === "string" ? value : null;
}
