/**
 * Frames a hostile or broken node sends on its channel, each with the answer the shard owes it
 * (API-v2 §4). Pure: a seeded Prng and the ids of the world under test in, cases out, so a failing
 * case is replayed from its seed.
 */
import { MAX_NODE_FRAME_BYTES } from "../../src/schemas/channel";
import type { Prng } from "./prng";

/** What a refused frame must get back. */
export type Expected =
  /** A strike: an `error` frame with code `invalid_request` (and `ref` when the frame had a usable one). */
  | { strike: true; ref?: string; message?: RegExp }
  /** A valid request refused on its merits: a reply of `op` with `ref`, and each refusal's code. */
  | { strike: false; op: "reported" | "error"; ref: string; code: string };

export interface FuzzCase {
  kind: FuzzKind;
  data: string | ArrayBuffer;
  expected: Expected;
}

export const FUZZ_KINDS = [
  "malformed",
  "not_a_frame",
  "unknown_op",
  "bad_field",
  "huge_ascii",
  "huge_multibyte",
  "binary",
  "wrong_node",
] as const;
export type FuzzKind = (typeof FUZZ_KINDS)[number];

/** The world a case may name: another token's node's lease, and ids that do not exist. */
export interface FuzzWorld {
  /** A task leased to a node of another token, with its lease token. */
  foreign: { id: string; leaseToken: string };
}

/** The ref the shard echoes: a string of 1 to 64 characters on a JSON object, else none. */
export function usableRef(value: unknown): string | undefined {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return undefined;
  }
  const ref = (value as { ref?: unknown }).ref;
  return typeof ref === "string" && ref.length >= 1 && ref.length <= 64 ? ref : undefined;
}

const strike = (frame: unknown): Expected => {
  const ref = usableRef(frame);
  return ref === undefined ? { strike: true } : { strike: true, ref };
};

function refOf(p: Prng): string {
  return `r${p.int(0, 1_000_000)}`;
}

/** A valid frame of each op a node may send (the base the field mutations start from). */
function template(op: string, p: Prng, world: FuzzWorld): Record<string, unknown> {
  switch (op) {
    case "credit":
      return { op, n: p.int(0, 10) };
    case "report":
      return {
        op,
        ref: refOf(p),
        reports: [{ id: world.foreign.id, leaseToken: world.foreign.leaseToken, outcome: "succeeded" }],
      };
    case "extend":
      return { op, ref: refOf(p), id: world.foreign.id, leaseToken: "l-x", extendMs: 5000 };
    case "heartbeat":
      return { op, load: 0.5 };
    case "campaign":
    case "resign":
      return { op, ref: refOf(p), election: "db" };
    case "observe":
      return { op, election: "db" };
    default:
      return { op }; // drain, ping
  }
}

/** Values that make a field invalid, by field: a wrong type or a value just out of range. */
const BAD_VALUES: Record<string, readonly unknown[]> = {
  n: [-1, 10_001, 1.5, "3", null, true, []],
  ref: ["", "r".repeat(65), 7, null, {}],
  reports: [[], new Array(101).fill(null), [1], "x", [{ id: "t-x", leaseToken: "l", outcome: "maybe" }]],
  id: ["", "has space", "x".repeat(201), 3, null],
  leaseToken: ["", "l".repeat(201), 5, null],
  extendMs: [999, 3_600_001, 1000.5, "5000", null],
  load: [-0.01, 1.01, "0.5", null, Number.NaN],
  election: ["", "UPPER", "a b", "x".repeat(129), 1, null],
};
/** Fields a frame of each op cannot do without. */
const REQUIRED: Record<string, readonly string[]> = {
  credit: ["n"],
  report: ["ref", "reports"],
  extend: ["ref", "id", "leaseToken", "extendMs"],
  campaign: ["ref", "election"],
  resign: ["ref", "election"],
  observe: ["election"],
};
const OPS = ["credit", "report", "extend", "heartbeat", "campaign", "resign", "observe", "drain", "ping"];

/** A frame of a known op made invalid in one way: a bad value, a field too many, or one missing. */
function badField(p: Prng, world: FuzzWorld): Record<string, unknown> {
  const op = p.pick(OPS);
  const frame = template(op, p, world);
  const fields = Object.keys(frame).filter((f) => f !== "op" && BAD_VALUES[f] !== undefined);
  const how = p.weighted({ value: fields.length > 0 ? 6 : 0, extra: 2, missing: REQUIRED[op] ? 2 : 0 });
  if (how === "value") {
    const field = p.pick(fields);
    frame[field] = p.pick(BAD_VALUES[field]!);
  } else if (how === "extra") {
    frame[p.pick(["extra", "nodeId", "tokenId", "__proto__x"])] = p.pick([1, "x", null, true]);
  } else {
    delete frame[p.pick(REQUIRED[op]!)];
  }
  return frame;
}

