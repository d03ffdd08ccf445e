import { type BackoffOptions, retryDelayMs } from "./backoff";

/** A task's statuses as the contract shows them (the one definition; the zod schema derives from it). */
export const TASK_STATUSES = ["scheduled", "queued", "leased", "succeeded", "failed", "canceled"] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];

export const TERMINAL_STATUSES: readonly TaskStatus[] = ["succeeded", "failed", "canceled"];

export function isTerminal(status: TaskStatus): boolean {
  return TERMINAL_STATUSES.includes(status);
}

/** The part of a task that its lifecycle reads and changes. */
export interface TaskState {
  status: TaskStatus;
  attempts: number;
  maxAttempts: number;
  runAt: number;
  nodeId: string | null;
  leaseToken: string | null;
  leaseExpiresAt: number | null;
  lastError: string | null;
}

/** Why a lease-carrying call is refused. */
export type LeaseRefusal = "lease_lost" | "already_terminal";

/**
 * Whether a call carrying `leaseToken` may act on the task at `now`. A lease is valid while the task
 * is leased under that exact token and the lease has not run out (even if the alarm that expires it
 * has not fired yet): nothing a stale holder sends is recorded.
 */
export function checkLease(task: TaskState, leaseToken: string, now: number): LeaseRefusal | null {
  if (task.leaseToken !== leaseToken) {
    return "lease_lost";
  }
  if (task.status !== "leased") {
    // Only a succeeded task keeps its last token: the holder is repeating itself.
    return isTerminal(task.status) ? "already_terminal" : "lease_lost";
  }
  if (task.leaseExpiresAt === null || task.leaseExpiresAt <= now) {
    return "lease_lost";
  }
  return null;
}

/** The status a task waiting to run has at `now`. */
export function waitingStatus(runAt: number, now: number): "scheduled" | "queued" {
  return runAt > now ? "scheduled" : "queued";
}

/** Grants a lease: the attempt counter grows when an attempt starts. */
export function lease<T extends TaskState>(
  task: T,
  nodeId: string,
  leaseToken: string,
  expiresAt: number,
): T {
  return {
    ...task,
    status: "leased",
    attempts: task.attempts + 1,
    nodeId,
    leaseToken,
    leaseExpiresAt: expiresAt,
  };
}

/**
 * After a failed attempt (a `fail` call, an expired lease, or its node dying): back to the queue
 * after a back-off with jitter, or `failed` when attempts are used up or the error is not retryable.
 */
export function afterFailedAttempt<T extends TaskState>(
  task: T,
  error: string,
  retryable: boolean,
  now: number,
  random: () => number,
  backoff?: BackoffOptions,
): T {
  const released = { ...task, nodeId: null, leaseToken: null, leaseExpiresAt: null, lastError: error };
  if (!retryable || task.attempts >= task.maxAttempts) {
    return { ...released, status: "failed" };
  }
  const runAt = now + retryDelayMs(task.attempts, random, backoff);
  return { ...released, status: "scheduled", runAt };
}

/** A successful attempt. The lease token stays on the row so a repeated call can be told from a stale one. */
export function succeed<T extends TaskState>(task: T): T {
  return { ...task, status: "succeeded", leaseExpiresAt: null };
}

/** Cancels a task that has not ended; returns null when it already has. */
export function cancel<T extends TaskState>(task: T): T | null {
  if (isTerminal(task.status)) {
    return null;
  }
  return { ...task, status: "canceled", leaseToken: null, leaseExpiresAt: null };
}
