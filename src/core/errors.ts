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
  misconfigured: 500,
  no_healthy_region: 503,
  unavailable: 503,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

/** What an error code means to a user, and what to do about it (docs/TROUBLESHOOTING.md is made from this). */
export const ERROR_HELP: Record<ErrorCode, { means: string; action: string }> = {
  invalid_request: {
    means:
      "The request does not match the API: a field is missing, of the wrong type or out of range (`issues` lists each one), or the body is not JSON.",
    action: "Fix the request as `issues` says; `/openapi.json` and `/docs` describe every route.",
  },
  unauthorized: {
    means: "No bearer token, or one Meridian does not know (never minted, or revoked).",
    action:
      "Send `Authorization: Bearer <token>`; mint a token with `POST /v1/tokens` (admin). A revoked token stops everywhere within 2 s.",
  },
  forbidden: {
    means:
      "The token's role may not do this (e.g. a reader submitting), or the node, lease or election candidacy belongs to another token.",
    action:
      "Use a token of the right role (README, Roles); a node acts only on nodes, leases and candidacies of its own token (an admin of the tenant may resign any candidacy).",
  },
  not_found: {
    means: "No such task, node, region or election (or it is in another region's shard than its id names).",
    action: "Check the id; task and node ids name their region (`t-...-<region>`, `node-...-<region>`).",
  },
  conflict: {
    means: "The request is valid but the state does not allow it now; `reason` says why.",
    action: "See the reason below.",
  },
  payload_too_large: {
    means:
      "The body is over 256 KiB (a node channel refuses frames over 256 KiB with an `error` frame instead).",
    action: "Send smaller payloads (store large data elsewhere and pass a reference) or split the batch.",
  },
  rate_limited: {
    means:
      "The token sent more than `RATE_LIMIT_PER_SEC` requests a second (burst `RATE_LIMIT_BURST`) to one object, or a token holds too many channels.",
    action:
      "Wait `Retry-After` seconds; batch submits (`POST /v1/tasks:batch`) and reports; raise the limits in `wrangler.toml` if the load is legitimate.",
  },
  internal: {
    means: "A bug or an unexpected runtime failure; the answer carries a `requestId`.",
    action:
      "Retry (idempotency keys make submits safe to retry); report it with the `requestId` and the log line that names it.",
  },
  misconfigured: {
    means:
      "A setting in wrangler.toml's `[vars]`, `.dev.vars` or the secrets cannot be used (the message names it); every request is answered so until it is fixed.",
    action:
      "Fix the setting (docs/CONFIGURATION.md lists each one with its bounds) and restart `wrangler dev`, or deploy again.",
  },
  no_healthy_region: {
    means:
      "No region could take the task: none has a healthy node (or every one is full), or the pinned region has none.",
    action:
      "Start an agent in a region (`meridian-agent --region ...`); `GET /v1/regions` shows each region's health. Nodes that stop heartbeating are declared dead after `NODE_DEAD_AFTER_MS`.",
  },
  unavailable: {
    means: "Meridian cannot serve the request now; `reason` says why.",
    action: "See the reason below.",
  },
};

