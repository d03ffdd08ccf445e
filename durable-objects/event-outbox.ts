import type { EventBody } from "../src/core/events";

/** Events wait at most this long at their producer before they go to the hub in one call. */
export const EVENT_FLUSH_MS = 100;
/** How long a producer waits before it tries the hub again after a failed send. */
export const EVENT_RETRY_MS = 1000;
/** Events a producer holds at most; beyond it the oldest are dropped (and counted). */
export const EVENT_OUTBOX_MAX = 10_000;

/** Where a producer's events go: the deployment's hub (the simulation and tests may give another). */
export type EventSink = (events: EventBody[]) => Promise<unknown>;

/**
 * A producer's events on their way to the hub (in a region shard, in the coordinator): recorded in
 * memory as they happen, sent in one call at most every EVENT_FLUSH_MS (a timer started by the
 * first event held), one call in flight at a time so they arrive in the order they happened.
 *
 * Events are a notification, not a log: they are not persisted (a restart loses those held), a
 * failed send is retried with the next flush, and when the hub is unreachable for long the outbox
 * keeps the newest EVENT_OUTBOX_MAX and counts what it dropped. Nothing here ever fails the call
 * that recorded the event.
 */
export class EventOutbox {
  private held: EventBody[] = [];
  private timer: ReturnType<typeof setTimeout> | null = null;
  private sending: Promise<void> | null = null;
  /** Events dropped because the outbox was full (the hub did not take them for a long time). */
  dropped = 0;
  /** Sends that failed (each retried with the next flush). */
  failures = 0;

  constructor(
    private readonly sink: () => EventSink | null,
    private readonly flushMs = EVENT_FLUSH_MS,
    private readonly max = EVENT_OUTBOX_MAX,
  ) {}

  /** Records an event; it is sent within flushMs. */
  record(event: EventBody): void {
    this.held.push(event);
    this.trim();
    this.arm(this.flushMs);
  }

  /** Keeps the newest `max` events held; the older ones are dropped and counted. */
  private trim(): void {
    const over = this.held.length - this.max;
    if (over > 0) {
      this.held.splice(0, over);
      this.dropped += over;
    }
  }

  /** Starts the flush timer unless one is running. */
  private arm(delayMs: number): void {
    this.timer ??= setTimeout(() => {
      this.timer = null;
      void this.flush();
    }, delayMs);
  }

  /** Events recorded and not yet taken by the hub. */
  get pending(): number {
    return this.held.length;
  }

  /**
   * Sends what is held now (after the send in flight, if any), in one call. Resolves when it is
   * done, whether the hub took it or not; never rejects.
   */
  async flush(): Promise<void> {
    while (this.sending !== null) {
      await this.sending;
    }
    const sink = this.sink();
    if (this.held.length === 0 || sink === null) {
      return;
    }
    const batch = this.held;
    this.held = [];
    this.sending = this.send(sink, batch);
    await this.sending;
    this.sending = null;
  }

  /** One call to the hub; on failure the batch goes back in front of what was recorded meanwhile. */
  private async send(sink: EventSink, batch: EventBody[]): Promise<void> {
    try {
      await sink(batch);
    } catch (error) {
      this.failures++;
      this.held = batch.concat(this.held);
      this.trim();
      console.warn(`events: the hub did not take ${batch.length} events; retrying`, error);
      // Slower while the hub is down: one call a second, not ten.
      this.arm(EVENT_RETRY_MS);
    }
  }
}
