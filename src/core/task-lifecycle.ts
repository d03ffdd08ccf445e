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

/** Statuses a task may be retried from (`POST /v1/tasks/{id}/retry`). */
export const RETRYABLE_STATUSES: readonly TaskStatus[] = ["failed", "canceled"];

/**
 * How long a reroute's reservation (a finished task's `retriedAs` naming a task not yet created in
 * its new region) holds before another retry may take it over: a reroute that crashed between the
 * two steps must not leave the task impossible to retry. Far longer than a reroute takes (two calls).
 */
export const RETRY_RESERVATION_MS = 30_000;

/** The part of a task a retry reads. */
export interface RetryState {
  status: TaskStatus;
  retriedAs: string | null;
  updatedAt: number;
}

/**
 * What a retry claims: the task it expects the finished task to name as its successor (null: none;
 * a reroute re-pointing its own reservation names it), and whether it takes over a reservation
 * left by another retry (the caller found that successor missing).
 */
export interface RetryClaim {
  successor: string | null;
  takeOver: boolean;
}

/**
 * Why a task may not be retried now, or null. `already_retried`: a reroute moved it (or is moving
 * it) to another region, under the id in `retriedAs` — retry that one; a reservation whose task was
 * never created may be taken over once RETRY_RESERVATION_MS has passed. `not_terminal`: only a failed
 * or canceled task is retried (a succeeded one has its outcome; a live one is still running).
 */
export function retryRefusal(
  task: RetryState,
  claim: RetryClaim,
  now: number,
): "already_retried" | "not_terminal" | null {
  if (task.retriedAs !== claim.successor) {
    return "already_retried";
  }
  if (claim.takeOver && task.retriedAs !== null && now - task.updatedAt < RETRY_RESERVATION_MS) {
    return "already_retried";
  }
  if (!RETRYABLE_STATUSES.includes(task.status)) {
    return "not_terminal";
  }
  return null;
}

/**
 * A retried task: runnable now with a fresh attempt budget (attempts from 0). `lastError` is kept
 * (why it failed, until an attempt of the replay says otherwise); the lease is gone.
 */
export function replay<T extends TaskState>(task: T, now: number): T {
  return {
    ...task,
    status: "queued",
    attempts: 0,
    runAt: now,
    nodeId: null,
    leaseToken: null,
    leaseExpiresAt: null,
  };
}
