/** One message of a Server-Sent Events stream, as a client sees it. */
export interface SseMessage {
  id: number | null;
  event: string;
  data: any;
}

/**
 * Reads a `text/event-stream` body message by message (a test's EventSource): parses `id:`,
 * `event:` and `data:` lines, counts comment lines (`: keep-alive`).
 */
export class SseReader {
  private readonly reader: ReadableStreamDefaultReader<Uint8Array>;
  private readonly decoder = new TextDecoder();
  private buffer = "";
  private readonly parsed: SseMessage[] = [];
  comments = 0;

  constructor(body: ReadableStream<Uint8Array>) {
    this.reader = body.getReader();
  }

  /** The next message; throws if the stream ends first. */
  async next(): Promise<SseMessage> {
    while (this.parsed.length === 0) {
      const { done, value } = await this.reader.read();
      if (done) {
        throw new Error("the event stream ended");
      }
      this.buffer += this.decoder.decode(value, { stream: true });
      this.parse();
    }
    return this.parsed.shift()!;
  }

  /** Messages up to and including the first one `last` accepts. */
  async until(last: (m: SseMessage) => boolean): Promise<SseMessage[]> {
    const out: SseMessage[] = [];
    for (;;) {
      const message = await this.next();
      out.push(message);
      if (last(message)) {
        return out;
      }
    }
  }

  /** The next `n` messages. */
  async take(n: number): Promise<SseMessage[]> {
    const out: SseMessage[] = [];
    while (out.length < n) {
      out.push(await this.next());
    }
    return out;
  }

  /** Hangs up (the reader goes away). */
  async cancel(): Promise<void> {
    await this.reader.cancel();
  }

  private parse(): void {
    for (let end = this.buffer.indexOf("\n\n"); end !== -1; end = this.buffer.indexOf("\n\n")) {
      const block = this.buffer.slice(0, end);
      this.buffer = this.buffer.slice(end + 2);
      let id: number | null = null;
      let event = "message";
      let data: string | null = null;
      for (const line of block.split("\n")) {
        if (line.startsWith(":")) {
          this.comments++;
        } else if (line.startsWith("id: ")) {
          id = Number(line.slice(4));
        } else if (line.startsWith("event: ")) {
          event = line.slice(7);
        } else if (line.startsWith("data: ")) {
          data = line.slice(6);
        }
      }
      if (data !== null) {
        this.parsed.push({ id, event, data: JSON.parse(data) });
      }
    }
  }
}
