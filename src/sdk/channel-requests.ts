import { channelError, type ShardFrame } from "./channel-frames.ts";
import type { Clock, TimerHandle } from "./clock.ts";
import { TransportError } from "./errors.ts";

interface Pending {
  op: string;
  expect: ShardFrame["op"];
  sentAt: number;
  timer: TimerHandle;
  resolve: (frame: ShardFrame) => void;
  reject: (error: unknown) => void;
}

/**
 * A channel's requests waiting for their answers, by ref: each settles with the frame that carries
 * its ref (an `error` frame rejects it as a MeridianError), or fails with a TransportError after
 * `timeoutMs` or when the channel closes.
 */
export class PendingRequests {
  private readonly pending = new Map<string, Pending>();
  private readonly clock: Clock;
  private readonly timeoutMs: number;
  private lastRef = 0;

  constructor(clock: Clock, timeoutMs: number) {
    this.clock = clock;
    this.timeoutMs = timeoutMs;
  }

  /** A ref no request of this channel has used. */
  nextRef(): string {
    return String(++this.lastRef);
  }

  /** Waits for the answer to `op` sent now with `ref`, expected as an `expect` frame. */
  wait(ref: string, op: string, expect: ShardFrame["op"]): Promise<ShardFrame> {
    return new Promise((resolve, reject) => {
      const timer = this.clock.setTimer(() => {
        this.pending.delete(ref);
        reject(new TransportError(`${op}: no answer within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      this.pending.set(ref, { op, expect, sentAt: this.clock.now(), timer, resolve, reject });
    });
  }

  /** Settles the request `ref` with `frame`; returns when it was sent, or null when none waits. */
  answer(ref: string, frame: ShardFrame): number | null {
    const pending = this.pending.get(ref);
    if (!pending) {
      return null;
    }
    this.pending.delete(ref);
    this.clock.clearTimer(pending.timer);
    if (frame.op === "error") {
      pending.reject(channelError(frame.error));
    } else if (frame.op !== pending.expect) {
      pending.reject(new Error(`the shard answered a ${pending.op} with ${frame.op}`));
    } else {
      pending.resolve(frame);
    }
    return pending.sentAt;
  }

  /** Fails every request (the channel closed). */
  failAll(why: string): void {
    for (const pending of this.pending.values()) {
      this.clock.clearTimer(pending.timer);
      pending.reject(new TransportError(`${pending.op}: ${why}`));
    }
    this.pending.clear();
  }
}
