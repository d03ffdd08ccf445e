/**
 * Errors the SDK throws or recognises. Kept free of imports so that Node can load the SDK straight
 * from its TypeScript sources and a Worker bundle pulls in nothing extra.
 */

/** The contract's error body: `{"error": {code, message, reason?, issues?, requestId?}}`. */
export interface ApiErrorBody {
  code: string;
  message: string;
  reason?: string;
  issues?: { path: string; message: string }[];
  requestId?: string;
}

/** Meridian answered with an error status (4xx or 5xx). */
export class MeridianError extends Error {
  override readonly name = "MeridianError";
  readonly status: number;
  readonly code: string;
  /** Why a 409 happened: `lease_lost`, `node_dead`, `already_terminal`, ... */
  readonly reason: string | undefined;
  readonly issues: { path: string; message: string }[] | undefined;
  readonly requestId: string | undefined;
  /** From `Retry-After` on a 429 or 503, in milliseconds. */
  readonly retryAfterMs: number | undefined;

  constructor(status: number, body: ApiErrorBody, retryAfterMs?: number) {
    super(`${status} ${body.code}${body.reason ? ` (${body.reason})` : ""}: ${body.message}`);
    this.status = status;
    this.code = body.code;
    this.reason = body.reason;
    this.issues = body.issues;
    this.requestId = body.requestId;
    this.retryAfterMs = retryAfterMs;
  }
}

/** The request never got an HTTP answer (connection refused or reset, DNS, timeout). */
export class TransportError extends Error {
  override readonly name = "TransportError";

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** A node channel could not be opened, or closed before the shard's welcome. */
export class ChannelError extends TransportError {
  /** The close code, when the socket closed with one (1008: refused as abuse; 4001: the node is gone). */
  readonly closeCode: number | null;

  constructor(message: string, closeCode: number | null, options?: { cause?: unknown }) {
    super(message, options);
    this.closeCode = closeCode;
  }
}

/**
 * Thrown by a handler for a failure that retrying cannot fix (bad input, a missing resource): the
 * task fails at once with `retryable: false` instead of being tried again.
 */
export class PermanentError extends Error {
  override readonly name = "PermanentError";
  /** Read by the agent (duck-typed, so an error from another copy of the SDK counts too). */
  readonly retryable = false;
}

/** Whether a handler's error asks not to be retried: a PermanentError or any error with `retryable: false`. */
export function isPermanent(error: unknown): boolean {
  return (
    typeof error === "object" && error !== null && (error as { retryable?: unknown }).retryable === false
  );
}

/** Whether a failed call may succeed if repeated later: no answer, 429, or a 5xx. */
export function isTransient(error: unknown): boolean {
  if (error instanceof TransportError) {
    return true;
  }
  return error instanceof MeridianError && (error.status === 429 || error.status >= 500);
}

/** A 409 with the given reason (e.g. `node_dead`, `lease_lost`). */
export function isConflict(error: unknown, reason: string): boolean {
  return error instanceof MeridianError && error.status === 409 && error.reason === reason;
}

/** The message to record for a handler's failure. */
export function errorMessage(error: unknown): string {
  if (error instanceof Error) {
    return error.message || error.name;
  }
  if (typeof error === "string") {
    return error;
  }
  try {
    return JSON.stringify(error) ?? String(error);
  } catch {
    return String(error);
  }
}
