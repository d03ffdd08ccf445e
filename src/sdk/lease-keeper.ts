import type { Clock, TimerHandle } from "./clock.ts";
import { isConflict, isTransient, MeridianError } from "./errors.ts";

/** Lease lengths Meridian accepts for `extend` (the `timeoutMs` range). */
const MIN_LEASE_MS = 1000;
const MAX_LEASE_MS = 3_600_000;

/** What the keeper needs from the outside: the extend call, the clock, and whom to tell of a loss. */
export interface LeaseKeeperOptions {
  /** `POST /v1/tasks/{id}/extend`; throws MeridianError / TransportError. */
  extend: (id: string, leaseToken: string, extendMs: number) => Promise<unknown>;
  /** Called once when a lease is gone for good (refused by Meridian, or ran out unreachable). */
  onLost: (id: string, reason: string) => void;
  clock: Clock;
}

interface Held {
  id: string;
  leaseToken: string;
  /** Length of one lease, estimated when it was granted; each extension asks for this much again. */
  leaseMs: number;
  /** When the lease ends, on this machine's clock (a safe under-estimate). */
  deadline: number;
  timer: TimerHandle | null;
  released: boolean;
}

/**
 * Keeps the leases of running tasks alive: halfway through a lease it extends it by the lease's
 * length again, so a task may run far longer than its `timeoutMs` while its node is alive.
 *
 * Clocks: a lease's length is estimated once, as `leaseExpiresAt` minus the local time the poll
 * answered (this assumes clocks within a small fraction of the lease, as NTP gives); after that
 * only local elapsed time is used, and every deadline is counted from when a request was *sent*,
 * so network delay makes the keeper early, never late.
 */
export class LeaseKeeper {
  private readonly held = new Map<string, Held>();
  private readonly extend: LeaseKeeperOptions["extend"];
  private readonly onLost: LeaseKeeperOptions["onLost"];
  private readonly clock: Clock;

  constructor(options: LeaseKeeperOptions) {
    this.extend = options.extend;
    this.onLost = options.onLost;
    this.clock = options.clock;
  }

  /** Starts keeping a lease granted by a poll that answered at `receivedAt` (local ms). */
  hold(task: { id: string; leaseToken: string; leaseExpiresAt: number }, receivedAt: number): void {
    const leaseMs = clamp(task.leaseExpiresAt - receivedAt, MIN_LEASE_MS, MAX_LEASE_MS);
    const held: Held = {
      id: task.id,
      leaseToken: task.leaseToken,
      leaseMs,
      deadline: receivedAt + leaseMs,
      timer: null,
      released: false,
    };
    this.held.set(task.id, held);
    this.schedule(held, receivedAt + leaseMs / 2);
  }

  /** Stops keeping a lease (its outcome was recorded or it was lost). */
  release(id: string): void {
    const held = this.held.get(id);
    if (held) {
      held.released = true;
      if (held.timer !== null) {
        this.clock.clearTimer(held.timer);
      }
      this.held.delete(id);
    }
  }

  /** When the lease ends on the local clock, or 0 if it is not held. */
  deadlineOf(id: string): number {
    return this.held.get(id)?.deadline ?? 0;
  }

  /** How many leases are kept. */
  get size(): number {
    return this.held.size;
  }

  /** Releases every lease (the agent is stopping). */
  releaseAll(): void {
    for (const id of [...this.held.keys()]) {
      this.release(id);
    }
  }

  private schedule(held: Held, at: number): void {
    held.timer = this.clock.setTimer(() => void this.renew(held), at - this.clock.now());
  }

  private async renew(held: Held): Promise<void> {
    held.timer = null;
    if (held.released) {
      return;
    }
    const sentAt = this.clock.now();
    try {
      await this.extend(held.id, held.leaseToken, Math.round(held.leaseMs));
      if (held.released) {
        return;
      }
      held.deadline = Math.max(held.deadline, sentAt + held.leaseMs);
      this.schedule(held, sentAt + held.leaseMs / 2);
    } catch (error) {
      if (held.released) {
        return;
      }
      if (isConflict(error, "already_terminal")) {
        return; // the outcome is being recorded; nothing left to keep
      }
      if (isTransient(error)) {
        const now = this.clock.now();
        if (now < held.deadline) {
          // Try again a few times before the lease would run out.
          this.schedule(held, now + Math.min(1000, Math.max(100, (held.deadline - now) / 4)));
          return;
        }
        this.lose(held, "the lease ran out while Meridian could not be reached");
        return;
      }
      this.lose(held, error instanceof MeridianError ? (error.reason ?? error.code) : String(error));
    }
  }

  private lose(held: Held, reason: string): void {
    this.release(held.id);
    this.onLost(held.id, reason);
  }
}

function clamp(value: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, Math.round(value)));
}
