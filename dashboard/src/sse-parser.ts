/**
 * An incremental Server-Sent Events parser (the WHATWG "event stream interpretation"), fed text as
 * it arrives in chunks of any size. The dashboard reads `/v1/events` with `fetch()` rather than
 * `EventSource` because EventSource cannot send an Authorization header, and a token must never
 * go in a URL. Pure: no DOM, no I/O.
 */

/** One dispatched message. `id` is the stream's last event id at dispatch (it persists across messages). */
export interface SseMessage {
  event: string;
  data: string;
  id: string;
}

/** What one `push` produced: messages, comments (e.g. `: keep-alive`) and a `retry:` hint if any. */
export interface SseOutput {
  messages: SseMessage[];
  comments: string[];
  retryMs: number | null;
}

export class SseParser {
  private buffer = "";
  /** A chunk ended in `\r`: if the next one starts with `\n`, that `\n` belongs to the same line end. */
  private pendingCr = false;
  private eventType = "";
  private data: string[] = [];
  private lastEventId = "";

  /** The last event id seen (what to send as `Last-Event-ID` when reconnecting). */
  get lastId(): string {
    return this.lastEventId;
  }

  /** Feeds the next chunk of text; answers what it completed. */
  push(chunk: string): SseOutput {
    const out: SseOutput = { messages: [], comments: [], retryMs: null };
    let text = chunk;
    if (this.pendingCr && text.startsWith("\n")) {
      text = text.slice(1);
    }
    this.pendingCr = false;
    this.buffer += text;
    let start = 0;
    for (let i = 0; i < this.buffer.length; i++) {
      const ch = this.buffer[i];
      if (ch !== "\n" && ch !== "\r") {
        continue;
      }
      this.line(this.buffer.slice(start, i), out);
      if (ch === "\r") {
        if (i + 1 === this.buffer.length) {
          this.pendingCr = true;
        } else if (this.buffer[i + 1] === "\n") {
          i++;
        }
      }
      start = i + 1;
    }
    this.buffer = this.buffer.slice(start);
    return out;
  }

  /** Forgets the last event id (the server refused to resume from it): the next connection starts afresh. */
  forgetLastId(): void {
    this.lastEventId = "";
  }

  /** Forgets a half-received message (the connection dropped); the last event id is kept. */
  reset(): void {
    this.buffer = "";
    this.pendingCr = false;
    this.eventType = "";
    this.data = [];
  }

  private line(line: string, out: SseOutput): void {
    if (line === "") {
      this.dispatch(out);
      return;
    }
    if (line.startsWith(":")) {
      out.comments.push(line.slice(1).trimStart());
      return;
    }
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) {
      value = value.slice(1);
    }
    if (field === "event") {
      this.eventType = value;
    } else if (field === "data") {
      this.data.push(value);
    } else if (field === "id") {
      if (!value.includes("\0")) {
        this.lastEventId = value;
      }
    } else if (field === "retry") {
      if (/^\d+$/.test(value)) {
        out.retryMs = Number(value);
      }
    }
    // Any other field is ignored, as the standard says.
  }

  private dispatch(out: SseOutput): void {
    // A block without data dispatches nothing (but its id, already recorded, stands).
    if (this.data.length > 0) {
      out.messages.push({
        event: this.eventType || "message",
        data: this.data.join("\n"),
        id: this.lastEventId,
      });
    }
    this.eventType = "";
    this.data = [];
  }
}
