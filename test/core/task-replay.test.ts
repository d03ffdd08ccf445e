import { describe, expect, it } from "vitest";
import {
  RETRY_RESERVATION_MS,
  replay,
  retryRefusal,
  TASK_STATUSES,
  type TaskState,
} from "../../src/core/task-lifecycle";

const fresh = { successor: null, takeOver: false };

describe("retry decisions (POST /v1/tasks/{id}/retry)", () => {
  it.each(TASK_STATUSES)("a %s task", (status) => {
    const refusal = retryRefusal({ status, retriedAs: null, updatedAt: 0 }, fresh, 1);
    expect(refusal).toBe(status === "failed" || status === "canceled" ? null : "not_terminal");
  });

  it("refuses a task a reroute moved (or is moving), unless the claim names that move", () => {
    const moved = { status: "failed" as const, retriedAs: "t-new", updatedAt: 1000 };
    expect(retryRefusal(moved, fresh, 1000)).toBe("already_retried");
    // The reroute that reserved it re-points or releases its own reservation.
    expect(retryRefusal(moved, { successor: "t-new", takeOver: false }, 1000)).toBeNull();
    // Someone else's reservation is taken over only once it is stale (its task was never created).
    expect(retryRefusal(moved, { successor: "t-new", takeOver: true }, 1000 + RETRY_RESERVATION_MS - 1)).toBe(
      "already_retried",
    );
    expect(
      retryRefusal(moved, { successor: "t-new", takeOver: true }, 1000 + RETRY_RESERVATION_MS),
    ).toBeNull();
    // A claim on a reservation that has moved on meanwhile loses.
    expect(retryRefusal(moved, { successor: "t-other", takeOver: true }, 1e9)).toBe("already_retried");
  });

  it("replays with a fresh attempt budget, runnable now, the lease gone and the last error kept", () => {
    const failed: TaskState = {
      status: "failed",
      attempts: 3,
      maxAttempts: 3,
      runAt: 10,
      nodeId: "node-1",
      leaseToken: "l-1",
      leaseExpiresAt: 20,
      lastError: "boom",
    };
    expect(replay(failed, 500)).toEqual({
      status: "queued",
      attempts: 0,
      maxAttempts: 3,
      runAt: 500,
      nodeId: null,
      leaseToken: null,
      leaseExpiresAt: null,
      lastError: "boom",
    });
  });
});
