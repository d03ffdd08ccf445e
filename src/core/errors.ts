/** The contract's error codes, with the HTTP status each one is answered with. */
export const ERROR_STATUS = {
  invalid_request: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  payload_too_large: 413,
  rate_limited: 429,
  internal: 500,
  no_healthy_region: 503,
  unavailable: 503,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

/** Every error code, for the zod schema of the error shape (defined once, here). */
export const ERROR_CODES = Object.keys(ERROR_STATUS) as [ErrorCode, ...ErrorCode[]];

/** `error` of the contract's error shape: `{"error": {code, message, reason?, issues?}}`. */
export interface ErrorBody {
  code: ErrorCode;
  message: string;
  /** Why a 409 happened: `lease_lost`, `not_leader`, `already_terminal`, `idempotency_mismatch`, `node_dead`, ... */
  reason?: string;
  issues?: { path: string; message: string }[];
  /** Seconds, for 429. */
  retryAfter?: number;
}

/**
 * What every coordinator RPC returns. Errors cross the RPC boundary as data, not exceptions, so the
 * Worker gets the code and reason intact (thrown errors lose their custom fields on the way).
 */
export type Result<T> = { ok: true; value: T } | { ok: false; error: ErrorBody };

export function ok<T>(value: T): Result<T> {
  return { ok: true, value };
}

export function fail(code: ErrorCode, message: string, reason?: string): { ok: false; error: ErrorBody } {
  return { ok: false, error: reason === undefined ? { code, message } : { code, message, reason } };
}

/** An error carrying the contract's shape; thrown inside the coordinator and the Worker, caught at their edges. */
export class ApiError extends Error {
  constructor(readonly body: ErrorBody) {
    super(body.message);
    this.name = "ApiError";
  }

  get status(): number {
    return ERROR_STATUS[this.body.code];
  }

  static of(code: ErrorCode, message: string, reason?: string): ApiError {
    return new ApiError(fail(code, message, reason).error);
  }
}