const MALFORMED = [
  "{not json",
  "",
  " ",
  '{"op":"credit","n":}',
  '{"op":"report","ref":"m1","reports":[',
  "{'op':'ping'}",
  '{"op":"ping"}}',
  "undefined",
  "NaN",
  "\u0000\u0001",
  '{"op":"credit","n":1,}',
];

/** Valid JSON that is not a frame: not an object, no op, or an op that is not a string. */
function notAFrame(p: Prng): unknown {
  return p.pick<unknown>([
    null,
    42,
    "credit",
    true,
    [{ op: "credit", n: 1 }],
    {},
    { n: 1 },
    { ref: refOf(p) },
    { op: null, ref: refOf(p) },
    { op: 3 },
    { op: ["credit"], n: 1 },
    { op: { toString: "credit" } },
  ]);
}

/**
 * An over-large frame, otherwise a valid report: ASCII past the byte limit, or 90 000 three-byte
 * characters (~270 KB in UTF-8, while the string's length is under the limit).
 */
function huge(p: Prng, world: FuzzWorld, multibyte: boolean): string {
  const padding = multibyte ? "€".repeat(90_000) : "x".repeat(MAX_NODE_FRAME_BYTES + p.int(1, 20_000));
  return JSON.stringify({
    op: "report",
    ref: "big",
    reports: [{ id: world.foreign.id, leaseToken: "l-forged", outcome: "succeeded", result: padding }],
  });
}

function binary(p: Prng): ArrayBuffer {
  const frame = p.bool()
    ? new TextEncoder().encode(JSON.stringify({ op: "credit", n: 1 }))
    : Uint8Array.from({ length: p.int(1, 64) }, () => p.int(0, 255));
  return frame.buffer.slice(frame.byteOffset, frame.byteOffset + frame.byteLength) as ArrayBuffer;
}

/** A valid request about work the node does not hold: another token's lease, a forged lease, no such task. */
function wrongNode(p: Prng, world: FuzzWorld): FuzzCase {
  const ref = refOf(p);
  const unknownTask = `t-${p.int(0, 1e9).toString(36)}-eu-west`;
  const variant = p.pick([
    // another token's node holds it: its lease token, presented by this node
    { id: world.foreign.id, leaseToken: world.foreign.leaseToken, code: "forbidden" },
    // a lease token that is not the task's
    { id: world.foreign.id, leaseToken: `l-${p.int(0, 1e9)}`, code: "conflict" },
    // a task that does not exist
    { id: unknownTask, leaseToken: world.foreign.leaseToken, code: "not_found" },
  ]);
  if (p.bool()) {
    const outcome = p.pick(["succeeded", "failed"] as const);
    const item = { id: variant.id, leaseToken: variant.leaseToken, outcome, retryable: p.bool(), error: "e" };
    return {
      kind: "wrong_node",
      data: JSON.stringify({ op: "report", ref, reports: [item] }),
      expected: { strike: false, op: "reported", ref, code: variant.code },
    };
  }
  const frame = {
    op: "extend",
    ref,
    id: variant.id,
    leaseToken: variant.leaseToken,
    extendMs: p.int(1000, 60_000),
  };
  return {
    kind: "wrong_node",
    data: JSON.stringify(frame),
    expected: { strike: false, op: "error", ref, code: variant.code },
  };
}

/** One case of a kind (huge frames are rarer: each is ~270 KB). */
export function fuzzCase(p: Prng, world: FuzzWorld): FuzzCase {
  const kind = p.weighted<FuzzKind>({
    malformed: 3,
    not_a_frame: 3,
    unknown_op: 2,
    bad_field: 8,
    huge_ascii: 0.4,
    huge_multibyte: 0.4,
    binary: 1,
    wrong_node: 5,
  });
  switch (kind) {
    case "malformed":
      return { kind, data: p.pick(MALFORMED), expected: { strike: true } };
    case "not_a_frame": {
      const value = notAFrame(p);
      return { kind, data: JSON.stringify(value), expected: strike(value) };
    }
    case "unknown_op": {
      const frame = {
        op: p.pick(["launch", "CREDIT", "Ping", "", "tasks", "welcome", "error"]),
        ref: refOf(p),
      };
      return { kind, data: JSON.stringify(frame), expected: strike(frame) };
    }
    case "bad_field": {
      const frame = badField(p, world);
      return { kind, data: JSON.stringify(frame), expected: strike(frame) };
    }
    case "huge_ascii":
    case "huge_multibyte":
      return {
        kind,
        data: huge(p, world, kind === "huge_multibyte"),
        expected: { strike: true, message: /at most \d+ bytes/ },
      };
    case "binary":
      return { kind, data: binary(p), expected: { strike: true, message: /JSON text/ } };
    case "wrong_node":
      return wrongNode(p, world);
  }
}