/** The reasons an error may carry: its code, what it means and what to do (one source: the docs and the types read it). */
export const ERROR_REASONS = {
  lease_lost: {
    code: "conflict",
    means:
      "The lease token is not the task's current lease: it expired (the task was handed to another node), was extended by no one in time, or the node was declared dead.",
    action:
      "Drop the outcome: the task runs or ran elsewhere. Extend long tasks before `leaseExpiresAt` (the SDK does), and make handlers idempotent.",
  },
  already_terminal: {
    code: "conflict",
    means: "The task has already succeeded, failed or been canceled: its one outcome is recorded.",
    action:
      "Nothing to do; read it with `GET /v1/tasks/{id}`. `POST /v1/tasks/{id}/retry` runs a failed or canceled task again.",
  },
  node_dead: {
    code: "conflict",
    means:
      "The node was declared dead (silent for `NODE_DEAD_AFTER_MS`, its channel closed for longer than `CHANNEL_GRACE_MS`, or its token revoked); its leases went back to the queue and its candidacies ended.",
    action: "Register again (`POST /v1/nodes`): a dead node id is never reused. The SDK does this by itself.",
  },
  stale_term: {
    code: "conflict",
    means:
      "The fencing term is not the election's current term: leadership moved on (terms are timestamps that only grow).",
    action: "Stop acting as leader; read `GET /v1/elections/{name}` for the current leader and term.",
  },
  too_many_candidates: {
    code: "conflict",
    means: "The election already has 1000 live candidates.",
    action: "Resign candidates that no longer need to lead, or use more elections.",
  },
  region_has_nodes: {
    code: "conflict",
    means: "The region still has live nodes, so it cannot be deleted.",
    action: "Drain and deregister its nodes first (`POST /v1/nodes/{id}/drain`, `DELETE /v1/nodes/{id}`).",
  },
  region_has_tasks: {
    code: "conflict",
    means: "The region still holds unfinished tasks, so it cannot be deleted.",
    action: "Let them finish or cancel them, then delete the region.",
  },
  not_terminal: {
    code: "conflict",
    means:
      "`POST /v1/tasks/{id}/retry` replays only a failed or canceled task; this one is still scheduled, queued or leased, or it succeeded.",
    action:
      "Wait for it to end (`GET /v1/tasks/{id}`), or cancel it first (`POST /v1/tasks/{id}/cancel`); a succeeded task is submitted anew instead.",
  },
  already_retried: {
    code: "conflict",
    means:
      "A retry with `reroute: true` moved this task to another region as a new task (`retriedAs` names it), or is moving it right now; the old task stays as it ended.",
    action:
      "Retry the task named by `retriedAs` instead. A move that never completed is released after 30 s, and the task can be retried again.",
  },
  region_has_schedules: {
    code: "conflict",
    means: "The region's shard keeps schedules (their home region), so it cannot be deleted.",
    action: "Delete those schedules first (`GET /v1/schedules` shows each one's `region`), then the region.",
  },
  task_not_finished: {
    code: "conflict",
    means:
      "`DELETE /v1/tasks/{id}` erases only finished tasks (succeeded, failed or canceled); this one is still scheduled, queued or leased.",
    action: "Cancel it first (`POST /v1/tasks/{id}/cancel`), then erase it.",
  },
  idempotency_mismatch: {
    code: "conflict",
    means: "The idempotency key was used before (by this token) with a different body.",
    action: "Use a new key for a different task; the same key must always carry the same body.",
  },
  idempotency_in_progress: {
    code: "conflict",
    means: "Another submit with the same idempotency key is being placed at this moment.",
    action: "Retry shortly: the repeat then returns the task the first submit created.",
  },
  quota_exceeded: {
    code: "conflict",
    means:
      "The tenant holds as many of these as its quota allows (API-v2 §8): stored tasks in this region (TENANT_MAX_TASKS), live nodes in this region (TENANT_MAX_NODES), elections (TENANT_MAX_ELECTIONS), open event streams (TENANT_MAX_STREAMS), open election observers (TENANT_MAX_OBSERVERS), or node channels in this region (TENANT_MAX_CHANNELS).",
    action:
      "Free some (erase finished tasks, deregister nodes, let idle elections expire, close streams, observers or channels the tenant no longer reads), or raise the setting. The message names which quota.",
  },
  legacy_state: {
    code: "unavailable",
    means:
      "The local state (`.wrangler/state`) was written by the single-object Meridian and holds nodes or tasks that the region shards cannot adopt.",
    action: "Finish or drop that work, then `npm run reset-state` (deletes local state).",
  },
} as const satisfies Record<string, { code: ErrorCode; means: string; action: string }>;

export type ErrorReason = keyof typeof ERROR_REASONS;

/** Every reason, for the zod schema of the error shape. */
export const ERROR_REASON_LIST = Object.keys(ERROR_REASONS) as [ErrorReason, ...ErrorReason[]];

/** Every error code, for the zod schema of the error shape (defined once, here). */
export const ERROR_CODES = Object.keys(ERROR_STATUS) as [ErrorCode, ...ErrorCode[]];

/** `error` of the contract's error shape: `{"error": {code, message, reason?, issues?}}`. */
export interface ErrorBody {
  code: ErrorCode;
  message: string;
  /** Why it happened, when the code alone does not say: one of ERROR_REASONS. */
  reason?: ErrorReason;
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

export function fail(
  code: ErrorCode,
  message: string,
  reason?: ErrorReason,
): { ok: false; error: ErrorBody } {
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

  static of(code: ErrorCode, message: string, reason?: ErrorReason): ApiError {
    return new ApiError(fail(code, message, reason).error);
  }
}
