/**
 * The node channel's frames as the SDK sees them (API-v2 §4). The types come from the shared zod
 * schemas (`src/schemas/channel.ts`) as type-only imports; what the shard sends is checked here by
 * hand, so the SDK carries no zod at run time (test/sdk/channel-frames.test.ts checks that this
 * check and `ShardFrame` agree).
 */
import type { NodeFrame, ShardFrame } from "../schemas/channel.ts";
import { type ApiErrorBody, MeridianError } from "./errors.ts";

export type { NodeFrame, ShardFrame };
export type WelcomeFrame = Extract<ShardFrame, { op: "welcome" }>;
export type LeaderFrame = Extract<ShardFrame, { op: "leader" }>;
/** What the shard answered for one outcome of a `report`. */
export type ReportResult = Extract<ShardFrame, { op: "reported" }>["results"][number];

/** The largest frame a node may send (`MAX_NODE_FRAME_BYTES` of the schemas). */
export const MAX_FRAME_BYTES = 256 * 1024;

const MINTED_ID = /^[A-Za-z0-9_.:-]{1,200}$/;
const IDENTIFIER = /^[a-z0-9][a-z0-9._:-]{0,127}$/;

/** The size of `text` on the wire (UTF-8 bytes). */
export function utf8Bytes(text: string): number {
  return new TextEncoder().encode(text).byteLength;
}

/**
 * The HTTP status of each error code: `ERROR_STATUS` of src/core/errors.ts, which Node cannot load
 * from source (test/sdk/channel-frames.test.ts checks the two agree).
 */
export const STATUS_OF_CODE: Readonly<Record<string, number>> = {
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
};

/** An `error` frame's detail as the error the SDK throws (its status is the code's HTTP status). */
export function channelError(detail: ApiErrorBody): MeridianError {
  return new MeridianError(STATUS_OF_CODE[detail.code] ?? 400, detail);
}

/** A frame from the shard, or why it is not one (to log; such a frame is ignored). */
export function parseShardFrame(text: string): ShardFrame | { invalid: string } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { invalid: "not JSON" };
  }
  if (!isRecord(value)) {
    return { invalid: "not a JSON object" };
  }
  const problem = checkFrame(value);
  return problem === null ? (value as ShardFrame) : { invalid: `${String(value.op)}: ${problem}` };
}

type Record_ = Record<string, unknown>;
/** Whether one field's value is valid. */
type Check = (value: unknown) => boolean;

const isString: Check = (v) => typeof v === "string";
const isBoolean: Check = (v) => typeof v === "boolean";
const isInt: Check = (v) => Number.isSafeInteger(v);
const isRef: Check = (v) => typeof v === "string" && v.length >= 1 && v.length <= 64;
const isMintedId: Check = (v) => typeof v === "string" && MINTED_ID.test(v);
const isIdentifier: Check = (v) => typeof v === "string" && IDENTIFIER.test(v);
const optional =
  (check: Check): Check =>
  (v) =>
    v === undefined || check(v);
const nullable =
  (check: Check): Check =>
  (v) =>
    v === null || check(v);

function isRecord(value: unknown): value is Record_ {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The first field of `value` that fails its check, or null. */
function fields(value: Record_, checks: Record<string, Check>): string | null {
  for (const [name, check] of Object.entries(checks)) {
    if (!check(value[name])) {
      return `bad or missing ${name}`;
    }
  }
  return null;
}

const isErrorDetail: Check = (v) =>
  isRecord(v) && fields(v, { code: isString, message: isString, reason: optional(isString) }) === null;

const isLeasedTask: Check = (v) =>
  isRecord(v) &&
  "payload" in v && // any JSON, but present (as the schema wants)
  fields(v, {
    id: isMintedId,
    type: isIdentifier,
    attempt: isInt,
    leaseToken: isString,
    leaseExpiresAt: isInt,
  }) === null;

const isReportResult: Check = (v) =>
  isRecord(v) &&
  isString(v.id) &&
  ((v.ok === true && isString(v.status)) || (v.ok === false && isErrorDetail(v.error)));

function arrayOf(check: Check): Check {
  return (v) => Array.isArray(v) && v.every(check);
}

function checkFrame(frame: Record_): string | null {
  switch (frame.op) {
    case "pong":
      return null;
    case "welcome":
      return fields(frame, {
        nodeId: isMintedId,
        region: isIdentifier,
        heartbeatIntervalMs: isInt,
        graceMs: optional(isInt), // older servers: the grace period is one heartbeat interval
        resumed: isBoolean,
      });
    case "tasks":
      return fields(frame, { tasks: arrayOf(isLeasedTask) });
    case "reported":
      return fields(frame, { ref: isRef, results: arrayOf(isReportResult) });
    case "extended":
      return fields(frame, { ref: isRef, leaseExpiresAt: isInt });
    case "leader":
      return fields(frame, {
        ref: optional(isRef),
        election: isIdentifier,
        leader: nullable(isString),
        term: isInt,
        isLeader: isBoolean,
        position: nullable(isInt),
      });
    case "resigned":
      return fields(frame, { ref: isRef });
    case "error":
      return fields(frame, { ref: optional(isRef), error: isErrorDetail });
    default:
      return "unknown op";
  }
}
