import type { EventRing, RingReader } from "../../src/core/event-ring";
import { KEEP_ALIVE_MESSAGE } from "../../src/core/events";

/** How much one write to a stream may carry (a long replay goes in several, each waiting for the reader). */
export interface ChunkLimits {
  chunkEvents: number;
  chunkBytes: number;
}

const KEEP_ALIVE = new TextEncoder().encode(KEEP_ALIVE_MESSAGE);

/**
 * One open `GET /v1/events` stream: a reader of the hub's ring and the byte stream it is sent on.
 *
 * Pull-based: the runtime asks for the next chunk only when the previous one has gone on towards
 * the client, so a reader that does not read stops being written to; meanwhile what it has not
 * read stays in the shared ring (nothing is queued per stream) and what the ring lets go of is
 * counted as missed (see EventRing). Hence memory per stream is constant whatever the reader does.
 */
export class EventStream {
  readonly readable: ReadableStream<Uint8Array>;
  /** Resolves the pull waiting for something to send. */
  private wake: (() => void) | null = null;
  private keepAliveDue = false;
  private ended = false;
  private controller: ReadableStreamDefaultController<Uint8Array> | null = null;

  constructor(
    readonly tokenId: string,
    readonly reader: RingReader,
    private readonly ring: EventRing,
    private readonly limits: ChunkLimits,
    /** Told once when the stream ends (the reader went away, or the hub closed it): its slot is free. */
    private readonly onEnd: (stream: EventStream) => void,
  ) {
    // highWaterMark 0: nothing is read ahead of the reader; `pull` runs only when a read waits.
    this.readable = new ReadableStream<Uint8Array>(
      {
        start: (controller) => {
          this.controller = controller;
        },
        pull: (controller) => this.pull(controller),
        cancel: () => this.end(),
      },
      { highWaterMark: 0 },
    );
  }

  /** New events may be there for it. */
  notify(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }

  /** Sends the keep-alive comment at the next read, unless events go first. */
  keepAlive(): void {
    this.keepAliveDue = true;
    this.notify();
  }

  /**
   * Ends the stream from the hub's side (its time is up, or the hub restarts): its slot is free at
   * once, and the reader sees the end even if it is not reading (EventSource then reconnects with
   * its Last-Event-ID and resumes where it was).
   */
  close(): void {
    this.end();
    try {
      this.controller?.close();
    } catch {
      // already closed or cancelled
    }
  }

  /** Frees its slot once, and lets a waiting pull see the end. */
  private end(): void {
    if (!this.ended) {
      this.ended = true;
      this.onEnd(this);
    }
    this.notify();
  }

  /** Writes the next chunk: events (or its notices) if any, else a due keep-alive; else waits for either. */
  private async pull(controller: ReadableStreamDefaultController<Uint8Array>): Promise<void> {
    for (;;) {
      if (this.ended) {
        try {
          controller.close();
        } catch {
          // canceled by the reader: already closed
        }
        return;
      }
      const chunk = this.ring.read(this.reader, this.limits.chunkEvents, this.limits.chunkBytes);
      if (chunk !== null) {
        this.keepAliveDue = false; // events are proof enough that the stream is alive
        controller.enqueue(chunk);
        return;
      }
      if (this.keepAliveDue) {
        this.keepAliveDue = false;
        controller.enqueue(KEEP_ALIVE.slice());
        return;
      }
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
    }
  }
}
